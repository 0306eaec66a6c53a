"""An order-by-order (L3_MBO) delta stream seen as price levels (L2_MBP): :class:`MbpView`.

Why: NautilusTrader 1.231's queue position on an L3 book treats any per-order DELETE at our price
as the end of the queue ahead of us (nautechsystems/nautilus_trader#4370), so on an L3 venue the
Bitstamp captures fill our quotes as soon as anyone at our price cancels: optimistic fills. On an
L2 venue the queue ahead only shrinks by the volume that leaves the level, the same model every
LOBSTER and Binance result here stands on. Replaying an L3 catalog on an ``L2_MBP`` venue therefore
needs the level totals, not the orders; Nautilus' L2 book does not aggregate MBO deltas itself (it
keys an L2 order by its price, so one order's DELETE would remove the whole level), and neither
its loaders nor its catalog offer an MBO-to-MBP view. :func:`catalog.window.load_window` applies
this one when an ``L2_MBP`` window is read from a catalog whose deltas carry order ids.

Each input batch (one exchange message) becomes at most one output batch holding one delta per
level whose total changed: ``ADD`` for a new level, ``UPDATE`` with the new total, ``DELETE`` when
it empties; a ``CLEAR`` is kept, and the levels rebuilt after it are restated. Output deltas carry
order id 0 (market by price), the input batch's sequence, timestamps and flags, and ``F_LAST``
on the last one only. A batch that changes no level total yields nothing.
"""

from __future__ import annotations

from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
from nautilus_trader.model.objects import Price, Quantity

_ADD, _UPDATE, _DELETE, _CLEAR = BookAction.ADD, BookAction.UPDATE, BookAction.DELETE, BookAction.CLEAR
_F_LAST = int(RecordFlag.F_LAST)

_Level = tuple[OrderSide, int]  # (side, Price.raw)


class MbpView:
    """Aggregate L3 deltas into L2 level deltas, one batch at a time (module docstring).

    Parameters
    ----------
    size_precision : int
        The instrument's size precision (of the output ``Quantity``s).
    """

    def __init__(self, size_precision: int) -> None:
        self.size_precision = size_precision
        self.orders: dict[int, tuple[_Level, int]] = {}  # order id -> (level, size raw)
        self.levels: dict[_Level, int] = {}  # level -> total size raw
        self._prices: dict[_Level, Price] = {}

    def _move(self, level: _Level, size_raw: int) -> None:
        total = self.levels.get(level, 0) + size_raw
        if total > 0:
            self.levels[level] = total
        else:
            self.levels.pop(level, None)

    def apply(self, batch: OrderBookDeltas | list[OrderBookDelta]) -> OrderBookDeltas | None:
        """The level deltas of one L3 batch (None when no level total changed)."""
        deltas = batch.deltas if isinstance(batch, OrderBookDeltas) else batch
        if not deltas:
            return None
        cleared = False
        before: dict[_Level, int] = {}  # first-touch totals, in touch order
        for d in deltas:
            action = d.action
            if action == _CLEAR:
                self.orders.clear()
                self.levels.clear()
                self._prices.clear()
                before.clear()
                cleared = True
                continue
            order = d.order
            oid = order.order_id
            old = self.orders.pop(oid, None)
            if old is not None:
                before.setdefault(old[0], self.levels.get(old[0], 0))
                self._move(old[0], -old[1])
            if action == _DELETE:
                continue
            level = (order.side, order.price.raw)
            before.setdefault(level, self.levels.get(level, 0))
            self._prices[level] = order.price
            size_raw = order.size.raw
            if size_raw > 0:
                self.orders[oid] = (level, size_raw)
                self._move(level, size_raw)
        last = deltas[-1]
        flags = int(last.flags) & ~_F_LAST  # e.g. F_SNAPSHOT on every delta of a snapshot
        out: list[OrderBookDelta] = []
        if cleared:
            out.append(OrderBookDelta(last.instrument_id, _CLEAR, None, flags, last.sequence, last.ts_event, last.ts_init))
        for level, was in before.items():
            now = self.levels.get(level, 0)
            if now == was and not cleared:
                continue
            if now <= 0:
                if was <= 0 or cleared:
                    continue  # nothing to remove (after a CLEAR the level is already gone)
                action, size_raw = _DELETE, 0
            else:
                action, size_raw = (_ADD if was <= 0 or cleared else _UPDATE), now
            side, _ = level
            order = BookOrder(side, self._prices[level], Quantity.from_raw(size_raw, self.size_precision), 0)
            out.append(OrderBookDelta(last.instrument_id, action, order, flags, last.sequence, last.ts_event, last.ts_init))
            if now <= 0:
                self._prices.pop(level, None)
        if not out:
            return None
        tail = out[-1]
        out[-1] = OrderBookDelta(tail.instrument_id, tail.action, tail.order, flags | _F_LAST, tail.sequence,
                                 tail.ts_event, tail.ts_init)
        return OrderBookDeltas(last.instrument_id, out)


__all__ = ["MbpView"]
