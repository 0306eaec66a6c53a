"""Tests of ``catalog.loaders.bitstamp`` on the bundled Bitstamp captures and small synthetic files.

Real data (``bitstamp/`` in PROVENANCE.md): the obAnalytics 2015-05-01 WebSocket log and its R
parse, and the ob-analytics 0.1.0 capture of 2026-05-02 (orders, trades, meta). Each real input
is loaded once per module; the checks replay the deltas in NautilusTrader's own L3 ``OrderBook``.
"""

from __future__ import annotations

import csv
import json
import lzma
from collections import Counter
from pathlib import Path

import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, BookType, RecordFlag
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.ingest import ingest_files
from catalog.loaders.bitstamp import (
    SYNTHETIC_ID_BASE,
    BitstampLoader,
    Fill,
    SideInference,
    detect_kind,
    synthetic_order_id,
)
from catalog.quality import DataQualityError, QualityReport
from catalog.settings import data_dir

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
MS = 1_000_000
LOG = "bitstamp_btcusd_20150501.log.xz"
R_CSV = "bitstamp_btcusd_20150501_orders.csv.xz"
ORDERS = "bitstamp_btcusd_20260502_orders.csv.gz"
TRADES = "bitstamp_btcusd_20260502_trades.csv"
META = "bitstamp_btcusd_20260502_meta.json"
ORDER_KINDS = ("order_created", "order_changed", "order_deleted")


# --- helpers ---------------------------------------------------------------------------------


class Loaded:
    """One loader run: the loader, its report and its output split by type."""

    def __init__(self, files: list[Path], strict: bool = False, **options) -> None:
        self.loader = BitstampLoader(**options)
        self.report = QualityReport(source_format="bitstamp", strict=strict)
        self.data = list(self.loader.iter_data(files, self.report))
        self.deltas = [d for d in self.data if isinstance(d, OrderBookDelta)]
        self.trades = [d for d in self.data if isinstance(d, TradeTick)]
        self.stats = self.loader.stats


def assert_accounting(run: Loaded) -> None:
    """Every row read is kept or dropped for a named reason; every object yielded is counted."""
    report, stats = run.report, run.stats
    for kind, n_read in report.rows_read.items():
        assert n_read == stats.kept[kind] + stats.dropped[kind], kind
    assert sum(stats.dropped.values()) == report.total_dropped
    assert report.rows_written["OrderBookDelta"] == len(run.deltas)
    assert report.rows_written["TradeTick"] == len(run.trades)
    assert report.total_written == len(run.data)
    ts = [d.ts_init for d in run.data]
    assert all(a <= b for a, b in zip(ts, ts[1:], strict=False)), "ts_init must not decrease"
    assert not run.deltas or run.deltas[-1].flags & F_LAST, "the last event is closed by F_LAST"


def replay(deltas: list[OrderBookDelta]) -> tuple[OrderBook, int, int]:
    """Apply ``deltas`` to a Nautilus L3 book; return it, the events and how many left it locked/crossed."""
    book = OrderBook(deltas[0].instrument_id, BookType.L3_MBO)
    events = crossed = 0
    for d in deltas:
        book.apply_delta(d)
        if d.flags & F_LAST:
            events += 1
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if bid is not None and ask is not None and bid >= ask:
                crossed += 1
    return book, events, crossed


