"""A minimal L2 (market-by-price) book used to validate depth streams while loading them.

Loaders do not need a full order book, only to know after each depth message whether the book
they are emitting is still sane (never crossed or locked). Keeping prices as integer ticks and the
best levels in lazy heaps makes that check O(log n) per level change instead of scanning the
~1,000+ levels a Binance book holds after every message.
"""

from __future__ import annotations

import heapq


class L2Book:
    """Price levels keyed by integer ticks, with the best bid and ask tracked incrementally.

    Sizes are absolute (Binance depth semantics): setting a level replaces its size and a size of
    zero removes it. Heaps hold every price ever added; entries whose level has since been removed
    are skipped lazily when they reach the top, and the heaps are rebuilt when stale entries
    outnumber live ones, so memory stays proportional to the live book.
    """

    __slots__ = ("_ask_heap", "_bid_heap", "asks", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self._bid_heap: list[int] = []  # negated ticks: heapq is a min-heap
        self._ask_heap: list[int] = []

    def clear(self) -> None:
        """Remove every level (start of a snapshot)."""
        self.bids.clear()
        self.asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()

    def set_level(self, is_bid: bool, price_ticks: int, size: float) -> None:
        """Set the absolute size at ``price_ticks``; ``size <= 0`` deletes the level."""
        levels = self.bids if is_bid else self.asks
        if size <= 0:
            levels.pop(price_ticks, None)
            return
        new = price_ticks not in levels
        levels[price_ticks] = size  # stored first: a rebuild below must see the new level
        if new:
            heap = self._bid_heap if is_bid else self._ask_heap
            heapq.heappush(heap, -price_ticks if is_bid else price_ticks)
            if len(heap) > 4 * len(levels) + 64:
                self._rebuild(is_bid)

    def _rebuild(self, is_bid: bool) -> None:
        if is_bid:
            self._bid_heap = [-p for p in self.bids]
            heapq.heapify(self._bid_heap)
        else:
            self._ask_heap = list(self.asks)
            heapq.heapify(self._ask_heap)

    def best_bid_ticks(self) -> int | None:
        """Highest bid price in ticks, or None if the bid side is empty."""
        heap, levels = self._bid_heap, self.bids
        while heap and -heap[0] not in levels:
            heapq.heappop(heap)
        return -heap[0] if heap else None

    def best_ask_ticks(self) -> int | None:
        """Lowest ask price in ticks, or None if the ask side is empty."""
        heap, levels = self._ask_heap, self.asks
        while heap and heap[0] not in levels:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def crossed_or_locked(self) -> tuple[int, int] | None:
        """Return ``(best_bid_ticks, best_ask_ticks)`` if bid >= ask, else None."""
        bid = self.best_bid_ticks()
        if bid is None:
            return None
        ask = self.best_ask_ticks()
        if ask is None or bid < ask:
            return None
        return bid, ask
