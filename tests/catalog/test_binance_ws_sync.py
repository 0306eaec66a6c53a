"""``catalog.loaders.binance_ws.sync.DepthSync`` fed hand-built messages: no files, no Nautilus.

Binance, "How to manage a local order book correctly": spot chains ``U == previous u + 1``,
futures ``pu == previous u``; the first diff after a snapshot must straddle its ``lastUpdateId``.
"""

from __future__ import annotations

from catalog.loaders.binance_ws.sync import (
    Applied,
    DepthDiff,
    DepthSnapshot,
    DepthSync,
    Gap,
    Rejected,
)
from catalog.quality import Issue

BID, ASK = True, False


def lv(is_bid: bool, ticks: int, size: float) -> tuple:
    return (is_bid, ticks, size, None, None)


def snapshot(sid: int, bids=((100, 1.0),), asks=((101, 1.0),), line: int = 0) -> DepthSnapshot:
    levels = [lv(BID, p, s) for p, s in bids] + [lv(ASK, p, s) for p, s in asks]
    return DepthSnapshot(sid, levels, line=line)


def diff(first: int, final: int, *levels: tuple, pu: int | None = None, line: int = 0) -> DepthDiff:
    return DepthDiff(first, final, pu, list(levels), line=line)


def kinds(outcomes: list) -> list:
    """Outcomes as comparable tuples: ("applied", id) / ("rejected", issue, id) / ("gap", line)."""
    out = []
    for o in outcomes:
        if isinstance(o, Applied):
            item = o.item
            out.append(("applied", getattr(item, "final_id", getattr(item, "last_update_id", None))))
        elif isinstance(o, Rejected):
            item = o.item
            out.append(("rejected", o.issue,
                        getattr(item, "final_id", getattr(item, "last_update_id", None))))
        else:
            assert isinstance(o, Gap)
            out.append(("gap", o.line))
    return out


def test_spot_in_order_after_snapshot() -> None:
    sync = DepthSync(futures=False)
    assert kinds(sync.on_snapshot(snapshot(100))) == [("applied", 100)]
    assert sync.state == "await" and sync.live
    assert kinds(sync.on_diff(diff(99, 103, lv(BID, 100, 2.0)))) == [("applied", 103)]  # straddles
    assert kinds(sync.on_diff(diff(104, 106, lv(ASK, 102, 3.0)))) == [("applied", 106)]
    assert sync.state == "synced" and sync.last_final_id == 106
    assert sync.book.bids == {100: 2.0} and sync.book.asks == {101: 1.0, 102: 3.0}
    sync.on_diff(diff(107, 107, lv(BID, 100, 0.0)))  # size 0 removes the level
    assert sync.book.bids == {}


def test_diffs_before_the_snapshot_are_buffered_then_replayed() -> None:
    sync = DepthSync(futures=False)
    for first, final in ((90, 95), (96, 100), (101, 104), (105, 105)):
        assert sync.on_diff(diff(first, final, lv(BID, 99, float(final)))) == []
    assert len(sync.pending) == 4 and not sync.live
    out = kinds(sync.on_snapshot(snapshot(100)))
    # spot: u <= lastUpdateId is covered by the snapshot
    assert out == [("applied", 100), ("rejected", Issue.STALE_UPDATE, 95),
                   ("rejected", Issue.STALE_UPDATE, 100), ("applied", 104), ("applied", 105)]
    assert sync.book.bids == {100: 1.0, 99: 105.0} and not sync.pending


def test_spot_first_diff_must_straddle_the_snapshot() -> None:
    sync = DepthSync(futures=False)
    sync.on_snapshot(snapshot(100))
    out = sync.on_diff(diff(103, 105, line=7))  # 101 and 102 are missing
    assert kinds(out) == [("gap", 7)] and "starts at U=103" in out[0].detail
    assert sync.state == "gap" and list(sync.pending)[0].after_gap


def test_gap_then_resync_on_the_next_snapshot() -> None:
    sync = DepthSync(futures=False)
    sync.on_snapshot(snapshot(100))
    sync.on_diff(diff(101, 101))
    out = sync.on_diff(diff(105, 106, line=3))
    assert kinds(out) == [("gap", 3)] and out[0].detail == "depth diff expected U=102, got U=105"
    assert sync.on_diff(diff(107, 108, lv(ASK, 101, 5.0))) == []  # buffered while there is no book
    assert all(d.after_gap for d in sync.pending)
    # the new snapshot covers 106: that diff is UNSYNCED (it waited through the gap), 108 applies
    out = kinds(sync.on_snapshot(snapshot(107, bids=((99, 1.0),))))
    assert out == [("applied", 107), ("rejected", Issue.UNSYNCED, 106), ("applied", 108)]
    assert sync.state == "synced" and sync.book.bids == {99: 1.0} and sync.book.asks == {101: 5.0}


