"""The one L2 (market-by-price) book of the data layer: :class:`L2Book`.

Two callers keep a price-level book after every depth message and read only a few levels of it:
the loaders, which must know that the book they emit is never crossed or locked (Binance depth
synchronisation, Bitstamp's L3 rebuild), and :class:`~catalog.features.IncrementalFeatures`, which
needs the touch and the summed size of the top ``k`` levels (the imbalance) in the RL loop and in
every L2 baseline. A Binance book holds 1,000+ levels after a few minutes, so neither may scan it:
here prices are integer keys kept in one sorted list per side, which makes the best level O(1),
the top ``k`` levels O(k) and a level change O(log n) plus, for a new or removed level, a C
``memmove`` of the keys between it and the end of the list. Each list ends at its side's touch,
where most levels come and go, so that memmove is short where it runs most (on the USD-M capture
this takes ~10% off the loader's book path, against lists that start at the best ask).

Why not ``nautilus_trader.model.book.OrderBook``: in 1.231.0 (as in 1.221) its only level
accessors, ``bids()`` / ``asks()``, materialise every level as Python objects (0.4-0.5 ms per side
for a 1,000-level Binance book, measured), too slow to read after each depth update in the RL
loop; the pyo3 book's ``bids(depth)`` is fast but converting each delta to pyo3 costs ~1.9 µs.
``tests/catalog/test_features.py`` checks this book level by level against ``OrderBook``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.enums import BookAction, OrderSide

_CLEAR = BookAction.CLEAR
_DELETE = BookAction.DELETE
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL


class L2Book:
    """Price levels keyed by integer price, both sides sorted, best levels read without a scan.

    Keys are whatever integer price the caller uses, as long as one book uses one: the loaders
    use ticks, :meth:`apply_deltas` uses Nautilus' fixed-point ``Price.raw`` (so ``raw /
    FIXED_SCALAR`` is the ``Price.as_double()`` of a key). Sizes are absolute: setting a level
    replaces its size and a size of zero or less removes it. ``bids`` / ``asks`` map price to
    size (read them freely, change them only through this class): a level keeps its place in the
    dict while it lives, so iterating them gives the order levels first appeared in.
    """

    __slots__ = ("_ask_keys", "_bid_keys", "asks", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        # Ascending, ending at the touch: bid prices, and ask prices negated.
        self._bid_keys: list[int] = []
        self._ask_keys: list[int] = []

    def clear(self) -> None:
        """Remove every level (start of a snapshot, a ``CLEAR`` delta)."""
        self.bids.clear()
        self.asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()

    def set_level(self, is_bid: bool, price: int, size: float) -> None:
        """Set the absolute size at ``price``; ``size <= 0`` removes the level."""
        if is_bid:
            levels, keys, key = self.bids, self._bid_keys, price
        else:
            levels, keys, key = self.asks, self._ask_keys, -price
        if size <= 0:
            if levels.pop(price, None) is not None:
                del keys[bisect_left(keys, key)]
            return
        if price not in levels:
            insort(keys, key)
        levels[price] = size

    def apply_deltas(self, deltas: Iterable[OrderBookDelta]) -> None:
        """Apply Nautilus deltas with MBP semantics, keyed by ``Price.raw``.

        ADD and UPDATE set the size at a price (size 0 removes the level), DELETE removes the
        level, CLEAR empties the book. MBO (L3) deltas are not supported: they would need one
        entry per order. This is :meth:`set_level` inlined: it runs for every depth delta of an
        RL episode.
        """
        bids, asks = self.bids, self.asks
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        for delta in deltas:
            action = delta.action
            if action == _CLEAR:
                self.clear()
                continue
            order = delta.order
            side = order.side
            price = order.price.raw
            if side == _BUY:
                levels, keys, key = bids, bid_keys, price
            elif side == _SELL:
                levels, keys, key = asks, ask_keys, -price
            else:
                raise ValueError(f"order book delta with no side: {delta!r}")
            size = order.size.as_double()
            if action == _DELETE or size <= 0.0:
                if levels.pop(price, None) is not None:
                    del keys[bisect_left(keys, key)]
                continue
            if price not in levels:
                insort(keys, key)
            levels[price] = size

    def best_bid(self) -> int | None:
        """Highest bid price, or None if the bid side is empty."""
        keys = self._bid_keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """Lowest ask price, or None if the ask side is empty."""
        keys = self._ask_keys
        return -keys[-1] if keys else None

    def top(self, is_bid: bool, depth: int) -> list[tuple[int, float]]:
        """The best ``depth`` levels of one side as ``(price, size)``, best first."""
        if is_bid:
            levels = self.bids
            return [(p, levels[p]) for p in self._bid_keys[: -depth - 1 : -1]]
        levels = self.asks
        return [(-k, levels[-k]) for k in self._ask_keys[: -depth - 1 : -1]]

    def side_totals(self, depth: int) -> tuple[float, float]:
        """Summed size of the best ``depth`` levels per side, added best level first."""
        bids = self.bids
        bid_total = 0.0
        for p in self._bid_keys[: -depth - 1 : -1]:
            bid_total += bids[p]
        asks = self.asks
        ask_total = 0.0
        for k in self._ask_keys[: -depth - 1 : -1]:
            ask_total += asks[-k]
        return bid_total, ask_total

    def crossed_or_locked(self) -> tuple[int, int] | None:
        """Return ``(best_bid, best_ask)`` if bid >= ask, else None."""
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        if not bid_keys or not ask_keys:
            return None
        bid, ask = bid_keys[-1], -ask_keys[-1]
        return (bid, ask) if bid >= ask else None