def levels(book: OrderBook, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Top ``n`` levels a side as (price, size) strings, summed over the level's orders."""

    def side(lvls) -> list[tuple[str, str]]:  # noqa: ANN001 - nautilus BookLevel list
        return [(f"{lvl.price.as_double():.2f}", f"{sum(o.size.as_double() for o in lvl.orders()):.8f}")
                for lvl in lvls[:n]]

    return side(book.bids()), side(book.asks())


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def order(ts: int, kind: str, oid: int, side: int, price: str, amount: str) -> str:
    body = {"price": price, "amount": amount, "datetime": str(ts // 1000), "id": oid, "order_type": side}
    return f"{ts} order_{kind} {json.dumps(body)}"


def trade(ts: int, tid: int, price: float, amount: float) -> str:
    return f"{ts} trade {json.dumps({'price': price, 'amount': amount, 'id': tid})}"


def snapshot(ts: int, bids: list[list[str]], asks: list[list[str]]) -> str:
    return f"{ts} order_book {json.dumps({'bids': bids, 'asks': asks})}"


# --- fixtures (module scope: each real input is read once) -----------------------------------


@pytest.fixture(scope="module")
def bitstamp_dir() -> Path:
    """``<data>/bitstamp``; skips the module's real-data tests if it is not present."""
    path = data_dir() / "bitstamp"
    if not (path / LOG).exists() or not (path / ORDERS).exists():
        pytest.skip(f"{path} not found; set AMM_DATA_DIR to the shared data directory")
    return path


@pytest.fixture(scope="module")
def log_run(bitstamp_dir: Path) -> Loaded:
    return Loaded([bitstamp_dir / LOG])


@pytest.fixture(scope="module")
def log_snapshots(bitstamp_dir: Path) -> list[tuple[int, list, list]]:
    """Every ``order_book`` message of the log as (ts_ns, bids, asks), read independently here."""
    out = []
    with lzma.open(bitstamp_dir / LOG, "rt") as fh:
        for line in fh:
            ts, kind, body = line.split(" ", 2)
            if kind == "order_book":
                msg = json.loads(body)
                out.append((int(ts) * MS, msg["bids"], msg["asks"]))
    return out


@pytest.fixture(scope="module")
def file_sides(bitstamp_dir: Path) -> dict[str, str]:
    """The 2026 trades file's own side per trade id (the truth the inference is checked on)."""
    with open(bitstamp_dir / TRADES, newline="") as fh:
        return {row["trade_id"]: row["side"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def rec_run(bitstamp_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The 2026 capture with a trades file stripped of ``side`` and the order ids: sides inferred."""
    stripped = tmp_path_factory.mktemp("bitstamp") / "bitstamp_btcusd_20260502_trades.csv"
    keep = ("trade_id", "timestamp", "exchange_timestamp", "price", "amount")
    with open(bitstamp_dir / TRADES, newline="") as src, open(stripped, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=keep, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv.DictReader(src))
    return Loaded([bitstamp_dir / ORDERS, stripped, bitstamp_dir / META])


# --- 2015 raw log ----------------------------------------------------------------------------


def test_log_rows_match_provenance_and_are_accounted_for(log_run):
    assert dict(log_run.report.rows_read) == {
        "order_created": 24_894, "order_changed": 602, "order_deleted": 24_918, "trade": 575, "order_book": 5_011,
    }
    assert_accounting(log_run)
    assert len(log_run.trades) == 575
    assert log_run.loader.instruments()[0].id.value == "BTCUSD.BITSTAMP"
    # Drops: pre-capture ids (expected protocol), repeated deletes, one change after its delete.
    assert set(log_run.report.dropped) <= {"stale_update", "duplicate", "out_of_order"}


def test_log_is_anchored_on_the_first_snapshot_with_synthetic_orders(log_run, log_snapshots):
    s, deltas = log_run.stats, log_run.deltas
    first_snapshot_ts = log_snapshots[0][0]
    assert deltas[0].action == BookAction.CLEAR and deltas[0].flags & F_SNAPSHOT
    assert deltas[0].ts_init == first_snapshot_ts, "nothing is emitted before the book is known"
    anchor = [d for d in deltas if d.ts_init == first_snapshot_ts]
    assert all(d.flags & F_SNAPSHOT for d in anchor) and anchor[-1].flags & F_LAST
    seeded = [d for d in anchor if d.order is not None and d.order.order_id >= SYNTHETIC_ID_BASE]
    assert len(seeded) == s.synthetic_orders_seeded > 0
    for d in seeded:  # the id says which level the synthetic order stands for
        ticks = round(d.order.price.as_double() * 100)
        assert d.order.order_id == synthetic_order_id(d.order.side.name == "BUY", ticks)
    # The 187 deletes of ids older than the capture: attributed to a synthetic order, counted as
    # unknown (not emitted), or a delete that came just before its own create.
    assert s.unknown_ids["deleted"] + s.unknown_deletes_from_synthetic + s.deletes_before_create == 187
    assert log_run.report.dropped["stale_update"] == s.unknown_ids["deleted"] + s.unknown_ids["changed"]
    notes = " ".join(log_run.report.notes)
    assert "synthetic orders" in notes and "unknown order ids" in notes and "level corrections" in notes


def test_log_book_is_never_crossed_and_agrees_with_the_snapshots(log_run, log_snapshots):
    book, events, crossed = replay(log_run.deltas)
    assert crossed == log_run.stats.crossed_after_event == 0
    # Compare the replayed book, just before each later snapshot, with that snapshot's top levels.
    book = OrderBook(log_run.deltas[0].instrument_id, BookType.L3_MBO)
    snaps = iter(log_snapshots[1:])
    snap = next(snaps)
    best = top5 = compared = 0
    for d in log_run.deltas:
        while snap is not None and d.ts_init >= snap[0]:
            bids, asks = levels(book, 5)
            want = [(f"{float(p):.2f}", f"{float(a):.8f}") for p, a in snap[1][:5]]
            want_asks = [(f"{float(p):.2f}", f"{float(a):.8f}") for p, a in snap[2][:5]]
            compared += 1
            best += bids[:1] == want[:1] and asks[:1] == want_asks[:1]
            top5 += bids == want and asks == want_asks
            snap = next(snaps, None)
        book.apply_delta(d)
    assert compared == 5_010
    # Measured on the real log: best bid and ask (price and size) 99.6%, top 5 levels 99.3%.
    assert best / compared > 0.98, f"best levels agree in {best / compared:.1%} of snapshots"
    assert top5 / compared > 0.97, f"top 5 levels agree in {top5 / compared:.1%} of snapshots"
    assert log_run.stats.snapshot_best_agree / log_run.stats.snapshots_compared > 0.98


def test_log_trade_sides_are_inferred_or_reported(log_run):
    s, trades = log_run.stats, log_run.trades
    by_side = Counter(t.aggressor_side for t in trades)
    assert sum(s.sides.values()) == len(trades) == 575
    assert by_side[AggressorSide.NO_AGGRESSOR] == s.sides.get("none", 0)
    # Measured: all 575 inferred (542 by a maker/taker pair, 27 by a marketable taker, 6 by the maker alone).
    assert by_side[AggressorSide.BUYER] + by_side[AggressorSide.SELLER] >= 0.95 * len(trades)
    assert by_side[AggressorSide.BUYER] > 100 and by_side[AggressorSide.SELLER] > 100
    assert any("written with NO_AGGRESSOR" in n for n in log_run.report.notes)
    # A plausibility check independent of the fills: the quote rule (Lee and Ready 1991, J.
    # Finance 46(2)) on the rebuilt book 100 ms before the trade - above the mid is a buy.
    book = OrderBook(log_run.deltas[0].instrument_id, BookType.L3_MBO)
    deltas, i, agree, ruled = log_run.deltas, 0, 0, 0
    for t in trades:
        while i < len(deltas) and deltas[i].ts_init <= t.ts_init - 100 * MS:
            book.apply_delta(deltas[i])
            i += 1
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None or t.aggressor_side == AggressorSide.NO_AGGRESSOR:
            continue
        mid = (bid.as_double() + ask.as_double()) / 2
        if t.price.as_double() != mid:
            ruled += 1
            agree += (t.price.as_double() > mid) == (t.aggressor_side == AggressorSide.BUYER)
    assert agree / ruled > 0.95, f"quote rule agrees for {agree}/{ruled}"  # measured 570/574


def test_the_r_parse_of_the_log_gives_the_same_order_events(bitstamp_dir, log_run):
    run = Loaded([bitstamp_dir / R_CSV])
    assert {k: run.report.rows_read[k] for k in ORDER_KINDS} == {k: log_run.report.rows_read[k] for k in ORDER_KINDS}
    assert_accounting(run)
    first = [d for d in run.deltas if d.order is not None and d.order.order_id == 65595247]
    assert [(d.action, str(d.order.size)) for d in first][:2] == [
        (BookAction.ADD, "2.00000000"), (BookAction.UPDATE, "1.78855669"),  # satoshi volumes
    ]
    assert any("orders created before the capture are missing" in n for n in run.report.notes)
    with pytest.raises(DataQualityError, match="a second source of order events"):
        Loaded([bitstamp_dir / LOG, bitstamp_dir / R_CSV])


def test_ingest_round_trips_and_reingest_adds_nothing(bitstamp_dir, tmp_path):
    catalog_path = tmp_path / "catalog"
    result = ingest_files("bitstamp", [bitstamp_dir / LOG], catalog_path, checkpoint_interval_s=600)
    written = result.report.rows_written
    catalog = ParquetDataCatalog(str(catalog_path))
    assert len(catalog.order_book_deltas(instrument_ids=["BTCUSD.BITSTAMP"])) == written["OrderBookDelta"]
    assert len(catalog.trade_ticks(instrument_ids=["BTCUSD.BITSTAMP"])) == written["TradeTick"] == 575
    (instrument,) = catalog.instruments()
    assert isinstance(instrument, CurrencyPair) and str(instrument.price_increment) == "0.01"
    again = ingest_files("bitstamp", [bitstamp_dir / LOG], catalog_path, checkpoint_interval_s=600)
    assert sum(again.commit.rows_added.values()) == 0
    assert again.commit.duplicate_rows_removed["order_book_deltas"] == written["OrderBookDelta"]
    assert len(catalog.order_book_deltas(instrument_ids=["BTCUSD.BITSTAMP"])) == written["OrderBookDelta"]


# --- 2026 recorder capture -------------------------------------------------------------------


def test_recorder_rows_match_provenance_and_are_accounted_for(rec_run):
    read = rec_run.report.rows_read
    assert sum(read[k] for k in ORDER_KINDS) == 314_057
    assert read["trade"] == len(rec_run.trades) == 284
    assert_accounting(rec_run)
    s = rec_run.stats
    assert s.image_orders == 6_512 and s.closing_deletes == 6_518
    assert not any("MISMATCH" in n for n in rec_run.report.notes)
    # The REST book opens the stream as one snapshot batch; the live rows received while it was
    # fetched keep their place, with its ts_init (counted, no problem reported).
    first = [d for d in rec_run.deltas if d.sequence == rec_run.deltas[0].sequence]
    assert first[0].action == BookAction.CLEAR and all(d.flags & F_SNAPSHOT for d in first)
    assert s.ts_replayed == 264 and s.ts_clamped == 0 and not rec_run.report.marked
    assert any("REST book was being fetched" in n for n in rec_run.report.notes)


def test_recorder_inferred_sides_agree_with_the_exchange(rec_run, file_sides):
    trades = rec_run.trades
    inferred = [t for t in trades if t.aggressor_side != AggressorSide.NO_AGGRESSOR]
    agree = sum(file_sides[t.trade_id.value] == ("buy" if t.aggressor_side == AggressorSide.BUYER else "sell")
                for t in inferred)
    # Measured: 284 of 284 inferred, all agreeing (280 by a maker/taker pair, 4 by the maker alone).
    assert len(inferred) >= 0.95 * len(trades)
    assert agree / len(inferred) >= 0.95, f"inferred sides agree with the file for {agree}/{len(inferred)}"
    assert rec_run.stats.sides.get("none", 0) == len(trades) - len(inferred)


def test_recorder_book_is_never_crossed_and_ends_closed(rec_run):
    book, events, crossed = replay(rec_run.deltas)
    assert crossed == rec_run.stats.crossed_after_event == 0
    assert events == len({d.sequence for d in rec_run.deltas})
    assert book.best_bid_price() is None and book.best_ask_price() is None  # the closing deletes
    assert rec_run.stats.stale_orders_removed <= 5  # the REST book's ghosts (2 measured)


# --- synthetic files -------------------------------------------------------------------------


def test_a_corrupted_line_names_file_and_line_and_strict_mode_refuses_it(tmp_path):
    t0 = 1_430_438_404_000
    path = write_lines(tmp_path / "bitstamp_btcusd_x.log", [
        snapshot(t0, [["100.00", "1.00000000"]], [["101.00", "1.00000000"]]),
        order(t0 + 10, "created", 10, 0, "99.00", "1.00000000"),
        f'{t0 + 20} order_created {{"price": "99.50", "amount": ',  # truncated JSON
        order(t0 + 30, "created", 11, 1, "101.005", "1.00000000"),  # off the $0.01 tick
    ])
    run = Loaded([path])
    assert run.report.dropped == {"malformed": 2}
    assert {e.line for e in run.report.events} == {3, 4}
    assert_accounting(run)
    with pytest.raises(DataQualityError) as err:
        Loaded([path], strict=True)
    message = str(err.value)
    assert message.startswith(f"{path}:3: malformed") and "\n" not in message


def test_edge_cases_of_a_small_log(tmp_path):
    t0 = 1_430_438_404_000
    path = write_lines(tmp_path / "bitstamp_btcusd_edge.log", [
        order(t0, "created", 10, 0, "100.00", "1.00000000"),  # 1: before any snapshot
        order(t0 + 1, "deleted", 5, 1, "101.00", "0.50000000"),  # 2: older than the capture
        snapshot(t0 + 2, [["100.00", "1.50000000"]], [["101.00", "2.00000000"]]),  # 3: anchor
        order(t0 + 3, "deleted", 6, 1, "101.00", "0.50000000"),  # 4: taken out of the synthetic ask
        order(t0 + 4, "created", 12, 1, "100.00", "0.40000000"),  # 5: locks the bid: in flight
        order(t0 + 5, "changed", 10, 0, "100.00", "0.60000000"),  # 6: the maker's fill
        order(t0 + 6, "deleted", 12, 1, "100.00", "0.00000000"),  # 7: the taker's fill, never rested
        trade(t0 + 7, 900, 100.0, 0.4),  # 8: pair -> the bid was the maker -> SELLER
        trade(t0 + 8, 901, 105.0, 0.3),  # 9: no fill of that size: NO_AGGRESSOR
        order(t0 + 9, "deleted", 20, 0, "99.00", "1.00000000"),  # 10: delete before its create
        order(t0 + 10, "created", 20, 0, "99.00", "1.00000000"),  # 11
        order(t0 + 11, "deleted", 12, 1, "100.00", "0.00000000"),  # 12: deleted twice
        snapshot(t0 + 12, [["100.00", "1.10000000"]], [["101.00", "2.50000000"]]),  # 13: ask +1.0 ...
        snapshot(t0 + 13, [["100.00", "1.10000000"]], [["101.00", "2.50000000"]]),  # 14: ... confirmed
    ])
    run = Loaded([path])
    s = run.stats
    assert_accounting(run)
    assert run.report.dropped == {"stale_update": 1, "duplicate": 1}
    assert run.report.marked == {"out_of_order": 1} and s.deletes_before_create == 1
    assert s.synthetic_orders_seeded == 2 and s.unknown_deletes_from_synthetic == 1
    assert s.held_in_flight == 1 and s.takers_never_rested == 1 and s.corrections == 1
    assert [t.aggressor_side for t in run.trades] == [AggressorSide.SELLER, AggressorSide.NO_AGGRESSOR]
    assert s.sides == {"pair": 1, "none": 1}
    book, _, crossed = replay(run.deltas)
    assert crossed == 0
    assert [[(o.order_id, str(o.size)) for o in lvl.orders()] for lvl in book.bids()] == [
        [(synthetic_order_id(True, 10_000), "0.50000000"), (10, "0.60000000")],  # pre-capture first
    ]
    assert [[(o.order_id, str(o.size)) for o in lvl.orders()] for lvl in book.asks()] == [
        [(synthetic_order_id(False, 10_100), "2.50000000")],
    ]
    assert all(d.order.order_id != 12 for d in run.deltas if d.order is not None)


def test_an_order_stuck_opposite_a_ghost_takes_it_out(tmp_path):
    t0 = 1_430_438_404_000
    path = write_lines(tmp_path / "bitstamp_btcusd_ghost.log", [
        snapshot(t0, [["100.00", "1.00000000"]], [["101.00", "1.00000000"]]),
        order(t0 + 10, "created", 10, 0, "101.00", "0.20000000"),  # locks the (ghost) ask
        order(t0 + 2_000, "created", 11, 0, "98.00", "1.00000000"),  # 2 s later, nothing happened
    ])
    run = Loaded([path], stale_after_ms=1_000)
    assert run.stats.stale_orders_removed == 1
    book, _, crossed = replay(run.deltas)
    assert crossed == 0 and book.best_ask_price() is None
    assert book.best_bid_price().as_double() == 101.0


def test_side_inference_rules():
    def fills(*rows):
        inf = SideInference(before_ns=1_000 * MS, after_ns=1_000 * MS)
        for ts, oid, is_bid, price, lots in rows:
            inf.add(Fill(ts * MS, oid, is_bid, price, lots))
        return inf

    # A resting bid (older id) consumed together with a newer ask: the seller was the aggressor.
    assert fills((0, 1, True, 100, 5), (0, 2, False, 100, 5)).infer(100, 5, 0) == (AggressorSide.SELLER, "pair")
    # Only the maker shows (a market order took it).
    assert fills((0, 1, False, 100, 5)).infer(100, 5, 0) == (AggressorSide.BUYER, "maker")
    # A taker whose limit is through the trade price.
    assert fills((0, 2, True, 103, 5)).infer(100, 5, 0) == (AggressorSide.BUYER, "taker")
    # A pre-capture bid of unknown size at the price: it was the maker.
    assert fills((0, 1, True, 100, None)).infer(100, 5, 0) == (AggressorSide.SELLER, "unknown_maker")
    # Nothing of that size in the window: not guessed.
    far = fills((0, 1, True, 100, 4), (5_000, 2, True, 100, 5))
    assert far.infer(100, 5, 0) == (AggressorSide.NO_AGGRESSOR, "none")
    # A fill is used by one trade only: a second trade of the same size finds no evidence.
    inf = fills((0, 1, False, 100, 5))
    assert inf.infer(100, 5, 0)[0] == AggressorSide.BUYER
    assert inf.infer(100, 5, 1)[0] == AggressorSide.NO_AGGRESSOR


def test_recorder_csv_blocks_file_sides_and_kinds(tmp_path):
    t_rest, t_snap = 1_777_689_383_201, 1_777_689_380_521  # REST book received / taken
    orders = tmp_path / "bitstamp_btcusd_x_orders.csv"
    orders.write_text("\n".join([
        "id,timestamp,exchange_timestamp,price,volume,action,direction",
        f"100,{t_rest},{t_snap},78318.0,1.5,created,bid",  # the REST book
        f"101,{t_rest},{t_snap},78320.0,0.121,created,ask",
        f"102,{t_rest},{t_snap},0.0,10.0,created,bid",  # a bid below $0.50, printed as 0
        f"200,{t_rest - 1_800},{t_rest - 1_870},78317.0,2.6e-06,created,bid",  # live, received earlier
        f"300,{t_rest + 600},{t_rest + 520},78321.0,0.5,created,bid",  # takes ask 101 ...
        f"300,{t_rest + 600},{t_rest + 520},78320.0,0.379,changed,bid",
        f"101,{t_rest + 601},{t_rest + 520},78320.0,0.0,deleted,ask",  # ... and rests
        f"100,{t_rest + 5_000},{t_rest + 5_000},78318.0,1.5,deleted,bid",  # closing deletes
        f"102,{t_rest + 5_000},{t_rest + 5_000},0.0,10.0,deleted,bid",
        f"200,{t_rest + 5_000},{t_rest + 5_000},78317.0,2.6e-06,deleted,bid",
        f"300,{t_rest + 5_000},{t_rest + 5_000},78320.0,0.379,deleted,bid",
    ]) + "\n")
    trades = tmp_path / "bitstamp_btcusd_x_trades.csv"
    trades.write_text(
        "trade_id,timestamp,exchange_timestamp,price,amount,buy_order_id,sell_order_id,side\n"
        f"7,{t_rest + 590},{t_rest + 520},78320.0,0.121,300,101,buy\n",
    )
    assert [detect_kind(p) for p in (orders, trades)] == ["orders", "trades"]
    run = Loaded([orders, trades], strict=True)  # the boundary step back is not a problem
    assert_accounting(run)
    s = run.stats
    assert s.image_orders == 3 and s.closing_deletes == 4 and s.ts_replayed == 1
    assert s.side_agreement == {"agree": 1} and s.sides == {"file": 1}
    assert [t.aggressor_side for t in run.trades] == [AggressorSide.BUYER]
    assert run.trades[0].ts_event == (t_rest + 520) * MS and run.trades[0].ts_init == (t_rest + 590) * MS
    by_seq = Counter(d.sequence for d in run.deltas)
    assert by_seq[run.deltas[0].sequence] == 3  # CLEAR + 2 ADDs: the $0 bid never rests
    assert by_seq[run.deltas[-1].sequence] == 3  # the closing deletes are one event
    taker = [d for d in run.deltas if d.order is not None and d.order.order_id == 300]
    assert [(d.action, str(d.order.price), str(d.order.size)) for d in taker] == [
        (BookAction.ADD, "78320.00", "0.37900000"), (BookAction.DELETE, "78320.00", "0.37900000"),
    ]
    assert all(d.ts_init >= t_rest * MS for d in run.deltas)
    with pytest.raises(DataQualityError, match="not a Bitstamp capture"):
        detect_kind(write_lines(tmp_path / "other.csv", ["a,b,c", "1,2,3"]))
