"""Online market features: :class:`IncrementalFeatures` (definitions in :mod:`catalog.features`)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from nautilus_trader.core.data import Data
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.objects import FIXED_SCALAR

from catalog.book import L2Book
from catalog.features.config import VOLUME_SCALE, FeatureConfig, FeatureVector

NAN = float("nan")

_BUYER = AggressorSide.BUYER
_SELLER = AggressorSide.SELLER


def _microprice(bid: float, ask: float, bid_size: float, ask_size: float) -> float:
    total = bid_size + ask_size
    if not total > 0:
        return NAN
    return (bid * ask_size + ask * bid_size) / total


def _imbalance(bid_total: float, ask_total: float) -> float:
    total = bid_total + ask_total
    if not total > 0:
        return NAN
    return (bid_total - ask_total) / total


class IncrementalFeatures:
    """Event-driven features: feed quotes, trades and book updates, call :meth:`sample`.

    Events must be fed in non-decreasing ``ts_init`` order, and ``sample(t)`` must be called only
    after every event with ``ts_init <= t`` (what a Nautilus timer at ``t`` sees) and with
    non-decreasing ``t`` (the trade window forgets what slid out of it). ``on_quote``,
    ``on_trade`` and ``on_book_deltas`` (per delta) are O(1) amortised; ``sample`` is O(1) except
    when the book changed since the last sample and it was given as a Nautilus ``OrderBook``
    (then the top ``book_levels`` are read once, see :meth:`on_book`).

    Parameters
    ----------
    config : FeatureConfig
        The shared feature definition.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self._config = config
        self._tick = float(config.tick_size)
        self._levels = int(config.book_levels)
        self._dt_ns = int(config.vol_sample_interval_ns)
        self._dt_s = config.vol_sample_interval_s
        self._window_ns = int(config.trade_window_ns)
        self._min_returns = int(config.vol_min_returns)
        self._use_quotes = config.top_of_book in ("auto", "quotes")
        self._auto_top = config.top_of_book == "auto"
        self._book_top = config.top_of_book == "book"
        self._returns: deque[float] = deque(maxlen=int(config.vol_window))
        self._trades: deque[tuple[int, int, int]] = deque()
        self.reset()

    @property
    def config(self) -> FeatureConfig:
        return self._config

    @property
    def mid(self) -> float:
        """The current mid of the configured top-of-book source (NaN before the first one)."""
        return self._mid

    def reset(self) -> None:
        """Forget all state (start of an episode or a new session)."""
        # current top of book per the configured source
        self._bid = self._ask = self._bid_size = self._ask_size = NAN
        self._mid = NAN
        self._has_quote = False
        self._quote_imbalance = NAN
        # book state: either a Nautilus OrderBook (read lazily) or our own L2Book
        self._has_book = False
        self._book: OrderBook | None = None
        self._book_count = -1
        self._l2: L2Book | None = None
        self._l2_dirty = False
        self._book_imbalance = NAN
        # volatility grid
        self._grid_next_ns = -1  # next grid point to close; -1 until the first event
        self._grid_mid = NAN
        self._returns.clear()
        self._vol = NAN
        # trades
        self._trades.clear()
        self._buy_units = 0
        self._sell_units = 0
        self._last_trade_ns = -1
        self._last_trade_price = NAN
        self._last_trade_side = 0

    # -- events ----------------------------------------------------------------------------------

    def on_quote(self, quote: QuoteTick) -> None:
        """Update the top of book from a quote (O(1))."""
        # Hot path (every quote of a replay): _advance, _imbalance and _set_top inlined.
        ts = quote.ts_init
        g = self._grid_next_ns
        if g < 0 or g < ts:
            self._advance(ts)
        bid = quote.bid_price.as_double()
        ask = quote.ask_price.as_double()
        bid_size = quote.bid_size.as_double()
        ask_size = quote.ask_size.as_double()
        self._has_quote = True
        total = bid_size + ask_size
        self._quote_imbalance = (bid_size - ask_size) / total if total > 0 else NAN
        if self._use_quotes:
            self._bid = bid
            self._ask = ask
            self._bid_size = bid_size
            self._ask_size = ask_size
            self._mid = (bid + ask) / 2.0

    def on_trade(self, trade: TradeTick) -> None:
        """Add a trade to the flow window (O(1) amortised)."""
        ts = trade.ts_init
        g = self._grid_next_ns
        if g < 0 or g < ts:
            self._advance(ts)
        units = round(trade.size.as_double() * VOLUME_SCALE)
        side = trade.aggressor_side
        if side == _BUYER:
            sign, buy, sell = 1, units, 0
            self._buy_units += units
        elif side == _SELLER:
            sign, buy, sell = -1, 0, units
            self._sell_units += units
        else:
            sign, buy, sell = 0, 0, 0
        trades = self._trades
        trades.append((ts, buy, sell))
        self._last_trade_ns = ts
        self._last_trade_price = trade.price.as_double()
        self._last_trade_side = sign
        if trades[0][0] <= ts - self._window_ns:
            self._evict(ts)

    def on_book(self, book: OrderBook, ts_init_ns: int | None = None) -> None:
        """Note an update of ``book`` (a Nautilus ``OrderBook``) at receive time ``ts_init_ns``.

        Call it after the book has been updated. The touch is read now (O(1)); the top
        ``book_levels`` levels for the imbalance are read lazily by the next :meth:`sample`, from
        this same ``book`` object, only if ``book.update_count`` changed (``OrderBook.bids()``
        costs O(book depth)). For a faster path on MBP data see :meth:`on_book_deltas`.

        Parameters
        ----------
        book : OrderBook
            The updated book (e.g. ``self.cache.order_book(instrument_id)`` in a strategy).
        ts_init_ns : int, optional
            Receive time of the update (``deltas.ts_init`` or ``self.clock.timestamp_ns()``).
            Defaults to ``book.ts_last``, which is the *exchange* event time: with venues whose
            clock differs from the receiver's (Binance: ~1 s) pass the receive time.
        """
        self._advance(book.ts_last if ts_init_ns is None else ts_init_ns)
        self._has_book = True
        self._book = book
        self._l2 = None
        self._book_count = -1
        if self._book_top or (self._auto_top and not self._has_quote):
            bid_px, ask_px = book.best_bid_price(), book.best_ask_price()
            bid_sz, ask_sz = book.best_bid_size(), book.best_ask_size()
            self._set_top(
                NAN if bid_px is None else bid_px.as_double(),
                NAN if ask_px is None else ask_px.as_double(),
                NAN if bid_sz is None else bid_sz.as_double(),
                NAN if ask_sz is None else ask_sz.as_double(),
            )

    def on_book_deltas(self, deltas: OrderBookDeltas | OrderBookDelta) -> None:
        """Apply MBP deltas to an internal :class:`~catalog.book.L2Book` (fast path for ``on_book``).

        Use either this or :meth:`on_book` for a given stream, not both.
        """
        self._advance(deltas.ts_init)
        l2 = self._l2
        if l2 is None:
            l2 = self._l2 = L2Book()
            self._book = None
        l2.apply_deltas((deltas,) if isinstance(deltas, OrderBookDelta) else deltas.deltas)
        self._has_book = True
        self._l2_dirty = True
        if self._book_top or (self._auto_top and not self._has_quote):
            # Keys are Price.raw: raw / FIXED_SCALAR is exactly Price.as_double().
            bid_raw, ask_raw = l2.best_bid(), l2.best_ask()
            bid, bid_size = (NAN, NAN) if bid_raw is None else (bid_raw / FIXED_SCALAR, l2.bids[bid_raw])
            ask, ask_size = (NAN, NAN) if ask_raw is None else (ask_raw / FIXED_SCALAR, l2.asks[ask_raw])
            self._set_top(bid, ask, bid_size, ask_size)

    def on_data(self, data: Data) -> None:
        """Dispatch a quote, trade or MBP delta(s) to the matching handler (replays, tests)."""
        if isinstance(data, QuoteTick):
            self.on_quote(data)
        elif isinstance(data, TradeTick):
            self.on_trade(data)
        elif isinstance(data, (OrderBookDelta, OrderBookDeltas)):
            self.on_book_deltas(data)
        else:
            raise TypeError(f"IncrementalFeatures cannot use {type(data).__name__}")

    # -- sampling --------------------------------------------------------------------------------

    def sample(self, ts_ns: int) -> FeatureVector:
        """Return the features at ``ts_ns`` (all events with ``ts_init <= ts_ns`` applied)."""
        values = self._values(ts_ns)
        return FeatureVector(ts_ns, *values)

    def sample_values(self, ts_ns: int) -> tuple:
        """The features at ``ts_ns`` as a plain tuple of Python numbers (FEATURE_NAMES order).

        The cheapest form (no object, no array): for per-decision hot paths.
        """
        return self._values(ts_ns)

    def sample_into(self, ts_ns: int, out: np.ndarray) -> np.ndarray:
        """Write the features at ``ts_ns`` into ``out`` (FEATURE_NAMES order); no allocation."""
        out[:] = self._values(ts_ns)
        return out

    def depth_imbalance(self, depth: int) -> float:
        """Book volume imbalance over the best ``depth`` levels per side, at the last event fed.

        The same definition as the ``imbalance`` feature (missing levels count as zero), at
        another depth; NaN before any book update. O(depth).
        """
        if self._l2 is not None:
            return _imbalance(*self._l2.side_totals(depth))
        book = self._book
        if book is None:
            return NAN
        bid_total = sum(level.size() for level in book.bids()[:depth])
        ask_total = sum(level.size() for level in book.asks()[:depth])
        return _imbalance(bid_total, ask_total)

    def displayed_size(self, is_bid: bool, price_raw: int) -> float:
        """Displayed size at one price of the book (``Price.raw``), 0.0 if the level is absent.

        NaN before any book update. O(1) on the MBP fast path, O(depth) on a Nautilus book.
        """
        if self._l2 is not None:
            return (self._l2.bids if is_bid else self._l2.asks).get(price_raw, 0.0)
        book = self._book
        if book is None:
            return NAN
        for level in book.bids() if is_bid else book.asks():
            if level.price.raw == price_raw:
                return level.size()
        return 0.0

    @property
    def last_trade_price(self) -> float:
        """Price of the latest trade (NaN before the first)."""
        return self._last_trade_price

    @property
    def last_trade_side(self) -> int:
        """Aggressor of the latest trade: +1 buyer, -1 seller, 0 none or no trade yet."""
        return self._last_trade_side

    # -- internals -------------------------------------------------------------------------------

    def _values(self, ts_ns: int) -> tuple:
        if self._grid_next_ns >= 0 and self._grid_next_ns <= ts_ns:
            self._close_grid(ts_ns)
        if self._trades and self._trades[0][0] <= ts_ns - self._window_ns:
            self._evict(ts_ns)
        bid, ask = self._bid, self._ask
        bid_size, ask_size = self._bid_size, self._ask_size
        microprice = _microprice(bid, ask, bid_size, ask_size)
        spread = ask - bid
        spread_ticks = float(round(spread / self._tick)) if spread == spread else NAN
        if self._has_book:
            imbalance = self._current_book_imbalance()
        else:
            imbalance = self._quote_imbalance
        buy, sell = self._buy_units, self._sell_units
        total = buy + sell
        flow = float(buy - sell) / float(total) if total else 0.0
        last = self._last_trade_ns
        since = float(ts_ns - last) / 1e9 if last >= 0 else NAN
        return (
            self._mid,
            microprice,
            spread_ticks,
            imbalance,
            self._vol,
            flow,
            since,
            buy / VOLUME_SCALE,
            sell / VOLUME_SCALE,
            len(self._trades),
        )

    def _current_book_imbalance(self) -> float:
        if self._l2 is not None:
            if self._l2_dirty:
                self._book_imbalance = _imbalance(*self._l2.side_totals(self._levels))
                self._l2_dirty = False
            return self._book_imbalance
        book = self._book
        count = book.update_count
        if count != self._book_count:
            k = self._levels
            bid_total = 0.0
            for level in book.bids()[:k]:
                bid_total += level.size()
            ask_total = 0.0
            for level in book.asks()[:k]:
                ask_total += level.size()
            self._book_imbalance = _imbalance(bid_total, ask_total)
            self._book_count = count
        return self._book_imbalance

    def _set_top(self, bid: float, ask: float, bid_size: float, ask_size: float) -> None:
        self._bid, self._ask = bid, ask
        self._bid_size, self._ask_size = bid_size, ask_size
        self._mid = (bid + ask) / 2.0

    def _advance(self, ts_ns: int) -> None:
        """Close the volatility grid points strictly before an event at ``ts_ns``."""
        if self._grid_next_ns < 0:
            dt = self._dt_ns
            self._grid_next_ns = -(-ts_ns // dt) * dt  # first grid point >= the first event
            return
        if self._grid_next_ns < ts_ns:
            self._close_grid(ts_ns - 1)

    def _close_grid(self, upto_ns: int) -> None:
        """Record the mid at every grid point ``<= upto_ns`` not yet recorded."""
        dt = self._dt_ns
        g = self._grid_next_ns
        n = (upto_ns - g) // dt + 1
        mid = self._mid
        r = mid - self._grid_mid
        self._returns.append(r * r)  # NaN if either end is undefined
        if n > 1:
            # The mid is constant across the rest: zero returns (or undefined ones).
            fill = 0.0 if mid == mid else NAN
            self._returns.extend([fill] * min(n - 1, self._returns.maxlen))
        self._grid_mid = mid
        self._grid_next_ns = g + n * dt
        total = 0.0
        count = 0
        for r2 in self._returns:
            if r2 == r2:
                total += r2
                count += 1
        self._vol = math.sqrt(total / (count * self._dt_s)) if count >= self._min_returns else NAN

    def _evict(self, ts_ns: int) -> None:
        cutoff = ts_ns - self._window_ns
        trades = self._trades
        while trades and trades[0][0] <= cutoff:
            _, buy, sell = trades.popleft()
            self._buy_units -= buy
            self._sell_units -= sell
