"""The L3 book of a Bitstamp capture as a pure state machine (:class:`L3Rebuilder`).

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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from nautilus_trader.model.data import BookOrder, OrderBookDelta
from nautilus_trader.model.enums import BookAction, OrderSide
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION, Price, Quantity

from catalog.book import L2Book
from catalog.loaders.bitstamp.events import (
    _KIND_OF_ACTION,
    _RECENT_IDS,
    CHANGED,
    CREATED,
    DELETED,
    F_LAST,
    F_SNAPSHOT,
    MS,
    BitstampStats,
    BookClose,
    Event,
    Fill,
    LevelSnapshot,
    OrderEvent,
    OrderImage,
    is_synthetic,
    synthetic_order_id,
)
from catalog.quality import Issue, QualityReport

_MAX_EARLY_DELETES = 10_000
"""Deletes of not-yet-created orders waiting for their create (older ones are given up)."""


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

    def _fits(self, is_bid: bool, price: int, amount: int) -> bool:
        """Whether an order can rest: a price, a positive amount, and it neither locks nor crosses."""
        if amount <= 0 or price <= 0:
            return False
        if is_bid:
            ask = self.levels.best_ask()
            return ask is None or price < ask
        bid = self.levels.best_bid()
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
        bids, asks = self.levels.top(True, len(snap.bids)), self.levels.top(False, len(snap.asks))
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


__all__ = ["L3Rebuilder"]
