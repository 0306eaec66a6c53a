"""Market features with ONE definition, computed two ways that agree to float precision.

* :class:`IncrementalFeatures` is fed events one by one (inside a Nautilus strategy or the RL
  environment) and answers :meth:`IncrementalFeatures.sample` in O(1) at every decision step.
* :func:`compute_features` evaluates the same definitions vectorised over a catalog window
  (pandas / NumPy) for analysis and for calibrating strategies.

The two share every convention below; ``tests/catalog/test_features.py`` replays real Binance data
through both (event by event, and inside a ``BacktestEngine`` strategy sampling on a timer) and
checks that they agree at a grid of sample times: bit for bit, except the volatility sums (1e-12).

In a strategy: call ``on_quote`` / ``on_trade`` from ``on_quote_tick`` / ``on_trade_tick``, and
``on_book_deltas(deltas)`` from ``on_order_book_deltas`` (or ``on_book(self.cache.order_book(id),
deltas.ts_init)``, slower on deep books); sample in a timer callback with ``event.ts_event``.

Conventions
-----------
Time
    Everything uses the receive time ``ts_init`` (what the engine clock sees). The features at
    sample time ``t`` use every event with ``ts_init <= t``. This is what a Nautilus timer firing
    at ``t`` sees: ``BacktestEngine`` processes all data with ``ts_init == t`` before the time
    events due at ``t`` (``backtest/engine.pyx``, main loop).
Top of book (``mid``, ``microprice``, ``spread_ticks``)
    From the latest quote, or from the order book, chosen by ``FeatureConfig.top_of_book``:
    ``"auto"`` (default) uses quotes once any quote has arrived and the book before that;
    ``"quotes"`` / ``"book"`` use one source only. (Binance's ``bookTicker`` stream updates the
    touch faster than the 100 ms depth stream, hence quotes first.)
Imbalance
    Over the top ``book_levels`` levels of the book once any book update has arrived, otherwise
    from the quote's top level (k = 1). Missing levels count as zero size.
Volatility
    Realised volatility of the mid sampled on a fixed grid ``g_j = j * vol_sample_interval_ns``
    (multiples of the interval since the UNIX epoch). ``m_j`` is the mid after all events with
    ``ts_init <= g_j``; ``r_j = m_j - m_{j-1}`` in price units. Over the last ``vol_window`` grid
    intervals ending at the last grid point ``<= t``, with ``n`` the number of defined returns::

        volatility = sqrt( sum(r_j ** 2) / (n * dt_s) )      [price units / sqrt(second)]

    the zero-mean realised-variance estimator (Andersen, Bollerslev, Diebold & Labys 2003,
    "Modeling and Forecasting Realized Volatility", Econometrica 71(2)). This is the ``sigma`` of
    Avellaneda & Stoikov (2008, "High-frequency trading in a limit order book", Quant. Finance
    8(3)), whose mid follows ``dS = sigma dW``. Relative volatility is ``volatility / mid``
    (per sqrt(second)); annualise by ``* sqrt(365 * 86_400)`` for a 24/7 market. NaN until
    ``vol_min_returns`` returns are defined.
Trades
    The window is ``(t - trade_window_ns, t]``. ``buy_volume`` / ``sell_volume`` sum the sizes of
    buyer- / seller-initiated trades; ``trade_count`` counts all trades (including those with no
    aggressor). ``trade_flow = (buy - sell) / (buy + sell)``, 0.0 when the window holds no
    aggressor volume. Volumes are accumulated as integers of ``1e-9`` size units so that running
    sums never drift and both implementations agree exactly. ``time_since_trade_s`` is NaN
    before the first trade.
Spread
    ``spread_ticks = round((ask - bid) / tick_size)`` (nearest integer, as a float), so that
    ``spread_ticks <= 1`` tests are not broken by float noise.

Microprice here is the size-weighted mid ``(bid * ask_size + ask * bid_size) / (bid_size +
ask_size)`` (the "weighted mid" that Stoikov 2018, "The micro-price", Quant. Finance 18(12),
takes as the first approximation of the micro-price).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide

NAN = float("nan")

VOLUME_SCALE = 1_000_000_000
"""Trade sizes are summed as integers of ``1 / VOLUME_SCALE`` units (exact for <= 9 decimals)."""

_BUYER = AggressorSide.BUYER
_SELLER = AggressorSide.SELLER

FEATURE_NAMES: tuple[str, ...] = (
    "mid",
    "microprice",
    "spread_ticks",
    "imbalance",
    "volatility",
    "trade_flow",
    "time_since_trade_s",
    "buy_volume",
    "sell_volume",
    "trade_count",
)
"""Order of :meth:`FeatureVector.as_array` and of the columns of :func:`compute_features`."""

QUOTE_COLUMNS = ("ts_init", "ts_event", "bid", "ask", "bid_size", "ask_size")
TRADE_COLUMNS = ("ts_init", "ts_event", "price", "size", "aggressor")

TopOfBook = Literal["auto", "quotes", "book"]


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the market features (one object shared by both implementations).

    Parameters
    ----------
    tick_size : float
        Price increment of the instrument; ``spread_ticks`` is measured in it.
    book_levels : int, default 5
        ``k``: number of price levels per side summed by the book imbalance.
    vol_sample_interval_ns : int, default 1 s
        Spacing of the grid on which the mid is sampled for realised volatility.
    vol_window : int, default 60
        Number of grid returns in the volatility window.
    trade_window_ns : int, default 10 s
        Length of the trailing window for trade flow, volumes and counts.
    vol_min_returns : int, default 2
        Fewer defined returns than this in the window gives NaN volatility.
    top_of_book : {"auto", "quotes", "book"}, default "auto"
        Source of ``mid`` / ``microprice`` / ``spread_ticks`` (see the module docstring).
    """

    tick_size: float
    book_levels: int = 5
    vol_sample_interval_ns: int = 1_000_000_000
    vol_window: int = 60
    trade_window_ns: int = 10_000_000_000
    vol_min_returns: int = 2
    top_of_book: TopOfBook = "auto"

    def __post_init__(self) -> None:
        if not (self.tick_size > 0 and math.isfinite(self.tick_size)):
            raise ValueError(f"FeatureConfig.tick_size must be > 0, got {self.tick_size!r}")
        for name in ("book_levels", "vol_sample_interval_ns", "vol_window", "trade_window_ns"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"FeatureConfig.{name} must be a positive int, got {value!r}")
        if not 1 <= self.vol_min_returns <= self.vol_window:
            raise ValueError(
                f"FeatureConfig.vol_min_returns must be in [1, vol_window={self.vol_window}], "
                f"got {self.vol_min_returns!r}",
            )
        if self.top_of_book not in ("auto", "quotes", "book"):
            raise ValueError(
                f"FeatureConfig.top_of_book must be 'auto', 'quotes' or 'book', "
                f"got {self.top_of_book!r}",
            )

    @property
    def vol_sample_interval_s(self) -> float:
        return self.vol_sample_interval_ns / 1e9


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """The features at one sample time; NaN where undefined (e.g. before the first quote).

    ``volatility`` is in price units per sqrt(second); ``buy_volume`` / ``sell_volume`` in the
    instrument's size units over the trade window; ``time_since_trade_s`` in seconds.
    """

    ts_ns: int
    mid: float
    microprice: float
    spread_ticks: float
    imbalance: float
    volatility: float
    trade_flow: float
    time_since_trade_s: float
    buy_volume: float
    sell_volume: float
    trade_count: int

    def as_array(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """Return the features in :data:`FEATURE_NAMES` order (``ts_ns`` is not included)."""
        return np.array(
            (
                self.mid,
                self.microprice,
                self.spread_ticks,
                self.imbalance,
                self.volatility,
                self.trade_flow,
                self.time_since_trade_s,
                self.buy_volume,
                self.sell_volume,
                self.trade_count,
            ),
            dtype=dtype,
        )


# -- shared formulas (scalar) ---------------------------------------------------------------------


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


def _volume_units(size: float) -> int:
    return round(size * VOLUME_SCALE)


def _aggressor_sign(side: AggressorSide) -> int:
    if side == AggressorSide.BUYER:
        return 1
    if side == AggressorSide.SELLER:
        return -1
    return 0


# -- L2 ladder ------------------------------------------------------------------------------------


class L2Ladder:
    """A price-level (MBP) book kept in sorted lists, with O(k) access to the top ``k`` levels.

    Why not ``nautilus_trader.model.book.OrderBook``: in 1.231.0 (as in 1.221) its only level
    accessors, ``bids()`` / ``asks()``, materialise every level as Python objects (0.4-0.5 ms per
    side for a 1,000-level Binance book, measured), too slow to read after each depth update in
    the RL loop; the pyo3 book's ``bids(depth)`` is fast but converting each delta to pyo3 costs
    ~1.9 µs. This
    ladder applies ``OrderBookDelta`` with MBP semantics: ADD and UPDATE set the size at a price
    (size 0 removes the level), DELETE removes the level, CLEAR empties the book. It is checked
    level by level against ``OrderBook`` in the tests. MBO (L3) deltas are not supported: use
    :meth:`IncrementalFeatures.on_book` with a Nautilus ``OrderBook`` for those.
    """

    __slots__ = ("_ask_keys", "_ask_levels", "_bid_keys", "_bid_levels")

    def __init__(self) -> None:
        self._bid_keys: list[int] = []  # raw prices ascending; best bid last
        self._ask_keys: list[int] = []  # raw prices ascending; best ask first
        self._bid_levels: dict[int, tuple[float, float]] = {}  # raw -> (price, size)
        self._ask_levels: dict[int, tuple[float, float]] = {}

    def clear(self) -> None:
        self._bid_keys.clear()
        self._ask_keys.clear()
        self._bid_levels.clear()
        self._ask_levels.clear()

    def apply(self, delta: OrderBookDelta) -> None:
        """Apply one delta (MBP semantics, see the class docstring)."""
        action = delta.action
        if action == BookAction.CLEAR:
            self.clear()
            return
        order = delta.order
        if order.side == OrderSide.BUY:
            keys, levels = self._bid_keys, self._bid_levels
        elif order.side == OrderSide.SELL:
            keys, levels = self._ask_keys, self._ask_levels
        else:
            raise ValueError(f"order book delta with no side: {delta!r}")
        price = order.price
        key = price.raw
        size = order.size.as_double()
        if action == BookAction.DELETE or size <= 0.0:
            if levels.pop(key, None) is not None:
                del keys[bisect.bisect_left(keys, key)]
            return
        if key not in levels:
            bisect.insort(keys, key)
        levels[key] = (price.as_double(), size)

    def bids(self, depth: int) -> list[tuple[float, float]]:
        """Best ``depth`` bid levels as ``(price, size)``, best first."""
        keys, levels = self._bid_keys, self._bid_levels
        return [levels[k] for k in keys[: -depth - 1 : -1]]

    def asks(self, depth: int) -> list[tuple[float, float]]:
        """Best ``depth`` ask levels as ``(price, size)``, best first."""
        levels = self._ask_levels
        return [levels[k] for k in self._ask_keys[:depth]]

    def best_bid(self) -> tuple[float, float] | None:
        return self._bid_levels[self._bid_keys[-1]] if self._bid_keys else None

    def best_ask(self) -> tuple[float, float] | None:
        return self._ask_levels[self._ask_keys[0]] if self._ask_keys else None

    def side_totals(self, depth: int) -> tuple[float, float]:
        """Summed size of the best ``depth`` levels per side (best level first, in order)."""
        bid_total = 0.0
        for _, size in self.bids(depth):
            bid_total += size
        ask_total = 0.0
        for _, size in self.asks(depth):
            ask_total += size
        return bid_total, ask_total


# -- incremental ----------------------------------------------------------------------------------


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
        # book state: either a Nautilus OrderBook (read lazily) or our ladder
        self._has_book = False
        self._book: OrderBook | None = None
        self._book_count = -1
        self._ladder: L2Ladder | None = None
        self._ladder_dirty = False
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
        self._ladder = None
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
        """Apply MBP deltas to an internal :class:`L2Ladder` (fast path for ``on_book``).

        Use either this or :meth:`on_book` for a given stream, not both.
        """
        self._advance(deltas.ts_init)
        if self._ladder is None:
            self._ladder = L2Ladder()
            self._book = None
        ladder = self._ladder
        if isinstance(deltas, OrderBookDelta):
            ladder.apply(deltas)
        else:
            for delta in deltas.deltas:
                ladder.apply(delta)
        self._has_book = True
        self._ladder_dirty = True
        if self._book_top or (self._auto_top and not self._has_quote):
            best_bid, best_ask = ladder.best_bid(), ladder.best_ask()
            bid, bid_size = best_bid if best_bid is not None else (NAN, NAN)
            ask, ask_size = best_ask if best_ask is not None else (NAN, NAN)
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
        if self._ladder is not None:
            if self._ladder_dirty:
                self._book_imbalance = _imbalance(*self._ladder.side_totals(self._levels))
                self._ladder_dirty = False
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


# -- vectorised -----------------------------------------------------------------------------------


def compute_features(
    quotes: pd.DataFrame | None,
    trades: pd.DataFrame | None,
    sample_ts_ns: np.ndarray,
    config: FeatureConfig,
    book_top: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Evaluate the features at each of ``sample_ts_ns`` over whole frames (vectorised).

    Parameters
    ----------
    quotes : DataFrame or None
        Columns ``ts_init, bid, ask, bid_size, ask_size`` (see :func:`frames_from_catalog`).
    trades : DataFrame or None
        Columns ``ts_init, size, aggressor`` (+1 buyer, -1 seller, 0 none).
    sample_ts_ns : array of int64
        Sample times (any order). Row ``i`` of the result uses events with ``ts_init <= t_i``.
    config : FeatureConfig
        The feature definition.
    book_top : DataFrame, optional
        One row per book state: ``ts_init``, ``bid_price_0``, ``ask_price_0`` and
        ``bid_size_0 .. bid_size_{k-1}``, ``ask_size_0 .. ask_size_{k-1}`` for
        ``k >= config.book_levels`` (see :func:`book_top_from_deltas`). NaN sizes count as 0.

    Returns
    -------
    DataFrame
        Index ``ts_ns`` (the sample times), columns :data:`FEATURE_NAMES`.
    """
    t = np.asarray(sample_ts_ns, dtype=np.int64)
    if t.ndim != 1:
        raise ValueError(f"sample_ts_ns must be one-dimensional, got shape {t.shape}")
    k = int(config.book_levels)
    q = _check_frame("quotes", quotes, ("ts_init", "bid", "ask", "bid_size", "ask_size"))
    tr = _check_frame("trades", trades, ("ts_init", "size", "aggressor"))
    size_cols = [f"bid_size_{j}" for j in range(k)] + [f"ask_size_{j}" for j in range(k)]
    bt = _check_frame("book_top", book_top, ("ts_init", "bid_price_0", "ask_price_0", *size_cols))

    out: dict[str, np.ndarray] = {}

    # -- top of book and imbalance
    q_ts = q["ts_init"].to_numpy(np.int64) if q is not None else np.empty(0, np.int64)
    b_ts = bt["ts_init"].to_numpy(np.int64) if bt is not None else np.empty(0, np.int64)
    if q is not None:
        q_bid, q_ask = q["bid"].to_numpy(np.float64), q["ask"].to_numpy(np.float64)
        q_bsz, q_asz = q["bid_size"].to_numpy(np.float64), q["ask_size"].to_numpy(np.float64)
    if bt is not None:
        b_bid = bt["bid_price_0"].to_numpy(np.float64)
        b_ask = bt["ask_price_0"].to_numpy(np.float64)
        b_bsz = bt["bid_size_0"].to_numpy(np.float64)
        b_asz = bt["ask_size_0"].to_numpy(np.float64)

    def top_at(times: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(times)
        bid, ask, bsz, asz = (np.full(n, np.nan) for _ in range(4))
        qi = np.searchsorted(q_ts, times, side="right") - 1
        bi = np.searchsorted(b_ts, times, side="right") - 1
        if config.top_of_book == "quotes":
            use_q, use_b = qi >= 0, np.zeros(n, bool)
        elif config.top_of_book == "book":
            use_q, use_b = np.zeros(n, bool), bi >= 0
        else:
            use_q = qi >= 0
            use_b = ~use_q & (bi >= 0)
        if use_q.any():
            idx = qi[use_q]
            bid[use_q], ask[use_q] = q_bid[idx], q_ask[idx]
            bsz[use_q], asz[use_q] = q_bsz[idx], q_asz[idx]
        if use_b.any():
            idx = bi[use_b]
            bid[use_b], ask[use_b] = b_bid[idx], b_ask[idx]
            bsz[use_b], asz[use_b] = b_bsz[idx], b_asz[idx]
        return bid, ask, bsz, asz

    bid, ask, bsz, asz = top_at(t)
    mid = (bid + ask) / 2.0
    out["mid"] = mid
    with np.errstate(invalid="ignore", divide="ignore"):
        size_sum = bsz + asz
        micro = (bid * asz + ask * bsz) / size_sum
        out["microprice"] = np.where(size_sum > 0, micro, np.nan)
        out["spread_ticks"] = np.rint((ask - bid) / float(config.tick_size))

        imbalance = np.full(len(t), np.nan)
        qi = np.searchsorted(q_ts, t, side="right") - 1
        bi = np.searchsorted(b_ts, t, side="right") - 1
        if q is not None:
            has_q = qi >= 0
            imbalance[has_q] = _imbalance_array(q_bsz[qi[has_q]], q_asz[qi[has_q]])
        if bt is not None:
            has_b = bi >= 0
            bid_total = np.zeros(len(bt))
            ask_total = np.zeros(len(bt))
            for j in range(k):  # level 0 first: the incremental sum's order
                bid_total = bid_total + np.nan_to_num(bt[f"bid_size_{j}"].to_numpy(np.float64))
                ask_total = ask_total + np.nan_to_num(bt[f"ask_size_{j}"].to_numpy(np.float64))
            book_imb = _imbalance_array(bid_total, ask_total)
            imbalance[has_b] = book_imb[bi[has_b]]
        out["imbalance"] = imbalance

        # -- volatility on the fixed grid
        out["volatility"] = _grid_volatility(t, config, lambda g: _mid_of(top_at(g)))

    # -- trades
    if tr is not None:
        tr_ts = tr["ts_init"].to_numpy(np.int64)
        size = tr["size"].to_numpy(np.float64)
        aggressor = tr["aggressor"].to_numpy()
        if not np.isin(aggressor, (-1, 0, 1)).all():
            row = int(np.flatnonzero(~np.isin(aggressor, (-1, 0, 1)))[0])
            raise ValueError(f"trades: row {row} field 'aggressor' must be -1, 0 or +1")
        units = np.rint(size * VOLUME_SCALE).astype(np.int64)
        # int64 cumulative sums may wrap on huge totals; differences of wrapped sums stay exact.
        zero = np.zeros(1, np.int64)
        cum_buy = np.concatenate([zero, np.cumsum(np.where(aggressor > 0, units, 0))])
        cum_sell = np.concatenate([zero, np.cumsum(np.where(aggressor < 0, units, 0))])
        hi = np.searchsorted(tr_ts, t, side="right")
        lo = np.searchsorted(tr_ts, t - int(config.trade_window_ns), side="right")
        buy = cum_buy[hi] - cum_buy[lo]
        sell = cum_sell[hi] - cum_sell[lo]
        total = buy + sell
        with np.errstate(invalid="ignore", divide="ignore"):
            flow = (buy - sell).astype(np.float64) / total.astype(np.float64)
        out["trade_flow"] = np.where(total != 0, flow, 0.0)
        since = (t - tr_ts[np.maximum(hi - 1, 0)]).astype(np.float64) / 1e9
        out["time_since_trade_s"] = np.where(hi > 0, since, np.nan)
        out["buy_volume"] = buy / VOLUME_SCALE
        out["sell_volume"] = sell / VOLUME_SCALE
        out["trade_count"] = (hi - lo).astype(np.int64)
    else:
        out["trade_flow"] = np.zeros(len(t))
        out["time_since_trade_s"] = np.full(len(t), np.nan)
        out["buy_volume"] = np.zeros(len(t))
        out["sell_volume"] = np.zeros(len(t))
        out["trade_count"] = np.zeros(len(t), np.int64)

    return pd.DataFrame(
        {name: out[name] for name in FEATURE_NAMES},
        index=pd.Index(t, name="ts_ns"),
    )


def _mid_of(top: tuple[np.ndarray, ...]) -> np.ndarray:
    bid, ask = top[0], top[1]
    return (bid + ask) / 2.0


def _imbalance_array(bid_total: np.ndarray, ask_total: np.ndarray) -> np.ndarray:
    total = bid_total + ask_total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (bid_total - ask_total) / total, np.nan)


def _grid_volatility(t: np.ndarray, config: FeatureConfig, mid_at) -> np.ndarray:
    """Realised volatility at each sample time (see the module docstring for the definition).

    Evaluates the mid on the whole grid span of the samples when that is smaller than one block
    of ``vol_window + 1`` grid points per sample, else per-sample blocks (sparse samples over a
    long span, e.g. one a minute over a month, stay cheap).
    """
    if len(t) == 0:
        return np.empty(0)
    dt = int(config.vol_sample_interval_ns)
    window = int(config.vol_window)
    last_k = t // dt  # index of the last grid point <= t
    k0 = int(last_k.min()) - window  # first grid point whose mid is needed
    k1 = int(last_k.max())
    if k1 - k0 + 1 <= len(t) * (window + 1):
        grid = np.arange(k0, k1 + 1, dtype=np.int64) * dt
        mids = mid_at(grid)
        r = mids[1:] - mids[:-1]  # r[i] is the return ending at grid index k0 + 1 + i
        r2 = r * r
        valid = ~np.isnan(r2)
        r2 = np.where(valid, r2, 0.0)
        # window w covers the returns ending at k0 + 1 + w ... k0 + w + window
        sums = np.lib.stride_tricks.sliding_window_view(r2, window).sum(axis=1)
        counts = np.lib.stride_tricks.sliding_window_view(valid, window).sum(axis=1)
        w = last_k - k0 - window
        total, n = sums[w], counts[w]
    else:
        grid = (last_k[:, None] + np.arange(-window, 1, dtype=np.int64)[None, :]) * dt
        mids = mid_at(grid.ravel()).reshape(grid.shape)
        r = mids[:, 1:] - mids[:, :-1]
        r2 = r * r
        valid = ~np.isnan(r2)
        total = np.where(valid, r2, 0.0).sum(axis=1)
        n = valid.sum(axis=1)
    vol = np.sqrt(total / (np.maximum(n, 1) * config.vol_sample_interval_s))
    return np.where(n >= config.vol_min_returns, vol, np.nan)


def _check_frame(
    name: str,
    frame: pd.DataFrame | None,
    columns: tuple[str, ...],
) -> pd.DataFrame | None:
    if frame is None or len(frame) == 0:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; have {list(frame.columns)}")
    ts = frame["ts_init"].to_numpy(np.int64)
    bad = np.flatnonzero(np.diff(ts) < 0)
    if len(bad):
        row = int(bad[0]) + 1
        raise ValueError(
            f"{name}: field 'ts_init' decreases at row {row} ({ts[row - 1]} -> {ts[row]}); "
            f"sort by ts_init first",
        )
    return frame


# -- frames from Nautilus objects and catalogs ----------------------------------------------------


class MarketFrames(NamedTuple):
    """Quotes, trades and (if deltas were present) book-top frames built from a data stream."""

    quotes: pd.DataFrame
    trades: pd.DataFrame
    book_top: pd.DataFrame | None


def quotes_frame(quotes: Iterable[QuoteTick]) -> pd.DataFrame:
    """``QuoteTick`` objects -> DataFrame with :data:`QUOTE_COLUMNS`."""
    rows = [
        (
            q.ts_init,
            q.ts_event,
            q.bid_price.as_double(),
            q.ask_price.as_double(),
            q.bid_size.as_double(),
            q.ask_size.as_double(),
        )
        for q in quotes
    ]
    return _frame(rows, QUOTE_COLUMNS, n_int=2)


def trades_frame(trades: Iterable[TradeTick]) -> pd.DataFrame:
    """``TradeTick`` objects -> DataFrame with :data:`TRADE_COLUMNS` (aggressor +1/-1/0)."""
    rows = [
        (
            tr.ts_init,
            tr.ts_event,
            tr.price.as_double(),
            tr.size.as_double(),
            _aggressor_sign(tr.aggressor_side),
        )
        for tr in trades
    ]
    frame = _frame(rows, TRADE_COLUMNS, n_int=2)
    frame["aggressor"] = frame["aggressor"].astype(np.int8)
    return frame


def _frame(rows: list[tuple], columns: tuple[str, ...], n_int: int) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {c: np.empty(0, np.int64 if i < n_int else np.float64) for i, c in enumerate(columns)},
        )
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for c in columns[:n_int]:
        frame[c] = frame[c].astype(np.int64)
    return frame


def book_top_columns(levels: int) -> list[str]:
    """Column names of a book-top frame with ``levels`` levels per side."""
    cols = ["ts_init", "ts_event"]
    for side in ("bid", "ask"):
        cols += [f"{side}_price_{j}" for j in range(levels)]
        cols += [f"{side}_size_{j}" for j in range(levels)]
    return cols


class _BookTopRecorder:
    """Rebuild the book from MBP deltas and record its top ``levels`` after each ``ts_init``."""

    def __init__(self, levels: int) -> None:
        if levels < 1:
            raise ValueError(f"book levels must be >= 1, got {levels}")
        self.levels = levels
        self.ladder = L2Ladder()
        self.rows: list[list] = []
        self._ts_init = -1
        self._ts_event = -1

    def add(self, delta: OrderBookDelta) -> None:
        if delta.ts_init != self._ts_init and self._ts_init >= 0:
            self._record()
        self.ladder.apply(delta)
        self._ts_init, self._ts_event = delta.ts_init, delta.ts_event

    def _record(self) -> None:
        k = self.levels
        row: list = [self._ts_init, self._ts_event]
        for levels in (self.ladder.bids(k), self.ladder.asks(k)):
            pad = [(NAN, NAN)] * (k - len(levels))
            row += [p for p, _ in levels] + [p for p, _ in pad]
            row += [s for _, s in levels] + [s for _, s in pad]
        self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        if self._ts_init >= 0:
            self._record()
            self._ts_init = -1
        cols = book_top_columns(self.levels)
        if not self.rows:
            return pd.DataFrame(
                {c: np.empty(0, np.int64 if i < 2 else np.float64) for i, c in enumerate(cols)},
            )
        frame = pd.DataFrame.from_records(self.rows, columns=cols)
        frame["ts_init"] = frame["ts_init"].astype(np.int64)
        frame["ts_event"] = frame["ts_event"].astype(np.int64)
        return frame


def book_top_from_deltas(
    deltas: Iterable[OrderBookDelta | OrderBookDeltas],
    levels: int = 5,
) -> pd.DataFrame:
    """Rebuild an MBP book from deltas and record its top ``levels`` after each ``ts_init``.

    One row per distinct ``ts_init`` (the state after the last delta with that time, which is what
    any sample at or after it sees): ``ts_init, ts_event, bid_price_0..k-1, bid_size_0..k-1,
    ask_price_0..k-1, ask_size_0..k-1``; missing levels are NaN. The stream must begin with a
    snapshot (or CLEAR) for the book to be complete.
    """
    rec = _BookTopRecorder(levels)
    for item in deltas:
        if isinstance(item, OrderBookDeltas):
            for delta in item.deltas:
                rec.add(delta)
        else:
            rec.add(item)
    return rec.frame()


def frames_from_data(data: Iterable[Data], book_levels: int = 5) -> MarketFrames:
    """Split one ``ts_init``-ordered stream (e.g. a loader's ``iter_data``) into frames.

    Quotes and trades become :func:`quotes_frame` / :func:`trades_frame`; order-book deltas are
    replayed into :func:`book_top_from_deltas` rows (``book_top`` is None without deltas).
    """
    quotes: list[QuoteTick] = []
    trades: list[TradeTick] = []
    rec = _BookTopRecorder(book_levels)
    has_book = False
    for item in data:
        if isinstance(item, QuoteTick):
            quotes.append(item)
        elif isinstance(item, TradeTick):
            trades.append(item)
        elif isinstance(item, OrderBookDelta):
            rec.add(item)
            has_book = True
        elif isinstance(item, OrderBookDeltas):
            for delta in item.deltas:
                rec.add(delta)
            has_book = True
    return MarketFrames(
        quotes_frame(quotes),
        trades_frame(trades),
        rec.frame() if has_book else None,
    )


def _catalog(catalog_path: str | Path):
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    path = Path(catalog_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: catalog directory not found")
    return ParquetDataCatalog(str(path))


def frames_from_catalog(
    catalog_path: str | Path,
    instrument_id: str,
    start=None,
    end=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read quotes and trades of ``instrument_id`` from a ``ParquetDataCatalog`` as DataFrames.

    Returns ``(quotes, trades)`` with :data:`QUOTE_COLUMNS` / :data:`TRADE_COLUMNS`; ``start`` and
    ``end`` are passed to the catalog query (ISO strings, pandas Timestamps or int ns).
    """
    catalog = _catalog(catalog_path)
    quotes = catalog.quote_ticks(instrument_ids=[instrument_id], start=start, end=end)
    trades = catalog.trade_ticks(instrument_ids=[instrument_id], start=start, end=end)
    return quotes_frame(quotes), trades_frame(trades)


def book_top_from_catalog(
    catalog_path: str | Path,
    instrument_id: str,
    levels: int = 5,
    start=None,
    end=None,
) -> pd.DataFrame:
    """:func:`book_top_from_deltas` over the ``order_book_deltas`` data of a catalog.

    The window must start at (or before) a snapshot, otherwise the rebuilt book is partial.
    """
    catalog = _catalog(catalog_path)
    deltas = catalog.order_book_deltas(instrument_ids=[instrument_id], start=start, end=end)
    return book_top_from_deltas(deltas, levels)
