"""``catalog.book.L2Book``: the loaders' crossed/locked check and the features' top levels must
always see the true best levels, whichever way the book was fed."""

from __future__ import annotations

import random

import pytest
from nautilus_trader.model.data import BookOrder, OrderBookDelta
from nautilus_trader.model.enums import BookAction, OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from catalog.book import L2Book

IID = InstrumentId.from_str("BTCUSDT.BINANCE")


def delta(action: BookAction, side: OrderSide, price: str, size: str) -> OrderBookDelta:
    order = BookOrder(side, Price.from_str(price), Quantity.from_str(size), 0)
    return OrderBookDelta(IID, action, order, 0, 0, 0, 0)


def scan(levels: dict[int, float], is_bid: bool, depth: int) -> list[tuple[int, float]]:
    return [(p, levels[p]) for p in sorted(levels, reverse=is_bid)[:depth]]


def test_the_touch_follows_a_level_that_moves_every_step():
    """Each step adds a new best level and removes the old one (the pattern that broke the heaps
    this book replaced: a rebuild while a new level was being added dropped that level)."""
    book = L2Book()
    for p in range(1, 500):
        book.set_level(True, p, 1.0)
        book.set_level(True, p - 1, 0.0)
        assert book.best_bid() == p
        book.set_level(False, 10_000 - p, 1.0)
        book.set_level(False, 10_001 - p, 0.0)
        assert book.best_ask() == 10_000 - p
    assert book.top(True, 5) == [(499, 1.0)] and book.top(False, 5) == [(9_501, 1.0)]


def test_best_and_top_levels_match_a_full_scan_under_random_updates():
    rng = random.Random(3)
    book = L2Book()
    for _ in range(20_000):
        is_bid = rng.random() < 0.5
        price = rng.randint(0, 60) if is_bid else rng.randint(40, 100)
        book.set_level(is_bid, price, rng.choice((0.0, 0.0, 1.0, 2.0)))
        assert book.best_bid() == (max(book.bids) if book.bids else None)
        assert book.best_ask() == (min(book.asks) if book.asks else None)
        depth = rng.randint(0, 8)
        bids, asks = scan(book.bids, True, depth), scan(book.asks, False, depth)
        assert book.top(True, depth) == bids and book.top(False, depth) == asks
        assert book.side_totals(depth) == (sum(s for _, s in bids), sum(s for _, s in asks))
        bid, ask = book.best_bid(), book.best_ask()
        crossed = bid is not None and ask is not None and bid >= ask
        assert book.crossed_or_locked() == ((bid, ask) if crossed else None)


def test_levels_keep_the_order_they_first_appeared_in():
    """Callers iterate ``bids`` / ``asks`` (Bitstamp's snapshot comparison): an update in place
    must not move a level, a removed level that comes back goes last."""
    book = L2Book()
    for p in (5, 3, 9):
        book.set_level(True, p, 1.0)
    book.set_level(True, 3, 2.0)
    book.set_level(True, 5, 0.0)
    book.set_level(True, 5, 4.0)
    assert list(book.bids.items()) == [(3, 2.0), (9, 1.0), (5, 4.0)]


def test_deltas_apply_with_mbp_semantics_keyed_by_raw_price():
    book = L2Book()
    book.apply_deltas([
        delta(BookAction.ADD, OrderSide.BUY, "100.0", "1.5"),
        delta(BookAction.ADD, OrderSide.BUY, "99.5", "2"),
        delta(BookAction.ADD, OrderSide.SELL, "100.5", "3"),
        delta(BookAction.UPDATE, OrderSide.BUY, "99.5", "2.5"),  # replaces the size
        delta(BookAction.DELETE, OrderSide.SELL, "101.0", "1"),  # a missing level: nothing
    ])
    raw = Price.from_str("100.0").raw
    assert book.best_bid() == raw and book.bids[raw] == 1.5
    assert book.top(True, 5) == [(raw, 1.5), (Price.from_str("99.5").raw, 2.5)]
    assert book.top(False, 5) == [(Price.from_str("100.5").raw, 3.0)]
    book.apply_deltas([
        delta(BookAction.DELETE, OrderSide.BUY, "100.0", "1.5"),
        delta(BookAction.DELETE, OrderSide.SELL, "100.5", "3"),
    ])
    assert book.top(True, 5) == [(Price.from_str("99.5").raw, 2.5)] and not book.asks
    book.apply_deltas([OrderBookDelta.clear(IID, 0, 0, 0)])
    assert not book.bids and book.best_bid() is None and book.side_totals(5) == (0.0, 0.0)


def test_a_delta_with_no_side_is_refused():
    with pytest.raises(ValueError, match="no side"):
        L2Book().apply_deltas([delta(BookAction.ADD, OrderSide.NO_ORDER_SIDE, "1.0", "1")])
