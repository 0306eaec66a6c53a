"""Full-book checkpoints, so that any window of an order-book stream starts from a full book.

Why this exists
    A depth stream is one snapshot followed by diffs. A replay that starts mid-stream without the
    book before it only knows the levels that change after its start: one second into a window
    of the Binance USD-M capture it holds 2,258 price levels where the full replay holds 8,766
    (the top of book agrees, the depth, and with it every queue behind the touch, does not).
    Nor can a snapshot be put *into* the replayed stream: with ``queue_position`` on,
    NautilusTrader 1.231's matching engine sets the queue ahead of every resting order to zero on
    a ``CLEAR`` or ``F_SNAPSHOT`` delta (``OrderMatchingEngine._clear_all_queue_positions``), so
    each inserted snapshot would hand out free priority. Nautilus has no notion of "the book at
    time t" in a catalog, so this module adds one.

How
    * At ingest, :class:`CheckpointBuilder` rebuilds every instrument's book with Nautilus' own
      ``OrderBook`` (MBP, or MBO when the deltas carry order ids) and every ``interval_ns`` writes
      a checkpoint: ``CLEAR`` + one ``ADD`` per level (or per order), stamped with the time of the
      last delta it contains. Checkpoints go into a second ``ParquetDataCatalog`` inside the
      catalog, ``<catalog>/book_checkpoints/`` (same files, same reader), through the same staged,
      journaled commit as the data (``catalog.writer``).
    * A window ``[start, end]`` opens with :func:`start_book`: the last checkpoint before
      ``start``, the deltas between it and ``start`` applied to it, as one ``OrderBookDeltas``
      batch stamped ``start``. It equals the full replay's book just before ``start``
      (``tests/catalog/test_checkpoints.py``); the replay then goes on from ``start`` with the
      original deltas only. Without checkpoints (a catalog ingested before they existed) the book
      is replayed from the first delta of the series: correct, only slower.

A checkpoint is only written once the builder knows the whole book: after a ``CLEAR`` in the
stream (every snapshot starts with one), or from the first delta when the catalog holds no earlier
deltas of that instrument (the stream *is* the start of the series, as for a Databento MBO file
that opens with its book image). Sizes: the Binance USD-M book holds ~8,800 levels, so a 60 s
interval adds ~8% rows to its deltas; a checkpoint is also never written before as many deltas
as the last one had rows arrived (:class:`CheckpointBuilder`), which keeps a slow MBO book (the
Databento ES fixture: 10,000 resting orders, 600 changes a minute) from holding more checkpoint
rows than data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nautilus_trader.core.data import Data
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, BookType, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

CHECKPOINT_DIR = "book_checkpoints"
"""Sub-catalog (relative to the catalog root) that holds the checkpoints."""
DEFAULT_INTERVAL_S = 60.0
"""Seconds of stream time between two checkpoints of one instrument (``amm ingest --checkpoint-interval-s``)."""

_F_LAST = int(RecordFlag.F_LAST)
_F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)


def checkpoint_catalog_path(catalog_path: str | Path) -> Path:
    return Path(catalog_path) / CHECKPOINT_DIR


@dataclass(frozen=True)
class BookImage:
    """The resting book at one time: what a snapshot restates.

    ``levels`` holds ``(side, price, size, order_id)`` with ``price``/``size`` as Nautilus
    ``Price``/``Quantity``, best level first per side (bids, then asks); ``order_id`` is 0 for a
    price-level (MBP) book.
    """

    instrument_id: InstrumentId
    ts_ns: int
    per_order: bool
    levels: tuple[tuple[OrderSide, Price, Quantity, int], ...]

    def to_deltas(self, ts_ns: int | None = None, *, per_order: bool | None = None) -> OrderBookDeltas:
        """The image as one snapshot batch: ``CLEAR`` + ``ADD``s, the last one ``F_LAST``.

        ``per_order=False`` aggregates an order-by-order image into price levels (the form an
        L2_MBP venue needs: Nautilus' MBP book keeps one order per price, so two ADDs at one price
        would overwrite, not add up).
        """
        ts = self.ts_ns if ts_ns is None else ts_ns
        levels = self.levels
        if self.per_order and per_order is False:
            levels = _aggregate(levels)
        iid = self.instrument_id
        n = len(levels)
        deltas = [OrderBookDelta(iid, BookAction.CLEAR, None, _F_SNAPSHOT | (_F_LAST if n == 0 else 0), 0, ts, ts)]
        for i, (side, price, size, order_id) in enumerate(levels, start=1):
            flags = _F_SNAPSHOT | (_F_LAST if i == n else 0)
            deltas.append(
                OrderBookDelta(iid, BookAction.ADD, BookOrder(side, price, size, order_id), flags, 0, ts, ts),
            )
        return OrderBookDeltas(iid, deltas)


def _aggregate(levels: Iterable[tuple]) -> tuple[tuple, ...]:
    out: list[list] = []
    for side, price, size, _ in levels:
        if out and out[-1][0] == side and out[-1][1] == price:
            out[-1][2] = out[-1][2] + size
        else:
            out.append([side, price, size, 0])
    return tuple(tuple(x) for x in out)


def image_of(book: OrderBook, ts_ns: int) -> BookImage:
    """Read every level (MBP) or order (MBO) of a Nautilus ``OrderBook``."""
    per_order = book.book_type == BookType.L3_MBO
    levels: list[tuple] = []
    for side, side_levels in ((OrderSide.BUY, book.bids()), (OrderSide.SELL, book.asks())):
        for level in side_levels:
            if per_order:
                levels.extend((side, o.price, o.size, o.order_id) for o in level.orders())
            else:
                levels.append((side, level.price, _level_size(level), 0))
    return BookImage(book.instrument_id, ts_ns, per_order, tuple(levels))


def _level_size(level) -> Quantity:  # noqa: ANN001 - nautilus BookLevel
    orders = level.orders()
    size = orders[0].size
    for o in orders[1:]:
        size = size + o.size
    return size


def _deltas_of(obj: Data) -> list[OrderBookDelta]:
    return obj.deltas if isinstance(obj, OrderBookDeltas) else [obj]


def book_type_of(delta: OrderBookDelta) -> BookType:
    """MBO when the stream's orders carry venue order ids, MBP otherwise."""
    return BookType.L3_MBO if delta.order is not None and delta.order.order_id != 0 else BookType.L2_MBP


