"""``amm ingest bitstamp``: Bitstamp order-by-order captures -> L3 ``OrderBookDelta`` and ``TradeTick``.

Input kinds (told apart by the first line of each file; ``.xz`` / ``.gz`` are read compressed,
line by line, so memory stays bounded by the live book):

``log``
    The raw WebSocket log of the obAnalytics R package: ``<local_ms> <kind> <json>`` with kind
    ``order_created|order_changed|order_deleted`` (``price``, ``amount`` = remaining, ``datetime``,
    ``id``, ``order_type`` 0 bid / 1 ask), ``trade`` (``price``, ``amount``, ``id``; no side) and
    ``order_book`` (a top-20 snapshot of price levels).
``orders``
    Order events as CSV, ``id,timestamp,exchange[._]timestamp,price,volume,action,direction``:
    the R package's parse of a log (header ``exchange.timestamp``, volume in satoshi) or the
    ob-analytics 0.1.0 recorder's (``exchange_timestamp``, volume in BTC), which opens with the
    REST full book as ``created`` rows sharing one timestamp pair and closes with one delete per
    order still open, stamped ``timestamp == exchange_timestamp``.
``trades``
    ``trade_id,timestamp,exchange_timestamp,price,amount,buy_order_id,sell_order_id,side``
    (``exchange_timestamp`` and ``side`` optional; the order ids are not used).
``meta``
    The recorder's ``*_meta.json``: no rows; its counts are compared with what was read (notes).

Files given together are one stream, merged on ``ts_init`` (orders before trades on ties). At
most one source of order events and one of trades: a log together with its parsed CSV would
repeat every order event, so that combination is refused.

Timestamps
    ``ts_init`` is the local receive time. ``ts_event`` is the exchange time of the event where
    the source has one: the recorder's ``exchange_timestamp`` (and a log message's
    ``microtimestamp`` where present). The 2015 log's ``datetime`` (and the R CSV's
    ``exchange.timestamp``) is the order's *creation* second, repeated on its changes and
    deletes, so it is not the time of those events: those sources get ``ts_event = ts_init``.
    The recorder's live rows that arrived while its REST book was being fetched follow that book
    in the file (file order is exchange order) but carry earlier local times: they keep their
    place and get the book's ``ts_init`` - the first moment the book they change existed
    locally, as the Binance loader does for diffs buffered before a snapshot - so ``ts_init``
    never decreases; sorting them by local time instead would delete orders before the book that
    holds them. They are counted (``stats.ts_replayed``, a report note), not reported as
    problems. Any other backward step is clamped and marked ``out_of_order`` (kept).

Order book (L3_MBO, one ``BookOrder`` per exchange order id)
    ``created`` -> ``ADD``, ``changed`` -> ``UPDATE`` (remaining amount and price of the event),
    ``deleted`` -> ``DELETE``; every input row is one event and its last delta carries
    ``F_LAST``; ``sequence`` counts events. Bitstamp publishes an incoming order before its
    matches, and many orders (maker-or-cancel) that are rejected because they would take: a
    bid created at or above the best ask (or an ask changed onto the bids) would lock or cross
    the book. Such an order is held *in flight*: tracked, not in the book, until it no longer
    locks or crosses (then ``ADD`` with what is left of it, in the event that freed it) or is
    deleted (then no delta at all). Orders created with amount 0 (instant orders by value, at
    999,999,999) or price 0 (market sells; the REST book also prints bids below $0.50 as 0) are
    tracked the same way and never rest. An order that waits in flight ``stale_after_ms``
    without an event of its own proves the resting orders it locks/crosses gone - a matching
    engine never keeps a crossed book - and they are deleted (the 2026 REST book holds such
    ghosts: an ask at 78,333 untouched for 30 minutes while trades print at 78,380). So the
    book is never locked or crossed after an event (``stats.crossed_after_event`` counts it).
    A delete that arrives just before its own create (5 times in the 2015 log) cancels it out.

Anchoring (re-anchoring on ``order_book`` snapshots)
    A log starts mid-stream: orders created before the capture are not known by id (187 deletes
    of the 2015 log refer to them). Until the first snapshot nothing is emitted; the first
    snapshot anchors the book: every snapshot level gets, besides the known orders resting
    there, one *synthetic* order holding the rest of the level's size, with the recognisable id
    ``SYNTHETIC_ID_BASE | side << 60 | price_ticks`` (:func:`synthetic_order_id`), queued ahead
    of the known orders (they are older). The anchor is emitted as ``CLEAR`` + ``ADD`` s with
    ``F_SNAPSHOT`` (the last one ``F_LAST``). A recorder CSV opens with the full REST book with
    real ids: that block is the anchor, with no synthetic orders; an R CSV (no snapshots at all)
    is anchored empty at its first row.
    Later snapshots are compared with the rebuilt book over the snapshot's range - from its
    20th level to the top: no bid above its best bid exists either - (``stats.snapshot_*``
    count agreement *before* correcting), and a level that disagrees in
    ``correction_confirmations`` consecutive snapshots by the same amount (a one-off difference
    is most often the snapshot and the order stream being a few messages apart) is corrected
    through its synthetic order: more size -> the synthetic order grows (or is added at the back
    of the queue), less -> it shrinks or goes. Known orders are never removed by a snapshot; a
    level whose known orders alone exceed the snapshot is counted (``stats.excess_known``). A
    delete with a remaining amount of an unknown id at a level holding a synthetic order takes
    that amount out of it (the order was part of it); other changes and deletes of unknown ids
    are counted and not emitted: ``stale_update`` for ids below the first id created in the
    capture (the order predates it: expected, also in strict mode), ``unsynced`` for others (a
    created message is missing).

Trade sides (``AggressorSide``)
    The log's trades carry no side. A trade is the match of a resting order (the maker) with
    an incoming one (the taker); the aggressor is the taker. The evidence is in the order
    stream: each match shrinks both orders' remaining amounts by the traded amount (a
    ``changed`` to the new remaining amount, or a ``deleted`` with amount 0). For each trade,
    the unused *fills* within ``side_window_before_ms`` / ``side_window_after_ms`` of it whose
    decrease equals the trade amount to the satoshi are the candidates, the nearest in time per
    side; then, following obAnalytics' ``matchTrades`` (phil8192/ob-analytics ``R/trades.R``:
    the maker is the order that came first, Bitstamp's ids increase):

    1. a bid and an ask candidate: the one at the trade price is the maker (trades execute at
       the maker's price); both at it, the one with the smaller id is; the aggressor is the
       other one's side (``pair``);
    2. one candidate not at the trade price: it is a marketable taker; the aggressor is its
       side (``taker``);
    3. one candidate at the trade price: the maker, unless the other side shows a fill of
       unknown size at that price (an order that predates the capture, hence the maker); the
       aggressor is the opposite side (``maker``; the taker was a market or instant order, which
       is published without an amount or not at all);
    4. no exact candidate: a fill of unknown size at the trade price (a change or fill-delete
       of an order that predates the capture), on one side only, is the maker
       (``unknown_maker``).

    A consumed resting bid therefore makes the seller the aggressor. Measured: the 2015 log's
    575 trades are all decided (542 ``pair``, 27 ``taker``, 6 ``maker``), 570 of the 574 the
    quote rule can sign agree with it; on the 2026 capture with its side column removed, 284
    of 284 agree with the exchange's side. Trades the rules cannot
    decide are written with ``AggressorSide.NO_AGGRESSOR``, counted (``stats.sides``) and noted,
    never guessed. Trades are held back by the window (a trade message may arrive before its
    order events), so output stays in ``ts_init`` order. A trades CSV carries the exchange's own
    side: it is written (``trade_sides="file"``, default) and compared with the inference,
    which never sees that column nor the order ids (``stats.side_agreement``); with
    ``trade_sides="infer"`` the inferred sides are written instead.

Validation
    Prices must lie on the instrument's tick grid and sizes on its lot grid, up to float noise
    (1e-6 of a unit: the recorder writes floats, ``2.6e-06``, ``1.7885566900000001``);
    otherwise ``malformed`` naming the field. Negative prices (and 0 but on orders), negative
    amounts, zero trade and snapshot sizes, unparsable lines, unknown message kinds, duplicate creates, deletes and trade ids,
    crossed snapshots: dropped for their named issue. Strict mode raises on the first problem
    with ``file:line``. The recorder's closing deletes are written as one event (the capture's
    end empties the book at once; it is never seen half closed).

Instrument: ``BTCUSD.BITSTAMP`` (from the file names, or ``instrument_id``) built from its spec in
``catalog/instruments.toml`` (or ``spec_file``): tick $0.01 fits the 2015 cents and the 2026
whole dollars, lot 1e-8 BTC.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION, Price, Quantity

from catalog.book import L2Book
from catalog.instruments import build_instrument, get_spec
from catalog.loaders.tabular import MIN_TS_NS, check_file, merge_streams
from catalog.quality import DataQualityError, Issue, QualityReport

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
MS = 1_000_000

SYNTHETIC_ID_BASE = 1 << 62
"""Ids at or above this are synthetic orders (one per side and price level); Bitstamp's are < 2**53."""