def test_repeat_of_an_applied_diff_is_a_duplicate() -> None:
    sync = DepthSync(futures=False)
    sync.on_snapshot(snapshot(100))
    sync.on_diff(diff(101, 104))
    assert kinds(sync.on_diff(diff(102, 104))) == [("rejected", Issue.DUPLICATE, 104)]
    assert sync.state == "synced" and sync.last_final_id == 104


def test_futures_rules_chain_on_pu() -> None:
    sync = DepthSync(futures=True)
    sync.on_snapshot(snapshot(100))
    # futures: u < lastUpdateId is stale, u == lastUpdateId straddles
    assert kinds(sync.on_diff(diff(95, 99, pu=94))) == [("rejected", Issue.STALE_UPDATE, 99)]
    assert kinds(sync.on_diff(diff(97, 100, pu=96))) == [("applied", 100)]
    assert kinds(sync.on_diff(diff(130, 140, pu=100))) == [("applied", 140)]  # U jumps, pu chains
    out = sync.on_diff(diff(141, 150, pu=139, line=9))
    assert kinds(out) == [("gap", 9)] and out[0].detail == "depth diff expected pu=140, got pu=139"


def test_futures_first_diff_may_chain_on_the_snapshot_id() -> None:
    sync = DepthSync(futures=True)
    sync.on_snapshot(snapshot(100))
    assert kinds(sync.on_diff(diff(105, 110, pu=100))) == [("applied", 110)]


def test_diff_that_crosses_or_locks_the_book_invalidates_it() -> None:
    sync = DepthSync(futures=False)
    sync.on_snapshot(snapshot(100, bids=((100, 1.0),), asks=((101, 1.0), (103, 1.0))))
    out = sync.on_diff(diff(101, 101, lv(BID, 101, 1.0)))
    assert kinds(out) == [("rejected", Issue.LOCKED_BOOK, 101)] and sync.state == "gap"
    sync.on_snapshot(snapshot(200, bids=((100, 1.0),), asks=((101, 1.0), (103, 1.0))))
    out = sync.on_diff(diff(201, 201, lv(BID, 102, 1.0)))
    assert kinds(out) == [("rejected", Issue.CROSSED_BOOK, 201)]
    assert out[0].kind == "depth" and out[0].handling == "dropped; book invalid until next snapshot"


def test_crossed_or_stale_snapshot_is_refused_and_the_book_kept() -> None:
    sync = DepthSync(futures=False)
    sync.on_snapshot(snapshot(100))
    sync.on_diff(diff(101, 105))
    book = sync.book
    out = sync.on_snapshot(snapshot(200, bids=((102, 1.0),), asks=((101, 1.0),)))
    assert kinds(out) == [("rejected", Issue.CROSSED_BOOK, 200)] and out[0].kind == "snapshot"
    out = sync.on_snapshot(snapshot(104))
    assert kinds(out) == [("rejected", Issue.STALE_UPDATE, 104)]
    assert sync.book is book and sync.state == "synced" and sync.last_final_id == 105


def test_unparsable_diff_breaks_a_live_book_only() -> None:
    sync = DepthSync(futures=False)
    assert sync.break_sequence("f", 1, "bad") == []
    sync.on_snapshot(snapshot(100))
    assert sync.break_sequence("f", 2, "bad") == [Gap("f", 2, "bad")] and sync.state == "gap"


def test_buffer_is_bounded_and_finish_drops_what_waits() -> None:
    sync = DepthSync(futures=False, max_pending=2)
    assert sync.on_diff(diff(1, 1)) == [] and sync.on_diff(diff(2, 2)) == []
    assert kinds(sync.on_diff(diff(3, 3))) == [("rejected", Issue.UNSYNCED, 1)]
    assert kinds(sync.finish()) == [("rejected", Issue.UNSYNCED, 2), ("rejected", Issue.UNSYNCED, 3)]
    assert not sync.pending