class CheckpointBuilder:
    """Rebuild each instrument's book from a delta stream and emit a :class:`BookImage` every interval.

    Feed every ``OrderBookDelta`` / ``OrderBookDeltas`` in ``ts_init`` order with :meth:`add`;
    it returns the images that became due. Call :meth:`finish` at the end of the stream. An
    image at ``t`` holds every delta with ``ts_init <= t`` (it is emitted once a later delta
    arrives, or at the end), so a window starting after ``t`` replays only the deltas after it.

    An image is due ``interval_ns`` after the previous one *and* once at least as many deltas
    as the previous image had rows have arrived since: on a book that changes little (an MBO
    feed of 10,000 resting orders, 600 changes a minute) images would otherwise outweigh the
    data. So checkpoints never hold more rows than the deltas they summarise, and a window's
    start replays at most one interval or one book's worth of deltas, whichever is more.

    Parameters
    ----------
    interval_ns : int
        Least stream time between two images of one instrument.
    anchored : callable, optional
        ``anchored(instrument_id, first_ts_ns) -> bool``: whether the book is complete from the
        first delta seen for the instrument (the series starts here). Otherwise the book counts
        as known only from its first ``CLEAR``.
    """

    def __init__(self, interval_ns: int, anchored=None) -> None:  # noqa: ANN001
        if interval_ns <= 0:
            raise ValueError(f"checkpoint interval must be > 0 ns, got {interval_ns}")
        self._interval = int(interval_ns)
        self._anchored_at_start = anchored
        self._books: dict[InstrumentId, _BookState] = {}
        self._cleared: set[InstrumentId] = set()

    def add(self, obj: Data) -> list[BookImage]:
        deltas = _deltas_of(obj)
        if not deltas:
            return []
        iid = deltas[0].instrument_id
        state = self._books.get(iid)
        if state is None:
            # The book's type comes from its first order: a loader that yields its opening CLEAR
            # on its own (Bitstamp) would otherwise type an order-by-order book as levels.
            first = next((d for d in deltas if d.action != BookAction.CLEAR), None)
            if first is None:  # a CLEAR of a book not yet typed: it empties nothing
                self._cleared.add(iid)
                return []
            known = iid in self._cleared or (
                bool(self._anchored_at_start(iid, obj.ts_init)) if self._anchored_at_start else False
            )
            state = _BookState(OrderBook(iid, book_type_of(first)), known)
            self._books[iid] = state
        out = []
        ts = obj.ts_init
        if state.pending_ts is not None and ts > state.pending_ts:
            out.append(state.emit())
        book = state.book
        for d in deltas:
            if not state.known and d.action == BookAction.CLEAR:
                state.known = True
            book.apply_delta(d)
        state.since += len(deltas)
        if state.known and state.pending_ts is None and ts >= state.next_due and state.since >= state.last_rows:
            state.pending_ts = ts
            state.next_due = ts + self._interval
        return out

    def finish(self) -> list[BookImage]:
        return [s.emit() for s in self._books.values() if s.pending_ts is not None]