CREATED, CHANGED, DELETED = "created", "changed", "deleted"
_KIND_OF_ACTION = {CREATED: "order_created", CHANGED: "order_changed", DELETED: "order_deleted"}
_RECENT_IDS = 200_000
"""Deleted order ids / trade ids remembered for duplicate detection (bounds memory)."""
_MAX_EARLY_DELETES = 10_000
"""Deletes of not-yet-created orders waiting for their create (older ones are given up)."""
_LOG_LINE = re.compile(rb"^\d+ (order_created|order_changed|order_deleted|trade|order_book) ")
_ORDERS_HEADER = ("id", "timestamp", "price", "volume", "action", "direction")
_TRADES_HEADER = ("trade_id", "timestamp", "price", "amount")

FileKind = Literal["log", "orders", "trades", "meta"]


def synthetic_order_id(is_bid: bool, price_ticks: int) -> int:
    """The id of the synthetic order standing for unknown orders at one level (see module doc)."""
    return SYNTHETIC_ID_BASE | (int(not is_bid) << 60) | price_ticks


def is_synthetic(order_id: int) -> bool:
    return order_id >= SYNTHETIC_ID_BASE


# --- parsed events (pure data: the book and the inference never see files) ------------------


@dataclass(slots=True)
class OrderEvent:
    """One order message: ``amount`` is the remaining amount in lots, ``price`` in ticks."""

    action: str
    order_id: int
    is_bid: bool
    price: int
    amount: int
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0
    ts_local: int = 0  # before clamping (0: same as ts_init)


@dataclass(slots=True)
class TradeEvent:
    """One trade; ``side`` is the file's own aggressor side (None: the source has none)."""

    trade_id: int
    price: int
    amount: int
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0
    side: AggressorSide | None = None


@dataclass(slots=True)
class LevelSnapshot:
    """A top-N price-level snapshot (``order_book``): ``(price_ticks, lots)``, best first."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class OrderImage:
    """The full order-by-order book the recorder fetched over REST (opens its CSV)."""

    orders: list[OrderEvent]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class BookClose:
    """The recorder's closing deletes (one per order still open when it stopped)."""

    orders: list[OrderEvent]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


Event = OrderEvent | TradeEvent | LevelSnapshot | OrderImage | BookClose


@dataclass(slots=True)
class Fill:
    """Evidence of a match: an order's remaining amount fell by ``lots`` (None: unknown)."""

    ts: int
    order_id: int
    is_bid: bool
    price: int
    lots: int | None
    used: bool = False


# --- options and statistics ------------------------------------------------------------------


@dataclass(frozen=True)
class BitstampLoaderConfig:
    """Options of :class:`BitstampLoader` (see the module docstring for what each one decides).

    Parameters
    ----------
    instrument_id : str or None
        Override the id implied by the file names (``bitstamp_btcusd_*`` -> ``BTCUSD.BITSTAMP``).
    spec_file : Path or None
        Instrument spec TOML; defaults to ``catalog/instruments.toml``.
    trade_sides : {"file", "infer"}
        Where a trade's aggressor side comes from when the file has one.
    side_window_before_ms, side_window_after_ms : int
        How far before / after a trade (local time) its order fills are looked for.
    correction_confirmations : int
        Consecutive snapshots a level must disagree in (by the same amount) before it is
        corrected; 0 disables corrections (the first snapshot still anchors).
    stale_after_ms : int
        How long an order may wait in flight without an event of its own before the resting
        orders it locks/crosses are taken as gone.
    """

    instrument_id: str | None = None
    spec_file: Path | None = None
    trade_sides: Literal["file", "infer"] = "file"
    side_window_before_ms: int = 2_000
    side_window_after_ms: int = 2_000
    correction_confirmations: int = 2
    stale_after_ms: int = 1_000

    def __post_init__(self) -> None:
        if self.trade_sides not in ("file", "infer"):
            raise ValueError(f"trade_sides must be 'file' or 'infer', got {self.trade_sides!r}")
        if self.side_window_before_ms < 0 or self.side_window_after_ms < 0:
            raise ValueError("side windows must be >= 0 ms")
        if self.correction_confirmations < 0:
            raise ValueError(f"correction_confirmations must be >= 0, got {self.correction_confirmations}")
        if self.stale_after_ms <= 0:
            raise ValueError(f"stale_after_ms must be > 0, got {self.stale_after_ms}")


@dataclass
class BitstampStats:
    """What one ``iter_data`` run did (complements the ``QualityReport``).

    ``kept[kind] + dropped[kind] == report.rows_read[kind]`` for every kind; ``sides`` counts
    trades by the rule that gave their side (``file`` when written from the trades CSV,
    ``none`` when no rule could decide).
    """

    file_kinds: dict[str, str] = field(default_factory=dict)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    events: int = 0
    anchors: int = 0
    synthetic_orders_seeded: int = 0
    synthetic_orders_added: int = 0
    corrections: int = 0
    corrected_lots: int = 0
    excess_known: int = 0
    unknown_ids: Counter[str] = field(default_factory=Counter)
    unknown_deletes_from_synthetic: int = 0
    image_orders: int = 0
    closing_deletes: int = 0
    unpriced_orders: int = 0
    stale_removals: int = 0
    stale_orders_removed: int = 0
    deletes_before_create: int = 0
    held_in_flight: int = 0
    released_from_flight: int = 0
    takers_never_rested: int = 0
    crossed_after_event: int = 0
    snapshots_compared: int = 0
    snapshot_best_agree: int = 0
    snapshot_top5_agree: int = 0
    snapshot_all_agree: int = 0
    sides: Counter[str] = field(default_factory=Counter)
    inferred: Counter[str] = field(default_factory=Counter)
    side_agreement: Counter[str] = field(default_factory=Counter)
    ts_replayed: int = 0
    ts_clamped: int = 0
    meta: dict = field(default_factory=dict)


