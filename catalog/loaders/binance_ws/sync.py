"""Binance's depth synchronisation as a pure state machine (:class:`DepthSync`).

Binance, "How to manage a local order book correctly" (spot and USD-M/COIN-M futures API docs):
buffer the diff stream, take a REST snapshot, drop the diffs it already covers, require the first
diff applied to straddle the snapshot, then require each diff to follow the previous one; on a
break, wait for a new snapshot. Here, with ``sid`` the snapshot's ``lastUpdateId`` and ``U`` /
``u`` / ``pu`` a diff's first, final and previous final update ids:

=========================  ================================  ================================
rule                       spot                              futures (USD-M, COIN-M)
=========================  ================================  ================================
covered by the snapshot    ``u <= sid``                      ``u < sid``
first diff straddles       ``U <= sid + 1 <= u``             ``U <= sid <= u`` or ``pu == sid``
next diff follows          ``U == previous u + 1``           ``pu == previous u``
=========================  ================================  ================================

A diff that does not follow (and is not a repeat of one applied) is a sequence gap: the book is
invalid until the next snapshot and the diffs meanwhile are buffered (bounded), to be replayed
against it. A snapshot older than a synced book is ignored. A snapshot or diff that would leave
the book crossed or locked is refused (an exchange book never crosses: the stream is corrupt
there) and, for a diff, invalidates the book the same way.

The machine sees parsed messages only (no files, no JSON, no Nautilus objects): it keeps the
book as integer ticks and answers each message with :data:`Outcome` s, in order, which the caller
turns into deltas and quality-report entries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

from catalog.book import L2Book
from catalog.quality import Issue

MAX_PENDING_DIFFS = 10_000
"""Depth diffs buffered while there is no valid book; older ones are dropped as UNSYNCED."""

DepthLevel = tuple[bool, int, float, object, object]
"""``(is_bid, price_ticks, size, price, quantity)``: the machine reads the first three; the last
two ride along for the caller (the loader's Nautilus ``Price`` / ``Quantity``)."""

SyncState = Literal["none", "gap", "await", "synced"]
"""``none``: no snapshot yet; ``gap``: book invalid; ``await``: snapshot applied, waiting for the
straddling diff; ``synced``: diffs follow each other."""


@dataclass(slots=True)
class DepthSnapshot:
    """A REST depth snapshot: ``lastUpdateId`` and its levels (sizes > 0)."""

    last_update_id: int
    levels: list[DepthLevel]
    ts_event: int = 0
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class DepthDiff:
    """One ``depthUpdate`` message: ``U``, ``u``, ``pu`` (futures only) and absolute level sizes."""

    first_id: int
    final_id: int
    prev_final_id: int | None
    levels: list[DepthLevel]
    ts_event: int = 0
    file: str = ""
    line: int = 0
    after_gap: bool = False
    """Set by the machine when the diff waited through a gap (a later drop is UNSYNCED)."""


class Applied(NamedTuple):
    """The snapshot or diff is now in the book: emit it."""

    item: DepthSnapshot | DepthDiff


class Rejected(NamedTuple):
    """The snapshot or diff is dropped for ``issue`` (in JSON field ``field_name``)."""

    item: DepthSnapshot | DepthDiff
    issue: Issue
    field_name: str
    detail: str
    handling: str = "dropped"

    @property
    def kind(self) -> str:
        """The quality report's input kind: ``snapshot`` or ``depth``."""
        return "snapshot" if isinstance(self.item, DepthSnapshot) else "depth"


class Invalidation:
    """The book became invalid at ``file:line`` (``reason``); valid again at ``valid_at`` (None:
    not before the end of the stream)."""

    __slots__ = ("file", "line", "reason", "valid_at")

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        self.valid_at: tuple[str, int] | None = None

    def describe(self) -> str:
        again = f"valid again at the snapshot of {self.valid_at[0]}:{self.valid_at[1]}" if self.valid_at else "not valid again before the end"
        return f"{self.reason} at {self.file}:{self.line} ({again})"


class Gap(NamedTuple):
    """The sequence broke at ``file:line``: the book is invalid until the next snapshot."""

    file: str
    line: int
    detail: str


Outcome = Applied | Rejected | Gap


class DepthSync:
    """Keep a depth book in sync with Binance's snapshot + diff stream (see the module docstring).

    Parameters
    ----------
    futures : bool
        Futures rules (``pu`` chaining) instead of spot's (``U == previous u + 1``).
    max_pending : int, default MAX_PENDING_DIFFS
        Diffs buffered while there is no valid book.
    """

    def __init__(self, futures: bool, max_pending: int = MAX_PENDING_DIFFS) -> None:
        self.futures = futures
        self.max_pending = max_pending
        self.state: SyncState = "none"
        self.snapshot_id = 0
        self.last_final_id = 0
        self.pending: deque[DepthDiff] = deque()
        self.book = L2Book()
        self.invalidations: list[Invalidation] = []
        """Every time a live book became invalid, why, and where it became valid again."""

    def _invalidate(self, file: str, line: int, reason: str) -> None:
        if self.live:
            self.invalidations.append(Invalidation(file, line, reason))
        self.state = "gap"

    @property
    def live(self) -> bool:
        """Whether a snapshot is applied and no gap has broken it since."""
        return self.state in ("synced", "await")

    def on_snapshot(self, snap: DepthSnapshot) -> list[Outcome]:
        """Take a snapshot as the new book, then replay the diffs buffered meanwhile."""
        sid = snap.last_update_id
        if self.state == "synced" and sid < self.last_final_id:
            return [Rejected(snap, Issue.STALE_UPDATE, "lastUpdateId",
                             f"snapshot {sid} older than the synced book (u={self.last_final_id})",
                             "snapshot dropped; synced book kept")]
        book = L2Book()
        for is_bid, ticks, size, _px, _qty in snap.levels:
            book.set_level(is_bid, ticks, size)
        bad = book.crossed_or_locked()
        if bad is not None:
            issue = Issue.CROSSED_BOOK if bad[0] > bad[1] else Issue.LOCKED_BOOK
            return [Rejected(snap, issue, "bids",
                             f"snapshot best bid {bad[0]} >= best ask {bad[1]} (ticks)",
                             "snapshot dropped; book stays as it was")]
        self.book = book
        if self.invalidations and self.invalidations[-1].valid_at is None and not self.live:
            self.invalidations[-1].valid_at = (snap.file, snap.line)
        self.state = "await"
        self.snapshot_id = sid
        out: list[Outcome] = [Applied(snap)]
        pending, self.pending = self.pending, deque()
        for d in pending:
            out.extend(self.on_diff(d))
        return out

    def on_diff(self, d: DepthDiff) -> list[Outcome]:
        """Apply one diff, drop it, or buffer it until a snapshot (after a gap)."""
        state = self.state
        if state == "none" or state == "gap":
            d.after_gap = d.after_gap or state == "gap"
            return self._buffer(d)
        if state == "await":
            sid = self.snapshot_id
            if (d.final_id < sid) if self.futures else (d.final_id <= sid):
                return [Rejected(d, Issue.UNSYNCED if d.after_gap else Issue.STALE_UPDATE, "u",
                                 f"depth diff u={d.final_id} older than snapshot lastUpdateId={sid}",
                                 "dropped; covered by the snapshot")]
            if self.futures:
                ok = (d.first_id <= sid <= d.final_id) or d.prev_final_id == sid
            else:
                ok = d.first_id <= sid + 1 <= d.final_id
            if not ok:
                return self._gap(d, f"first diff after snapshot {sid} starts at U={d.first_id}: "
                                    f"updates between them are missing")
        else:  # synced
            last = self.last_final_id
            if self.futures:
                contiguous = d.prev_final_id == last
            else:
                contiguous = d.first_id == last + 1
            if not contiguous:
                if d.final_id <= last:
                    return [Rejected(d, Issue.DUPLICATE, "u",
                                     f"depth diff u={d.final_id} already applied (book at u={last})")]
                expect = f"pu={last}" if self.futures else f"U={last + 1}"
                got = f"pu={d.prev_final_id}" if self.futures else f"U={d.first_id}"
                return self._gap(d, f"depth diff expected {expect}, got {got}")
        book = self.book
        for is_bid, ticks, size, _px, _qty in d.levels:
            book.set_level(is_bid, ticks, size)
        bad = book.crossed_or_locked()
        if bad is not None:
            issue = Issue.CROSSED_BOOK if bad[0] > bad[1] else Issue.LOCKED_BOOK
            self._invalidate(d.file, d.line, f"{issue.value} diff u={d.final_id}")
            return [Rejected(d, issue, "b",
                             f"diff u={d.final_id} leaves best bid {bad[0]} >= best ask {bad[1]} (ticks)",
                             "dropped; book invalid until next snapshot")]
        self.state = "synced"
        self.last_final_id = d.final_id
        return [Applied(d)]

    def break_sequence(self, file: str, line: int, detail: str) -> list[Outcome]:
        """A diff at ``file:line`` could not be parsed: a live book becomes invalid."""
        if not self.live:
            return []
        self._invalidate(file, line, "unparsable diff")
        return [Gap(file, line, detail)]

    def finish(self) -> list[Outcome]:
        """End of the stream: the diffs still waiting for a snapshot are dropped."""
        out: list[Outcome] = [
            Rejected(d, Issue.UNSYNCED, "u",
                     f"depth diff u={d.final_id} never matched a snapshot before the end",
                     "dropped; no valid book")
            for d in self.pending
        ]
        self.pending.clear()
        return out

    def _gap(self, d: DepthDiff, detail: str) -> list[Outcome]:
        self._invalidate(d.file, d.line, "sequence gap")
        d.after_gap = True
        return [Gap(d.file, d.line, detail), *self._buffer(d)]

    def _buffer(self, d: DepthDiff) -> list[Outcome]:
        self.pending.append(d)
        if len(self.pending) <= self.max_pending:
            return []
        old = self.pending.popleft()
        return [Rejected(old, Issue.UNSYNCED, "u",
                         f"depth diff u={old.final_id} while no valid book (buffer full)",
                         "dropped; no valid book")]