class _BookState:
    __slots__ = ("book", "known", "last_rows", "next_due", "pending_ts", "since")

    def __init__(self, book: OrderBook, known: bool) -> None:
        self.book = book
        self.known = known
        self.next_due = 0
        self.pending_ts: int | None = None
        self.since = 0  # deltas applied since the last image
        self.last_rows = 0  # levels (or orders) of the last image

    def emit(self) -> BookImage:
        image = image_of(self.book, self.pending_ts)
        self.pending_ts = None
        self.since = 0
        self.last_rows = len(image.levels)
        return image


def book_images(data: Iterable[Data], interval_ns: int) -> list[BookImage]:
    """Images of the book every ``interval_ns`` over a replay window that opens with its full book.

    ``data`` is a window of :func:`catalog.window.load_window` (any types; only book items are
    used). The first image is at the first book event. The RL environment starts its episodes
    from these (in memory; nothing is written).
    """
    builder = CheckpointBuilder(interval_ns, anchored=lambda _iid, _ts: True)
    images: list[BookImage] = []
    for item in data:
        if isinstance(item, (OrderBookDeltas, OrderBookDelta)):
            images.extend(builder.add(item))
    images.extend(builder.finish())
    return images


# -- reading -------------------------------------------------------------------------------------


def latest_checkpoint(catalog_path: str | Path, instrument_id: str, before_ns: int) -> BookImage | None:
    """The last checkpoint of ``instrument_id`` stamped strictly before ``before_ns``, if any.

    Looks back over the checkpoint files' spans (read from their names) and reads only the rows
    of one checkpoint's time.
    """
    root = checkpoint_catalog_path(catalog_path)
    if not (root / "data").is_dir():
        return None
    cps = ParquetDataCatalog(str(root))
    spans = sorted(iv for iv in cps.get_intervals(OrderBookDelta, instrument_id) if iv[0] < before_ns)
    for lo, hi in reversed(spans):
        rows = cps.query(OrderBookDelta, identifiers=[instrument_id], start=lo, end=min(hi, before_ns - 1))
        clears = [i for i, d in enumerate(rows) if d.action == BookAction.CLEAR]
        if not clears:
            continue
        first = clears[-1]
        ts = rows[first].ts_init
        body = [d for d in rows[first:] if d.ts_init == ts]
        book = OrderBook(InstrumentId.from_str(instrument_id), book_type_of(body[1]) if len(body) > 1 else BookType.L2_MBP)
        for d in body:
            book.apply_delta(d)
        return image_of(book, ts)
    return None


def start_book(
    catalog_path: str | Path,
    instrument_id: str,
    start_ns: int,
    *,
    per_order: bool,
) -> OrderBookDeltas | None:
    """The full book just before ``start_ns``, as one snapshot batch stamped ``start_ns``.

    It holds every delta with ``ts_init < start_ns``: the last checkpoint before the start plus
    the deltas after it (or, without a checkpoint, every delta from the series' first). Returns
    None when the series has no delta before ``start_ns`` (the window starts with the data).

    Parameters
    ----------
    per_order : bool
        Restate orders (an L3_MBO venue) instead of price levels (L2_MBP).
    """
    catalog = ParquetDataCatalog(str(catalog_path))
    spans = sorted(catalog.get_intervals(OrderBookDelta, instrument_id))
    if not spans or spans[0][0] >= start_ns:
        return None
    image = latest_checkpoint(catalog_path, instrument_id, start_ns)
    replay_from = spans[0][0] if image is None else image.ts_ns + 1
    tail = catalog.query(OrderBookDelta, identifiers=[instrument_id], start=replay_from, end=start_ns - 1)
    iid = InstrumentId.from_str(instrument_id)
    if image is not None:
        book = OrderBook(iid, BookType.L3_MBO if image.per_order else BookType.L2_MBP)
        book.apply_deltas(image.to_deltas())
    else:
        first = next((d for d in tail if d.action != BookAction.CLEAR), None)
        if first is None:
            return None
        book = OrderBook(iid, book_type_of(first))
    for d in tail:
        book.apply_delta(d)
    return image_of(book, start_ns).to_deltas(per_order=per_order)


def levels_equal(a: OrderBook, b: OrderBook) -> bool:
    """Whether two books hold the same price levels and sizes on both sides (tests, checks)."""
    return _level_list(a) == _level_list(b)


def _level_list(book: OrderBook) -> list[tuple]:
    return [
        (side, level.price.as_double(), _level_size(level).as_double())
        for side, levels in (("bid", book.bids()), ("ask", book.asks()))
        for level in levels
    ]
