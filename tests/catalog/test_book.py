"""``catalog.book.L2Book``: the loaders' crossed/locked check must always see the true best level."""

from __future__ import annotations

import random

from catalog.book import L2Book


def test_a_new_level_survives_the_heap_rebuild_it_triggers():
    """Each step adds a new best bid and removes the old one: stale heap entries pile up until a
    rebuild, which runs while the new level is being added (it used to drop that level)."""
    book = L2Book()
    for p in range(1, 500):
        book.set_level(True, p, 1.0)
        book.set_level(True, p - 1, 0.0)
        assert book.best_bid_ticks() == p
        book.set_level(False, 10_000 - p, 1.0)
        book.set_level(False, 10_001 - p, 0.0)
        assert book.best_ask_ticks() == 10_000 - p


def test_best_levels_match_a_full_scan_under_random_updates():
    rng = random.Random(3)
    book = L2Book()
    for _ in range(20_000):
        is_bid = rng.random() < 0.5
        price = rng.randint(0, 60) if is_bid else rng.randint(40, 100)
        book.set_level(is_bid, price, rng.choice((0.0, 0.0, 1.0, 2.0)))
        assert book.best_bid_ticks() == (max(book.bids) if book.bids else None)
        assert book.best_ask_ticks() == (min(book.asks) if book.asks else None)