class _Reject(Exception):
    """Internal: a row fails validation with ``issue`` in ``field_name``."""

    def __init__(self, issue: Issue, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.issue = issue
        self.field_name = field_name
        self.detail = detail


def to_units(value: str | float | int, scale: int, field_name: str, *, what: str) -> int:
    """``value * scale`` as an integer (ticks or lots); raise ``_Reject`` if it is off the grid.

    Float noise up to 1e-6 of a unit is not information (the recorder writes Python floats);
    more than that means the value is not a multiple of the tick / lot.
    """
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise _Reject(Issue.MALFORMED, field_name, f"{what} {value!r} is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    else:
        raise _Reject(Issue.MALFORMED, field_name, f"{what} {value!r} is not a number")
    if not math.isfinite(x):
        raise _Reject(Issue.NAN, field_name, f"{what} {value!r} is not finite")
    scaled = x * scale
    units = round(scaled)
    if abs(scaled - units) > 1e-6 + 4e-16 * abs(scaled):
        raise _Reject(Issue.MALFORMED, field_name, f"{what} {value} is not a multiple of {1 / scale:g}")
    return units


# --- the book (pure state machine) -----------------------------------------------------------


class _Order:
    __slots__ = ("amount", "is_bid", "order_id", "price", "resting", "since")

    def __init__(self, order_id: int, is_bid: bool, price: int, amount: int) -> None:
        self.order_id = order_id
        self.is_bid = is_bid
        self.price = price
        self.amount = amount
        self.resting = False
        self.since = 0  # ts_init of its last event while in flight


_Row = tuple[BookAction, bool, int, int, int, int]
"""A delta before it becomes a Nautilus object: ``(action, is_bid, price, lots, order_id, flags)``."""


class L3Rebuilder:
    """Rebuild Bitstamp's L3 book from order events and emit Nautilus deltas for it.

    Pure (no files): feed events in stream order with :meth:`apply`, which returns that event's
    deltas, ``F_LAST`` on the last. Fills go to ``on_fill`` (the side inference). See the
    module docstring for the in-flight rule, anchoring, synthetic orders and corrections.

    Parameters
    ----------
    instrument : Instrument
        Gives the id and the price / size precisions.
    report : QualityReport
        Receives dropped rows (unknown ids, duplicates).
    stats : BitstampStats
        Counts what was done.
    wait_for_snapshot : bool
        Emit nothing before the first ``LevelSnapshot`` (a log starts mid-stream); otherwise the
        book is anchored by the first event (an ``OrderImage``, or an empty book).
    correction_confirmations, stale_after_ms : int
        See :class:`BitstampLoaderConfig`.
    on_fill : callable, optional
        Called with every :class:`Fill` the order stream reveals.
    """

    def __init__(
        self,
        instrument: Instrument,
        report: QualityReport,
        stats: BitstampStats,
        *,
        wait_for_snapshot: bool = True,
        correction_confirmations: int = 2,
        stale_after_ms: int = 1_000,
        on_fill: Callable[[Fill], None] | None = None,
    ) -> None:
        self.iid = instrument.id
        self.price_precision = instrument.price_precision
        self.size_precision = instrument.size_precision
        self._price_raw = 10 ** (FIXED_PRECISION - instrument.price_precision)
        self._size_raw = 10 ** (FIXED_PRECISION - instrument.size_precision)
        self.report = report
        self.stats = stats
        self.wait_for_snapshot = wait_for_snapshot
        self.confirmations = correction_confirmations
        self.stale_after_ns = stale_after_ms * MS
        self.on_fill = on_fill
        self.orders: dict[int, _Order] = {}
        self.in_flight: dict[int, _Order] = {}
        self.synthetic: dict[tuple[bool, int], int] = {}  # (is_bid, price) -> lots
        self.levels = L2Book()  # resting lots per level, known + synthetic
        self.anchored = False
        self.first_live_id: int | None = None
        self._closed: set[int] = set()
        self._closed_order: deque[int] = deque()
        self._early_deletes: dict[int, OrderEvent] = {}
        self._now = 0
        self._prices: dict[int, Price] = {}
        self._unconfirmed: dict[tuple[bool, int], tuple[int, int]] = {}  # level -> (diff, times seen)

    # -- Nautilus objects ------------------------------------------------------------------------

    def price(self, ticks: int) -> Price:
        p = self._prices.get(ticks)
        if p is None:
            if len(self._prices) > 100_000:
                self._prices.clear()
            p = self._prices[ticks] = Price.from_raw(ticks * self._price_raw, self.price_precision)
        return p

    def qty(self, lots: int) -> Quantity:
        return Quantity.from_raw(lots * self._size_raw, self.size_precision)

    # -- levels ----------------------------------------------------------------------------------

    def _level_add(self, is_bid: bool, price: int, lots: int) -> None:
        side = self.levels.bids if is_bid else self.levels.asks
        self.levels.set_level(is_bid, price, side.get(price, 0) + lots)

    def level_lots(self, is_bid: bool, price: int) -> int:
        """Resting lots (known + synthetic orders) at one level of the rebuilt book."""
        return (self.levels.bids if is_bid else self.levels.asks).get(price, 0)

    def top(self, is_bid: bool, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of one side as ``(price_ticks, lots)``."""
        book = self.levels.bids if is_bid else self.levels.asks
        prices = sorted(book, reverse=is_bid)[:n]
        return [(p, book[p]) for p in prices]

    def _fits(self, is_bid: bool, price: int, amount: int) -> bool:
        """Whether an order can rest: a price, a positive amount, and it neither locks nor crosses."""
        if amount <= 0 or price <= 0:
            return False
        if is_bid:
            ask = self.levels.best_ask_ticks()
            return ask is None or price < ask
        bid = self.levels.best_bid_ticks()
        return bid is None or price > bid

    # -- events ----------------------------------------------------------------------------------

    def apply(self, ev: Event) -> list[OrderBookDelta]:
        """Apply one event; return its deltas (empty when it changes nothing visible)."""
        self.stats.events += 1
        self._now = ev.ts_init
        rows: list[_Row] = []
        if not self.anchored and not self.wait_for_snapshot and not isinstance(ev, OrderImage):
            rows.extend(self._anchor_rows())  # no snapshot will come: the book starts empty here
        if isinstance(ev, OrderEvent):
            self._order_event(ev, rows)
        elif isinstance(ev, LevelSnapshot):
            self._snapshot(ev, rows)
        elif isinstance(ev, OrderImage):
            self._image(ev, rows)
        elif isinstance(ev, BookClose):
            self.stats.closing_deletes += len(ev.orders)
            for order_ev in ev.orders:
                self._order_event(order_ev, rows)
        else:
            raise TypeError(f"not a book event: {type(ev).__name__}")
        if self.in_flight:
            self._release(rows)
        if not self.anchored:
            return []
        if self.levels.crossed_or_locked() is not None:
            self.stats.crossed_after_event += 1
        return self._materialise(rows, ev.ts_event, ev.ts_init)

    def _materialise(self, rows: list[_Row], ts_event: int, ts_init: int) -> list[OrderBookDelta]:
        iid, seq, n = self.iid, self.stats.events, len(rows)
        out = []
        for i, (action, is_bid, price, lots, oid, flags) in enumerate(rows, start=1):
            if i == n:
                flags |= F_LAST
            order = None
            if action != BookAction.CLEAR:
                order = BookOrder(OrderSide.BUY if is_bid else OrderSide.SELL, self.price(price), self.qty(lots), oid)
            out.append(OrderBookDelta(iid, action, order, flags, seq, ts_event, ts_init))
        return out

    def _order_event(self, ev: OrderEvent, rows: list[_Row]) -> None:
        kind = _KIND_OF_ACTION[ev.action]
        order = self.orders.get(ev.order_id)
        if ev.action == CREATED:
            early = self._early_deletes.pop(ev.order_id, None)
            if early is not None:
                self._cancel_out(early, ev)
                return
            if order is not None or ev.order_id in self._closed:
                self._drop(ev, kind, Issue.DUPLICATE, f"order id {ev.order_id} created twice")
                return
            if self.first_live_id is None or ev.order_id < self.first_live_id:
                self.first_live_id = ev.order_id
            self.stats.kept[kind] += 1
            if ev.price == 0 or ev.amount == 0:
                self.stats.unpriced_orders += 1
            order = self.orders[ev.order_id] = _Order(ev.order_id, ev.is_bid, ev.price, ev.amount)
            self._settle(order, False, rows)
            return
        if order is None:
            self._unknown(ev, kind, rows)
            return
        self.stats.kept[kind] += 1
        if ev.action == CHANGED:
            if ev.amount < order.amount:
                self._fill(ev, order.amount - ev.amount)
            was_resting = order.resting
            if was_resting:
                self._level_add(order.is_bid, order.price, -order.amount)
                old = (order.price, order.amount)
            order.price, order.amount = ev.price, ev.amount
            if was_resting and not self._fits(order.is_bid, order.price, order.amount):
                order.resting = False
                rows.append((BookAction.DELETE, order.is_bid, old[0], old[1], order.order_id, 0))
            self._settle(order, was_resting, rows)
            return
        # deleted: amount 0 = filled; a positive amount is what was left when it was cancelled
        if ev.amount < order.amount:
            self._fill(ev, order.amount - ev.amount)
        del self.orders[ev.order_id]
        self._remember_closed(ev.order_id)
        if order.resting:
            self._level_add(order.is_bid, order.price, -order.amount)
            rows.append((BookAction.DELETE, order.is_bid, order.price, order.amount, order.order_id, 0))
        elif self.in_flight.pop(ev.order_id, None) is not None:
            self.stats.takers_never_rested += 1

    def _settle(self, order: _Order, update: bool, rows: list[_Row]) -> None:
        """Put ``order`` where it belongs after an event: resting (ADD / UPDATE) or in flight."""
        if not self._fits(order.is_bid, order.price, order.amount):
            if order.order_id not in self.in_flight:
                self.in_flight[order.order_id] = order
                self.stats.held_in_flight += 1
            order.since = self._now  # its last event: a sweep in progress keeps changing it
            return
        if self.in_flight.pop(order.order_id, None) is not None:
            self.stats.released_from_flight += 1
        self._level_add(order.is_bid, order.price, order.amount)
        action = BookAction.UPDATE if update and order.resting else BookAction.ADD
        order.resting = True
        rows.append((action, order.is_bid, order.price, order.amount, order.order_id, 0))

    def _release(self, rows: list[_Row]) -> None:
        """Rest the in-flight orders this event freed, or that waited too long (module docstring)."""
        for order in list(self.in_flight.values()):
            if self._fits(order.is_bid, order.price, order.amount):
                self._settle(order, False, rows)
            elif order.amount > 0 and order.price > 0 and self._now - order.since > self.stale_after_ns:
                self._remove_crossed(order, rows)
                self._settle(order, False, rows)

    def _remove_crossed(self, held: _Order, rows: list[_Row]) -> None:
        """Take out of the book the resting orders ``held`` has locked/crossed for too long.

        A matching engine never keeps a crossed book: an order that rests in the exchange's book
        opposite a price it would trade at for ``stale_after_ms`` without a fill or a delete is
        not there (a delete the feed lost; a stale REST row). Known orders stay tracked (a later
        change of one proves it alive and rests it again); synthetic ones go.
        """
        opposite = not held.is_bid

        def crossed(price: int) -> bool:
            return price <= held.price if held.is_bid else price >= held.price

        self.stats.stale_removals += 1
        for o in self.orders.values():
            if o.resting and o.is_bid == opposite and crossed(o.price):
                o.resting = False
                self._level_add(o.is_bid, o.price, -o.amount)
                rows.append((BookAction.DELETE, o.is_bid, o.price, o.amount, o.order_id, 0))
                self.stats.stale_orders_removed += 1
        for (is_bid, price), lots in list(self.synthetic.items()):
            if is_bid == opposite and crossed(price):
                self._synthetic_change(is_bid, price, -lots, rows)
                self.stats.stale_orders_removed += 1

    def _unknown(self, ev: OrderEvent, kind: str, rows: list[_Row]) -> None:
        """A change or delete of an order id the book does not know."""
        if ev.order_id in self._closed:
            if ev.action == DELETED:
                self._drop(ev, kind, Issue.DUPLICATE, f"order id {ev.order_id} deleted twice")
            else:
                self._drop(ev, kind, Issue.OUT_OF_ORDER, f"change of order id {ev.order_id} after its delete")
            return
        if ev.action == DELETED and self.first_live_id is not None and ev.order_id > self.first_live_id:
            # Newer than the capture's first order: its created message may still come (the feed
            # sometimes sends the delete first); decided when it does, or at the end.
            self._early_deletes[ev.order_id] = ev
            if len(self._early_deletes) > _MAX_EARLY_DELETES:
                self._unmatched_delete(self._early_deletes.pop(next(iter(self._early_deletes))))
            return
        if ev.action == CHANGED or ev.amount == 0:
            self._fill(ev, None)  # a match of unknown size
        if ev.action == DELETED:
            self._remember_closed(ev.order_id)
            if ev.amount > 0 and self.synthetic.get((ev.is_bid, ev.price)):
                self.stats.kept[kind] += 1
                self.stats.unknown_deletes_from_synthetic += 1
                self._synthetic_change(ev.is_bid, ev.price, -ev.amount, rows)
                return
        self.stats.unknown_ids[ev.action] += 1
        predates = self.first_live_id is None or ev.order_id < self.first_live_id
        issue = Issue.STALE_UPDATE if predates else Issue.UNSYNCED
        why = "created before the capture" if predates else "its created message is missing"
        self._drop(ev, kind, issue, f"{ev.action} of unknown order id {ev.order_id} ({why})",
                   "dropped, not emitted")

    def _cancel_out(self, delete: OrderEvent, create: OrderEvent) -> None:
        """A delete that arrived before its create: the order never rested; both rows are kept."""
        self.stats.kept["order_deleted"] += 1
        self.stats.kept["order_created"] += 1
        self.stats.deletes_before_create += 1
        self._remember_closed(create.order_id)
        self.report.problem(Issue.OUT_OF_ORDER, file=delete.file, line=delete.line, field_name="id",
                            detail=f"delete of order id {delete.order_id} came before its create (line {create.line})",
                            handling="kept: the order never rests, no delta", kept=True)

    def _unmatched_delete(self, ev: OrderEvent) -> None:
        self.stats.unknown_ids[ev.action] += 1
        self._remember_closed(ev.order_id)
        self._drop(ev, "order_deleted", Issue.UNSYNCED,
                   f"delete of unknown order id {ev.order_id} (newer than the capture's first order; its "
                   f"created message is missing)")

    def finish(self) -> None:
        """End of the stream: deletes still waiting for their create are unsynced."""
        while self._early_deletes:
            self._unmatched_delete(self._early_deletes.pop(next(iter(self._early_deletes))))

    def _drop(self, ev: OrderEvent, kind: str, issue: Issue, detail: str, handling: str = "dropped") -> None:
        self.stats.dropped[kind] += 1
        self.report.problem(issue, file=ev.file, line=ev.line, field_name="id", detail=detail, handling=handling)

    def _fill(self, ev: OrderEvent, lots: int | None) -> None:
        if self.on_fill is not None:
            self.on_fill(Fill(ev.ts_init, ev.order_id, ev.is_bid, ev.price, lots))

    def _remember_closed(self, order_id: int) -> None:
        self._closed.add(order_id)
        self._closed_order.append(order_id)
        if len(self._closed_order) > _RECENT_IDS:
            self._closed.discard(self._closed_order.popleft())

    # -- synthetic orders, anchoring, corrections ------------------------------------------------

    def _synthetic_change(self, is_bid: bool, price: int, lots: int, rows: list[_Row]) -> bool:
        """Grow (``lots`` > 0) or shrink the synthetic order of a level (not below 0)."""
        key = (is_bid, price)
        old = self.synthetic.get(key, 0)
        new = max(0, old + lots)
        if new == old:
            return False
        oid = synthetic_order_id(is_bid, price)
        self._level_add(is_bid, price, new - old)
        if new == 0:
            del self.synthetic[key]
            rows.append((BookAction.DELETE, is_bid, price, old, oid, 0))
        elif old == 0:
            self.synthetic[key] = new
            self.stats.synthetic_orders_added += 1
            rows.append((BookAction.ADD, is_bid, price, new, oid, 0))
        else:
            self.synthetic[key] = new
            rows.append((BookAction.UPDATE, is_bid, price, new, oid, 0))
        return True

    def _anchor_rows(self) -> list[_Row]:
        """CLEAR + ADD of everything resting (synthetic first within a level), all F_SNAPSHOT."""
        self.anchored = True
        self.stats.anchors += 1
        rows: list[_Row] = [(BookAction.CLEAR, True, 0, 0, 0, F_SNAPSHOT)]
        body = [(is_bid, price, synthetic_order_id(is_bid, price), lots)
                for (is_bid, price), lots in self.synthetic.items()]
        body += [(o.is_bid, o.price, o.order_id, o.amount) for o in self.orders.values() if o.resting]
        body.sort(key=lambda r: (not r[0], -r[1] if r[0] else r[1], not is_synthetic(r[2])))  # stable
        rows += [(BookAction.ADD, is_bid, price, lots, oid, F_SNAPSHOT) for is_bid, price, oid, lots in body]
        return rows

    def _snapshot(self, snap: LevelSnapshot, rows: list[_Row]) -> None:
        if not self.anchored:
            for is_bid, levels in ((True, snap.bids), (False, snap.asks)):
                for price, lots in levels:
                    rest = lots - self.level_lots(is_bid, price)
                    if rest > 0:
                        self.synthetic[(is_bid, price)] = rest
                        self._level_add(is_bid, price, rest)
                        self.stats.synthetic_orders_seeded += 1
            rows.extend(self._anchor_rows())
            return
        self._compare(snap)
        if self.confirmations == 0:
            return
        seen: dict[tuple[bool, int], tuple[int, int]] = {}
        for is_bid, diffs in self._range_diffs(snap):
            for price, diff in diffs.items():
                key = (is_bid, price)
                prev = self._unconfirmed.get(key)
                count = prev[1] + 1 if prev is not None and prev[0] == diff else 1
                if count < self.confirmations:
                    seen[key] = (diff, count)
                    continue
                if diff < 0 and self.synthetic.get(key, 0) < -diff:
                    self.stats.excess_known += 1
                if self._synthetic_change(is_bid, price, diff, rows):
                    self.stats.corrections += 1
                    self.stats.corrected_lots += abs(diff)
        self._unconfirmed = seen

    def _range_diffs(self, snap: LevelSnapshot) -> Iterator[tuple[bool, dict[int, int]]]:
        """Per side, ``price -> snapshot lots - rebuilt lots`` over the snapshot's price range.

        The range of a top-N snapshot is everything from its N-th level to the top of the book:
        a bid above its best bid (an ask below its best ask) does not exist either.
        """
        for is_bid, levels, book in ((True, snap.bids, self.levels.bids), (False, snap.asks, self.levels.asks)):
            if not levels:
                continue
            want = dict(levels)
            deepest = min(want) if is_bid else max(want)
            diffs = {p: lots - book.get(p, 0) for p, lots in want.items() if lots != book.get(p, 0)}
            diffs.update({p: -lots for p, lots in book.items()
                          if p not in want and (p >= deepest if is_bid else p <= deepest)})
            yield is_bid, diffs

    def _compare(self, snap: LevelSnapshot) -> None:
        s = self.stats
        s.snapshots_compared += 1
        bids, asks = self.top(True, len(snap.bids)), self.top(False, len(snap.asks))
        if bids[:1] == snap.bids[:1] and asks[:1] == snap.asks[:1]:
            s.snapshot_best_agree += 1
        if bids[:5] == snap.bids[:5] and asks[:5] == snap.asks[:5]:
            s.snapshot_top5_agree += 1
        if bids == snap.bids and asks == snap.asks:
            s.snapshot_all_agree += 1

    def _image(self, image: OrderImage, rows: list[_Row]) -> None:
        """The recorder's REST book replaces whatever was known (real ids: no synthetic orders)."""
        self.stats.image_orders += len(image.orders)
        self.orders.clear()
        self.in_flight.clear()
        self.synthetic.clear()
        self.levels.clear()
        for ev in image.orders:
            kind = _KIND_OF_ACTION[ev.action]
            if ev.order_id in self.orders:
                self._drop(ev, kind, Issue.DUPLICATE, f"order id {ev.order_id} twice in the REST book")
                continue
            self.stats.kept[kind] += 1
            order = self.orders[ev.order_id] = _Order(ev.order_id, ev.is_bid, ev.price, ev.amount)
            if ev.price == 0 or ev.amount == 0:
                self.stats.unpriced_orders += 1  # tracked, never rests (module docstring)
            else:
                order.resting = True
                self._level_add(ev.is_bid, ev.price, ev.amount)
        rows.extend(self._anchor_rows())


# --- trade side inference (pure) -------------------------------------------------------------


class SideInference:
    """Infer trades' aggressor sides from the fills the order stream reveals (module docstring).

    Feed fills with :meth:`add` as the order events are applied and ask :meth:`infer` for a
    trade once every fill up to ``after_ns`` past it has been added.
    """

    def __init__(self, before_ns: int, after_ns: int) -> None:
        self.before_ns = before_ns
        self.after_ns = after_ns
        self._fills: deque[Fill] = deque()

    def add(self, fill: Fill) -> None:
        """Record a fill (in ``ts`` order); fills too old for any waiting trade are forgotten."""
        self._fills.append(fill)
        self.prune(fill.ts)

    def prune(self, now_ns: int) -> None:
        """Forget fills no trade still waiting can use."""
        horizon = now_ns - self.before_ns - 2 * self.after_ns
        fills = self._fills
        while fills and fills[0].ts < horizon:
            fills.popleft()

    def infer(self, price: int, lots: int, ts: int) -> tuple[AggressorSide, str]:
        """Return ``(side, rule)``; rule is ``pair|taker|maker|unknown_maker`` or ``none``/``ambiguous``."""
        lo, hi = ts - self.before_ns, ts + self.after_ns
        best: dict[bool, Fill] = {}
        unknown_at_price: dict[bool, Fill] = {}
        for f in self._fills:
            if f.used or f.ts < lo or f.ts > hi:
                continue
            if f.lots is None:
                if f.price == price:
                    cur = unknown_at_price.get(f.is_bid)
                    if cur is None or abs(f.ts - ts) < abs(cur.ts - ts):
                        unknown_at_price[f.is_bid] = f
                continue
            if f.lots != lots or (f.is_bid and f.price < price) or (not f.is_bid and f.price > price):
                continue  # not this match, or not marketable at this trade's price
            cur = best.get(f.is_bid)
            if cur is None or abs(f.ts - ts) < abs(cur.ts - ts):
                best[f.is_bid] = f
        bid, ask = best.get(True), best.get(False)
        if bid is not None and ask is not None:
            bid_at, ask_at = bid.price == price, ask.price == price
            if bid_at and ask_at:
                maker_is_bid = bid.order_id < ask.order_id
            elif bid_at or ask_at:
                maker_is_bid = bid_at
            else:
                return AggressorSide.NO_AGGRESSOR, "ambiguous"
            bid.used = ask.used = True
            return (AggressorSide.SELLER if maker_is_bid else AggressorSide.BUYER), "pair"
        one = bid or ask
        if one is not None:
            one.used = True
            if one.price != price:
                return (AggressorSide.BUYER if one.is_bid else AggressorSide.SELLER), "taker"
            other_unknown = unknown_at_price.get(not one.is_bid)
            if other_unknown is not None:
                other_unknown.used = True
                return (AggressorSide.BUYER if one.is_bid else AggressorSide.SELLER), "taker"
            return (AggressorSide.SELLER if one.is_bid else AggressorSide.BUYER), "maker"
        if len(unknown_at_price) == 1:
            (f,) = unknown_at_price.values()
            f.used = True
            return (AggressorSide.SELLER if f.is_bid else AggressorSide.BUYER), "unknown_maker"
        if unknown_at_price:
            return AggressorSide.NO_AGGRESSOR, "ambiguous"
        return AggressorSide.NO_AGGRESSOR, "none"


# --- file reading ----------------------------------------------------------------------------


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - caller closes


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line_number, raw_line)`` of a possibly compressed file; damage names the file and line."""
    lineno = 0
    try:
        with _open_binary(path) as fh:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 - used in except
                yield lineno, raw
    except EOFError as e:
        raise DataQualityError(f"{path}:{lineno + 1}: truncated file (ends after line {lineno}): {e}") from e
    except (lzma.LZMAError, gzip.BadGzipFile, OSError) as e:
        raise DataQualityError(f"{path}:{lineno + 1}: cannot read: {e}") from e


def detect_kind(path: Path) -> FileKind:
    """Tell a file's kind from its first line (see the module docstring)."""
    first = b""
    for _, raw in _lines(path):
        if raw.strip():
            first = raw.strip()
            break
    if not first:
        raise DataQualityError(f"{path}: file is empty")
    if _LOG_LINE.match(first):
        return "log"
    if first.startswith(b"{"):
        return "meta"
    header = tuple(c.strip() for c in first.decode("utf-8", "replace").split(","))
    if all(c in header for c in _TRADES_HEADER):
        return "trades"
    if all(c in header for c in _ORDERS_HEADER) and ({"exchange.timestamp", "exchange_timestamp"} & set(header)):
        return "orders"
    raise DataQualityError(
        f"{path}:1: not a Bitstamp capture: expected '<local_ms> order_created|...|order_book <json>' "
        f"lines, an orders CSV ({','.join(_ORDERS_HEADER)}) or a trades CSV header; got {first[:80]!r}",
    )


class _LogOrder(msgspec.Struct):
    price: str | float
    amount: str | float
    id: int
    order_type: int
    datetime: str | int | None = None
    microtimestamp: str | int | None = None


class _LogTrade(msgspec.Struct):
    price: str | float
    amount: str | float
    id: int
    type: int | None = None
    microtimestamp: str | int | None = None


class _LogBook(msgspec.Struct):
    bids: list[tuple[str | float, str | float]]
    asks: list[tuple[str | float, str | float]]
    microtimestamp: str | int | None = None


_DECODERS = {
    "order_created": msgspec.json.Decoder(_LogOrder),
    "order_changed": msgspec.json.Decoder(_LogOrder),
    "order_deleted": msgspec.json.Decoder(_LogOrder),
    "trade": msgspec.json.Decoder(_LogTrade),
    "order_book": msgspec.json.Decoder(_LogBook),
}
_ACTION_OF_KIND = {v: k for k, v in _KIND_OF_ACTION.items()}
_FIELD_RE = re.compile(r"`\$\.?([^`]*)`")


class _Reader:
    """Parse one file into events, validating each row (shared clock, scales and accounting)."""

    def __init__(self, path: Path, tick_scale: int, lot_scale: int,
                 report: QualityReport, stats: BitstampStats) -> None:
        self.path = path
        self.file = str(path)
        self.tick_scale = tick_scale
        self.lot_scale = lot_scale
        self.report = report
        self.stats = stats
        self.last_ts = 0
        self.floor_ts = 0  # ts_init of the REST book: live rows received before it replay at it
        self.max_ts = time.time_ns() + 86_400 * 10**9

    def drop(self, kind: str, issue: Issue, line: int, field_name: str | None, detail: str) -> None:
        self.stats.dropped[kind] += 1
        self.report.problem(issue, file=self.file, line=line, field_name=field_name, detail=detail)

    def local_ts(self, ms: int, line: int, field_name: str = "timestamp") -> tuple[int, int]:
        """``(ts_init, raw local ns)``: clamp a backward step (see the module docstring)."""
        ts = ms * MS
        if not MIN_TS_NS <= ts <= self.max_ts:
            raise _Reject(Issue.MALFORMED, field_name, f"timestamp {ms} outside 2000-01-01 .. now+1d")
        raw = ts
        if ts < self.last_ts:
            if ts < self.floor_ts and self.last_ts == self.floor_ts:
                self.stats.ts_replayed += 1
            else:
                self.stats.ts_clamped += 1
                self.report.problem(Issue.OUT_OF_ORDER, file=self.file, line=line, field_name=field_name,
                                    detail=f"local time {ms} ms before the previous {self.last_ts // MS} ms",
                                    handling="ts_init clamped to the previous row", kept=True)
            ts = self.last_ts
        self.last_ts = ts
        return ts, raw

    def ticks(self, value: str | float, field_name: str, *, allow_zero: bool = False) -> int:
        """A price in ticks; 0 only where ``allow_zero`` (an order's "no price", see the module doc)."""
        t = to_units(value, self.tick_scale, field_name, what="price")
        if t < 0 or (t == 0 and not allow_zero):
            raise _Reject(Issue.NON_POSITIVE_PRICE, field_name, f"price {value} <= 0")
        return t

    def lots(self, value: str | float, field_name: str, *, positive: bool = False, scale: int | None = None) -> int:
        n = to_units(value, scale or self.lot_scale, field_name, what="amount")
        if n < 0:
            raise _Reject(Issue.NEGATIVE_SIZE, field_name, f"amount {value} < 0")
        if positive and n == 0:
            raise _Reject(Issue.ZERO_SIZE, field_name, f"amount {value} is zero")
        return n

    # -- the raw log -----------------------------------------------------------------------------

    def read_log(self) -> Iterator[Event]:
        """``<local_ms> <kind> <json>`` lines as events (see the module docstring)."""
        for lineno, raw in _lines(self.path):
            if not raw.strip():
                continue
            parts = raw.split(b" ", 2)
            kind = parts[1].decode("ascii", "replace") if len(parts) == 3 else ""
            if kind not in _DECODERS:
                if len(parts) == 3 and parts[0].isdigit():
                    self.report.read("unknown")
                    self.drop("unknown", Issue.UNKNOWN_STREAM, lineno, "kind",
                              f"message kind {kind[:40]!r} is not one of {', '.join(_DECODERS)}")
                else:
                    self.report.read("malformed")
                    self.drop("malformed", Issue.MALFORMED, lineno, "line", "expected '<local_ms> <kind> <json>'")
                continue
            self.report.read(kind)
            try:
                ev = self._log_event(kind, parts[0], parts[2], lineno)
            except _Reject as r:
                self.drop(kind, r.issue, lineno, r.field_name, r.detail)
                continue
            yield ev

    def _log_event(self, kind: str, ts_text: bytes, body: bytes, lineno: int) -> Event:
        try:
            ms = int(ts_text)
        except ValueError:
            raise _Reject(Issue.MALFORMED, "local_ms", f"local time {ts_text[:40]!r} is not an integer") from None
        try:
            msg = _DECODERS[kind].decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            names = _FIELD_RE.findall(str(e))
            raise _Reject(Issue.MALFORMED, names[0] if names else "json", f"invalid {kind} message: {e}") from None
        ts_init, raw_ts = self.local_ts(ms, lineno, "local_ms")
        exch = _micro_ns(msg.microtimestamp)
        ts_event = exch if exch is not None else ts_init
        if kind == "trade":
            side = None if msg.type is None else (AggressorSide.BUYER if msg.type == 0 else AggressorSide.SELLER)
            price, lots = self.ticks(msg.price, "price"), self.lots(msg.amount, "amount", positive=True)
            return TradeEvent(msg.id, price, lots, ts_init, ts_event, self.file, lineno, side)
        if kind == "order_book":
            snap = LevelSnapshot(self.levels(msg.bids, "bids"), self.levels(msg.asks, "asks"),
                                 ts_init, ts_event, self.file, lineno)
            if snap.bids and snap.asks and snap.bids[0][0] >= snap.asks[0][0]:
                issue = Issue.CROSSED_BOOK if snap.bids[0][0] > snap.asks[0][0] else Issue.LOCKED_BOOK
                raise _Reject(issue, "bids", f"best bid {snap.bids[0][0]} >= best ask {snap.asks[0][0]} (ticks)")
            self.stats.kept[kind] += 1
            return snap
        if msg.order_type not in (0, 1):
            raise _Reject(Issue.MALFORMED, "order_type", f"order_type {msg.order_type} is not 0 (bid) or 1 (ask)")
        price = self.ticks(msg.price, "price", allow_zero=True)
        return OrderEvent(_ACTION_OF_KIND[kind], msg.id, msg.order_type == 0, price, self.lots(msg.amount, "amount"),
                          ts_init, ts_event, self.file, lineno, raw_ts)

    def levels(self, rows: list[tuple[str | float, str | float]], name: str) -> list[tuple[int, int]]:
        return [(self.ticks(p, f"{name}[{i}][0]"), self.lots(a, f"{name}[{i}][1]", positive=True))
                for i, (p, a) in enumerate(rows)]

    # -- CSVs ------------------------------------------------------------------------------------

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """``(line, {column: value})``; a row with the wrong field count comes as ``{"": why}``."""
        header: list[str] | None = None
        for lineno, raw in _lines(self.path):
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            if header is None:
                header = [c.strip() for c in text.split(",")]
                continue
            values = next(csv.reader([text]))
            if len(values) != len(header):
                yield lineno, {"": f"{len(values)} fields, the header has {len(header)}"}
                continue
            yield lineno, dict(zip(header, values, strict=True))

    def read_orders(self) -> Iterator[Event]:
        """Order rows; the recorder's opening REST block and closing deletes become one event each.

        The recorder (header ``exchange_timestamp``) writes its REST book as the leading
        ``created`` rows sharing one ``(timestamp, exchange_timestamp)``, and its closing deletes
        as trailing ``deleted`` rows stamped ``timestamp == exchange_timestamp`` (live rows lag
        the exchange by tens of ms). Candidate closing rows are buffered while they share one
        timestamp and given back as ordinary deletes if a later row follows them.
        """
        recorder = detect_recorder(self.path)
        image: list[OrderEvent] = []
        image_key: tuple[int, int | None] | None = None
        opening = recorder
        closing: list[OrderEvent] = []
        for lineno, row in self._csv_rows():
            action = row.get("action", "").strip()
            kind = _KIND_OF_ACTION.get(action, "malformed")
            self.report.read(kind)
            if opening and image:
                self.floor_ts = self.last_ts  # a step back below the REST book ends it (see local_ts)
            try:
                ev, key = self.order_row(row, action, lineno, recorder)
            except _Reject as r:
                self.drop(kind, r.issue, lineno, r.field_name, r.detail)
                continue
            if opening:
                if action == CREATED and (image_key is None or key == image_key):
                    image_key = key
                    image.append(ev)
                    continue
                opening = False
                if image:
                    self.floor_ts = image[0].ts_init
                    yield OrderImage(image, image[0].ts_init, image[0].ts_event, self.file, image[0].line)
                    image = []
            if recorder and action == DELETED and key[1] == key[0]:
                if closing and closing[-1].ts_local != ev.ts_local:
                    yield from closing
                    closing = []
                closing.append(ev)
                continue
            if closing:
                yield from closing
                closing = []
            yield ev
        if image:
            yield OrderImage(image, image[0].ts_init, image[0].ts_event, self.file, image[0].line)
        if closing:
            yield BookClose(closing, closing[0].ts_init, closing[0].ts_event, self.file, closing[0].line)

    def order_row(self, row: dict[str, str], action: str, lineno: int,
                  recorder: bool) -> tuple[OrderEvent, tuple[int, int | None]]:
        """One order row as an event plus its ``(local_ms, exchange_ms)``."""
        if "" in row:
            raise _Reject(Issue.MALFORMED, "line", row[""])
        if action not in _KIND_OF_ACTION:
            raise _Reject(Issue.MALFORMED, "action", f"action {action!r} is not created|changed|deleted")
        direction = row["direction"].strip()
        if direction not in ("bid", "ask"):
            raise _Reject(Issue.MALFORMED, "direction", f"direction {direction!r} is not bid|ask")
        ms = _int_field(row, "timestamp")
        exch_field = "exchange_timestamp" if recorder else "exchange.timestamp"
        exch_ms = _int_field(row, exch_field, required=False)
        oid = _int_field(row, "id")
        price = self.ticks(row["price"], "price", allow_zero=True)
        lots = self.lots(row["volume"], "volume", scale=None if recorder else 1)  # R: satoshi
        ts_init, raw = self.local_ts(ms, lineno)
        ts_event = exch_ms * MS if recorder and exch_ms is not None else ts_init
        ev = OrderEvent(action, oid, direction == "bid", price, lots, ts_init, ts_event, self.file, lineno, raw)
        return ev, (ms, exch_ms)

    def read_trades(self) -> Iterator[Event]:
        for lineno, row in self._csv_rows():
            self.report.read("trade")
            try:
                if "" in row:
                    raise _Reject(Issue.MALFORMED, "line", row[""])
                tid = _int_field(row, "trade_id")
                ms = _int_field(row, "timestamp")
                exch_ms = _int_field(row, "exchange_timestamp", required=False)
                side = row.get("side", "").strip().lower()
                if side not in ("buy", "sell", ""):
                    raise _Reject(Issue.MALFORMED, "side", f"side {side!r} is not buy|sell")
                price = self.ticks(row["price"], "price")
                lots = self.lots(row["amount"], "amount", positive=True)
                ts_init, _ = self.local_ts(ms, lineno)
            except _Reject as r:
                self.drop("trade", r.issue, lineno, r.field_name, r.detail)
                continue
            yield TradeEvent(tid, price, lots, ts_init, exch_ms * MS if exch_ms is not None else ts_init,
                             self.file, lineno, _SIDES.get(side))


_SIDES = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}


def _int_field(row: dict[str, str], name: str, *, required: bool = True) -> int | None:
    text = row.get(name, "").strip()
    if not text:
        if required:
            raise _Reject(Issue.NAN, name, f"{name} is empty")
        return None
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise _Reject(Issue.MALFORMED, name, f"{name} {text!r} is not an integer") from None
        if not value.is_integer():
            raise _Reject(Issue.MALFORMED, name, f"{name} {text!r} is not an integer")
        return int(value)


def detect_recorder(path: Path) -> bool:
    """An orders CSV by the ob-analytics 0.1.0 recorder (``exchange_timestamp``, BTC volumes)
    rather than the R package's parse (``exchange.timestamp``, satoshi volumes)."""
    for _, raw in _lines(path):
        if raw.strip():
            return "exchange_timestamp" in raw.decode("utf-8", "replace")
    return False


def _micro_ns(value: str | int | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value) * 1_000
    except (TypeError, ValueError):
        return None


# --- the loader ------------------------------------------------------------------------------


def instrument_id_from_names(paths: Iterable[Path]) -> str | None:
    """``bitstamp_btcusd_...`` -> ``BTCUSD.BITSTAMP`` (None if no file name says)."""
    found = set()
    for p in paths:
        m = re.match(r"bitstamp[_-]([a-z]{6,8})[_-]", p.name.lower())
        if m:
            found.add(m.group(1).upper())
    if len(found) > 1:
        raise DataQualityError(f"files name several pairs {sorted(found)}: ingest one instrument per call")
    return f"{found.pop()}.BITSTAMP" if found else None


class BitstampLoader:
    """Stream Bitstamp order-by-order captures into L3 deltas and trades (module docstring).

    Parameters
    ----------
    instrument_id : str or None
        Override the id implied by the file names (e.g. ``BTCUSD.BITSTAMP``).
    spec_file : Path or None
        Instrument spec TOML; defaults to the shipped ``catalog/instruments.toml``.
    trade_sides : {"file", "infer"}, default "file"
        Write the trades CSV's own sides, or the inferred ones.
    side_window_before_ms, side_window_after_ms : int, default 2000
        Window around a trade in which its fills are looked for.
    correction_confirmations : int, default 2
        Consecutive disagreeing snapshots before a level is corrected (0: never).
    stale_after_ms : int, default 1000
        In-flight wait after which the orders an order locks/crosses are taken as gone.
    """

    name = "bitstamp"

    def __init__(
        self,
        *,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        trade_sides: Literal["file", "infer"] = "file",
        side_window_before_ms: int = 2_000,
        side_window_after_ms: int = 2_000,
        correction_confirmations: int = 2,
        stale_after_ms: int = 1_000,
    ) -> None:
        if instrument_id:
            InstrumentId.from_str(instrument_id)
        self.config = BitstampLoaderConfig(
            instrument_id=instrument_id,
            spec_file=Path(spec_file) if spec_file is not None else None,
            trade_sides=trade_sides,
            side_window_before_ms=side_window_before_ms,
            side_window_after_ms=side_window_after_ms,
            correction_confirmations=correction_confirmations,
            stale_after_ms=stale_after_ms,
        )
        self.stats = BitstampStats()
        self._instrument: Instrument | None = None

    def instruments(self) -> list[Instrument]:
        return [self._instrument] if self._instrument is not None else []

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        """Yield deltas and trades of ``files`` (one capture) in ``ts_init`` order.

        Raises
        ------
        DataQualityError
            For a file that is missing, empty, damaged or of no known kind; for two sources of
            order events or of trades; and, in strict mode, for the first data problem.
        """
        paths = [check_file(Path(f)) for f in files]
        if not paths:
            raise DataQualityError("bitstamp: no input files given")
        report.files.extend(str(p) for p in paths)
        cfg = self.config
        kinds = {p: detect_kind(p) for p in paths}
        self.stats = stats = BitstampStats(file_kinds={str(p): k for p, k in kinds.items()})
        _check_sources(kinds)
        iid = cfg.instrument_id or instrument_id_from_names(paths)
        if iid is None:
            raise DataQualityError(
                f"{paths[0]}: the file name does not say the pair (bitstamp_<pair>_...); pass --instrument",
            )
        spec = get_spec(iid, cfg.spec_file)
        instrument = build_instrument(spec)
        tick_scale = _scale(spec.tick_size, "tick_size", iid)
        lot_scale = _scale(spec.lot_size, "lot_size", iid)
        streams: list[Iterator[Event]] = []
        for p in sorted(paths, key=lambda q: _KIND_ORDER.index(kinds[q])):  # orders before trades on ties
            if kinds[p] == "meta":
                stats.meta = _read_meta(p)
                continue
            reader = _Reader(p, tick_scale, lot_scale, report, stats)
            read = {"log": reader.read_log, "orders": reader.read_orders, "trades": reader.read_trades}[kinds[p]]
            streams.append(read())
        session = _Session(instrument, cfg, report, stats, wait_for_snapshot="log" in kinds.values())
        for obj in session.run(merge_streams(streams)):
            if self._instrument is None:
                self._instrument = build_instrument(spec, ts_init=obj.ts_init)
            yield obj
        if self._instrument is None:
            self._instrument = instrument
        session.finish()


_KIND_ORDER: tuple[FileKind, ...] = ("log", "orders", "trades", "meta")


def _scale(increment: Decimal, name: str, iid: str) -> int:
    scale = 1 / increment
    if scale != scale.to_integral_value():
        raise DataQualityError(f"{iid}: {name} {increment} is not 1/n for an integer n (prices are counted in it)")
    return int(scale)


def _check_sources(kinds: dict[Path, FileKind]) -> None:
    order_sources = [p for p, k in kinds.items() if k in ("log", "orders")]
    trade_sources = [p for p, k in kinds.items() if k in ("log", "trades")]
    for what, sources in (("order events", order_sources), ("trades", trade_sources)):
        if len(sources) > 1:
            raise DataQualityError(
                f"{sources[1]}: a second source of {what} besides {sources[0]} (a log and its parsed "
                f"CSV repeat the same events): ingest one of them",
            )
    if not order_sources and not trade_sources:
        raise DataQualityError(f"{next(iter(kinds))}: only metadata given, no order events or trades")


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataQualityError(f"{path}: not a readable JSON metadata file: {e}") from e
    if not isinstance(meta, dict):
        raise DataQualityError(f"{path}: metadata is not a JSON object")
    return meta


class _Session:
    """One ``iter_data`` run: the book, the side inference and the delay line behind trades."""

    def __init__(self, instrument: Instrument, config: BitstampLoaderConfig, report: QualityReport,
                 stats: BitstampStats, *, wait_for_snapshot: bool) -> None:
        self.iid = instrument.id
        self.config = config
        self.report = report
        self.stats = stats
        self.inference = SideInference(config.side_window_before_ms * MS, config.side_window_after_ms * MS)
        self.book = L3Rebuilder(instrument, report, stats, wait_for_snapshot=wait_for_snapshot,
                                correction_confirmations=config.correction_confirmations,
                                stale_after_ms=config.stale_after_ms,
                                on_fill=self.inference.add)
        self.after_ns = config.side_window_after_ms * MS
        self._trade_ids: set[int] = set()
        self._trade_order: deque[int] = deque()

    def run(self, events: Iterable[Event]) -> Iterator[Data]:
        """Apply events in order; output waits behind a trade until its fill window has passed."""
        queue: deque[Data | TradeEvent] = deque()
        for ev in events:
            if queue:
                yield from self._release(queue, ev.ts_init)
            if isinstance(ev, TradeEvent):
                if self._new_trade(ev):
                    queue.append(ev)
                continue
            deltas = self.book.apply(ev)
            if queue:
                queue.extend(deltas)
            elif deltas:
                self.report.written("OrderBookDelta", len(deltas))
                yield from deltas
        self.book.finish()
        yield from self._release(queue, None)

    def _new_trade(self, ev: TradeEvent) -> bool:
        if ev.trade_id in self._trade_ids:
            self.stats.dropped["trade"] += 1
            self.report.problem(Issue.DUPLICATE, file=ev.file, line=ev.line, field_name="id",
                                detail=f"trade id {ev.trade_id} seen before")
            return False
        self._trade_ids.add(ev.trade_id)
        self._trade_order.append(ev.trade_id)
        if len(self._trade_order) > _RECENT_IDS:
            self._trade_ids.discard(self._trade_order.popleft())
        self.stats.kept["trade"] += 1
        return True

    def _release(self, queue: deque, now: int | None) -> Iterator[Data]:
        while queue:
            head = queue[0]
            if isinstance(head, TradeEvent):
                if now is not None and now <= head.ts_init + self.after_ns:
                    break
                queue.popleft()
                yield self._trade(head)
            else:
                queue.popleft()
                self.report.written("OrderBookDelta")
                yield head
        if now is not None:
            self.inference.prune(now)

    def _trade(self, ev: TradeEvent) -> TradeTick:
        side, rule = self.inference.infer(ev.price, ev.amount, ev.ts_init)
        self.stats.inferred[rule] += 1
        if ev.side is not None:
            if side is AggressorSide.NO_AGGRESSOR:
                self.stats.side_agreement["uninferred"] += 1
            else:
                self.stats.side_agreement["agree" if side == ev.side else "disagree"] += 1
            if self.config.trade_sides == "file":
                side, rule = ev.side, "file"
        self.stats.sides[rule if side is not AggressorSide.NO_AGGRESSOR else "none"] += 1
        self.report.written("TradeTick")
        return TradeTick(self.iid, self.book.price(ev.price), self.book.qty(ev.amount), side,
                         TradeId(str(ev.trade_id)), ev.ts_event, ev.ts_init)

    def finish(self) -> None:
        """Write what was done into the report notes (the counts behind every decision)."""
        s, cfg, notes = self.stats, self.config, self.report.notes
        notes.append(
            f"bitstamp -> {self.iid} (L3_MBO deltas with order ids): {s.events} events, {s.anchors} anchor(s); "
            f"{s.held_in_flight} orders held in flight while they would lock/cross the book "
            f"({s.released_from_flight} rested later, {s.takers_never_rested} filled or cancelled first); "
            f"book locked/crossed after {s.crossed_after_event} event(s); {s.stale_orders_removed} resting orders "
            f"taken out as gone ({s.stale_removals} times an order waited over {cfg.stale_after_ms} ms in flight "
            f"opposite them); {s.unpriced_orders} instant/unpriced orders (amount or price 0) tracked, never rested",
        )
        if not s.anchors and s.events:
            notes.append("no order_book snapshot arrived: the book was never anchored and no deltas were written")
        if s.synthetic_orders_seeded or s.snapshots_compared:
            notes.append(
                f"re-anchoring: {s.synthetic_orders_seeded} synthetic orders (ids >= 2**62) seeded by the first "
                f"snapshot for orders older than the capture, {s.synthetic_orders_added} added later; "
                f"{s.corrections} level corrections ({s.corrected_lots / 1e8:.8f} BTC) after "
                f"{cfg.correction_confirmations} agreeing snapshots; {s.excess_known} of them found more known "
                f"volume than the snapshot (known orders are left as they are); "
                f"{s.unknown_deletes_from_synthetic} deletes of unknown ids taken out of synthetic orders",
            )
        elif s.anchors and not s.kept["order_book"] and "orders" in s.file_kinds.values() and not s.image_orders:
            notes.append("no snapshot in the inputs: orders created before the capture are missing from the book")
        if s.unknown_ids:
            notes.append(f"changes/deletes of unknown order ids, counted and not emitted: {dict(s.unknown_ids)}")
        if s.snapshots_compared:
            n = s.snapshots_compared
            notes.append(
                f"rebuilt book vs {n} snapshots (before correcting): best bid and ask agree "
                f"{s.snapshot_best_agree / n:.1%}, top 5 levels {s.snapshot_top5_agree / n:.1%}, "
                f"all 20 levels {s.snapshot_all_agree / n:.1%}",
            )
        if s.sides:
            notes.append(
                f"trade sides by rule: {dict(s.sides)} (inference: {dict(s.inferred)}); {s.sides.get('none', 0)} "
                f"trade(s) written with NO_AGGRESSOR: no rule decided (no fill of the trade's size within "
                f"-{cfg.side_window_before_ms}/+{cfg.side_window_after_ms} ms, or fills on both sides of unknown size)",
            )
        agree, disagree = s.side_agreement.get("agree", 0), s.side_agreement.get("disagree", 0)
        if agree + disagree:
            notes.append(
                f"inferred sides vs the trades file's own side: {agree}/{agree + disagree} agree "
                f"({agree / (agree + disagree):.1%}); {s.side_agreement.get('uninferred', 0)} not inferred; "
                f"written: the {'file' if cfg.trade_sides == 'file' else 'inferred'} sides",
            )
        if s.ts_replayed:
            notes.append(
                f"{s.ts_replayed} live rows received while the REST book was being fetched follow it in the file: "
                f"kept in file (exchange) order with ts_init = the book's receive time (ts_init never decreases)",
            )
        if s.meta:
            read = self.report.rows_read
            got = {
                "total_order_rows": read["order_created"] + read["order_changed"] + read["order_deleted"],
                "trades": read["trade"],
                "synthetic_created": s.image_orders,
                "synthetic_deleted": s.closing_deletes,
            }
            pairs = [f"{key} {s.meta[key]} vs {n} read" + ("" if s.meta[key] == n else " (MISMATCH)")
                     for key, n in got.items() if key in s.meta]
            notes.append(f"meta.json: {'; '.join(pairs)}")


__all__ = [
    "SYNTHETIC_ID_BASE",
    "BitstampLoader",
    "BitstampLoaderConfig",
    "BitstampStats",
    "L3Rebuilder",
    "SideInference",
    "detect_kind",
    "synthetic_order_id",
]
