"""Online estimators of the market parameters used by the Avellaneda-Stoikov and GLFT models.

Both models assume that a limit order resting at distance ``delta`` from the mid price is hit by
market orders with Poisson intensity

    lambda(delta) = A * exp(-k * delta)                                       (1)

(Avellaneda & Stoikov 2008, §2.2; Guéant, Lehalle & Fernandez-Tapia 2013, §2) and that the mid
price is a Brownian motion with volatility ``sigma``.

Intensity (A, k)
    A market order that trades at distance ``d`` from the mid would also have filled any resting
    order closer than ``d``. So over a trailing window of ``T`` seconds, the number of market
    orders whose deepest trade reached at least ``delta``, divided by ``T``, is an unbiased
    estimate of ``lambda(delta)``. Taking logs of (1) gives a line, ``ln lambda = ln A - k delta``,
    fitted by least squares over a grid of depths. This is the estimator described by Guéant
    (2017, "Optimal market making", Applied Mathematical Finance, §5 on calibration) and used by
    Hummingbot's ``TradingIntensityIndicator`` for its Avellaneda market maker. Two choices here:

    - depths are evaluated on the half-tick grid of *observed* levels (prices sit on ticks and the
      mid on half ticks, so real depths are multiples of half a tick); evaluating between
      observed levels would add flat steps that bias ``k`` down;
    - the regression is weighted by the count at each depth: the count is Poisson, so the
      variance of its log is about ``1 / count`` and the sparse tail would otherwise dominate.

    Trades sharing a timestamp and aggressor side are merged into one market order that reached
    its deepest price (a sweep prints one trade per level).

Volatility (sigma)
    Realised volatility of mid prices sampled on a regular clock:
    ``sigma = sqrt(sum(dx^2) / (n * dt))``, in price units per square-root second. The strategies
    take sigma from ``catalog.features.IncrementalFeatures`` (same estimator, maintained online);
    :func:`realized_volatility` is the batch form used for checks and offline calibration.

All depths are in ticks, ``k`` in 1/tick and ``A`` in 1/s.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class IntensityFit:
    """Result of fitting ``lambda(delta) = A exp(-k delta)``.

    Parameters
    ----------
    a_per_s : float
        Arrival rate of market orders reaching the mid (delta = 0), per second.
    k_per_tick : float
        Decay of the intensity with depth, per tick.
    n_orders : int
        Market orders in the window.
    n_levels : int
        Depth levels used in the regression.
    window_s : float
        Length of the observation window, seconds.
    """

    a_per_s: float
    k_per_tick: float
    n_orders: int
    n_levels: int
    window_s: float


def fit_intensity(
    depths_ticks: np.ndarray,
    window_s: float,
    *,
    max_depth_ticks: float = 50.0,
    min_count: int = 5,
    grid_ticks: float = 0.5,
) -> IntensityFit | None:
    """Fit ``A`` and ``k`` of ``lambda(delta) = A exp(-k delta)`` to market-order depths.

    Parameters
    ----------
    depths_ticks : np.ndarray
        Deepest distance from the mid reached by each market order in the window, in ticks.
    window_s : float
        Length of the observation window in seconds (the denominator of the rates).
    max_depth_ticks : float, default 50
        Depths beyond this are still counted at the shallower levels but not used as levels.
    min_count : int, default 5
        Levels with fewer market orders reaching them are dropped (their log-count is noise).
    grid_ticks : float, default 0.5
        Resolution of the depth grid; half a tick matches mids on half ticks.

    Returns
    -------
    IntensityFit or None
        ``None`` when fewer than two levels qualify or the fitted decay is not positive.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    d = np.asarray(depths_ticks, dtype=float)
    d = d[np.isfinite(d) & (d >= 0)]
    if d.size < min_count:
        return None
    levels = np.unique(np.floor(d / grid_ticks + 1e-9) * grid_ticks)
    levels = levels[levels <= max_depth_ticks]
    d_sorted = np.sort(d)
    # counts[j] = number of market orders that reached at least levels[j]
    counts = d_sorted.size - np.searchsorted(d_sorted, levels - 1e-9, side="left")
    keep = counts >= min_count
    levels, counts = levels[keep], counts[keep].astype(float)
    if levels.size < 2:
        return None
    y = np.log(counts / window_s)
    w = counts  # var(ln N) ~ 1/N for Poisson N
    x_mean = np.average(levels, weights=w)
    y_mean = np.average(y, weights=w)
    sxx = np.sum(w * (levels - x_mean) ** 2)
    if sxx <= 0:
        return None
    slope = np.sum(w * (levels - x_mean) * (y - y_mean)) / sxx
    k = -slope
    if not k > 0:
        return None
    a = math.exp(y_mean - slope * x_mean)
    return IntensityFit(
        a_per_s=a,
        k_per_tick=float(k),
        n_orders=int(d.size),
        n_levels=int(levels.size),
        window_s=float(window_s),
    )


def realized_volatility(prices: np.ndarray, dt_s: float) -> float:
    """Realised volatility of a regularly sampled price path, in price units per sqrt(second).

    ``sigma_hat = sqrt(sum(diff(p)^2) / (n * dt))``; for a Brownian motion
    ``dp = sigma dW`` it is consistent with relative error about ``1 / sqrt(2 n)``.

    Parameters
    ----------
    prices : np.ndarray
        Prices sampled every ``dt_s`` seconds.
    dt_s : float
        Sampling interval in seconds.
    """
    if dt_s <= 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    p = np.asarray(prices, dtype=float)
    if p.size < 2:
        return float("nan")
    dx = np.diff(p)
    return float(math.sqrt(float(np.dot(dx, dx)) / (dx.size * dt_s)))


class TradeIntensityEstimator:
    """Rolling-window estimator of ``A`` and ``k`` from trades and the mid before each trade.

    Feed every trade with :meth:`on_trade`; call :meth:`fit` when a fresh estimate is needed.
    Cost is O(1) per trade and O(n log n) per fit over the ``n`` orders in the window.

    Parameters
    ----------
    tick_size : float
        Instrument tick, to express depths in ticks.
    window_ns : int
        Trailing window length in nanoseconds.
    max_depth_ticks : float, default 50
        See :func:`fit_intensity`.
    min_count : int, default 5
        See :func:`fit_intensity`.
    min_orders : int, default 30
        No fit before this many market orders are in the window.
    """

    def __init__(
        self,
        tick_size: float,
        window_ns: int,
        *,
        max_depth_ticks: float = 50.0,
        min_count: int = 5,
        min_orders: int = 30,
    ) -> None:
        if tick_size <= 0:
            raise ValueError(f"tick_size must be > 0, got {tick_size}")
        if window_ns <= 0:
            raise ValueError(f"window_ns must be > 0, got {window_ns}")
        self._tick = float(tick_size)
        self._window_ns = int(window_ns)
        self._max_depth = float(max_depth_ticks)
        self._min_count = int(min_count)
        self._min_orders = int(min_orders)
        self._orders: deque[list] = deque()  # [ts_ns, aggressor, depth_ticks]
        self._first_ts_ns: int | None = None

    def on_trade(self, ts_ns: int, price: float, mid: float, aggressor: int = 0) -> None:
        """Record a trade at ``price`` given the prevailing ``mid``.

        Parameters
        ----------
        ts_ns : int
            Trade time (ns); must be non-decreasing.
        price, mid : float
            Trade price and the mid price just before the trade.
        aggressor : int, default 0
            +1 buyer-initiated, -1 seller-initiated, 0 unknown. Trades with the same timestamp
            and aggressor are one market order.
        """
        if not (math.isfinite(price) and math.isfinite(mid)):
            return
        if self._first_ts_ns is None:
            self._first_ts_ns = ts_ns
        depth = abs(price - mid) / self._tick
        last = self._orders[-1] if self._orders else None
        if last is not None and last[0] == ts_ns and last[1] == aggressor and aggressor != 0:
            last[2] = max(last[2], depth)
        else:
            self._orders.append([ts_ns, aggressor, depth])
        self._evict(ts_ns)

    def _evict(self, now_ns: int) -> None:
        cutoff = now_ns - self._window_ns
        orders = self._orders
        while orders and orders[0][0] <= cutoff:
            orders.popleft()

    @property
    def n_orders(self) -> int:
        """Market orders currently in the window."""
        return len(self._orders)

    def fit(self, now_ns: int) -> IntensityFit | None:
        """Fit over the window ending at ``now_ns``; ``None`` while data are insufficient."""
        self._evict(now_ns)
        if self._first_ts_ns is None or len(self._orders) < self._min_orders:
            return None
        window_ns = min(self._window_ns, now_ns - self._first_ts_ns)
        if window_ns <= 0:
            return None
        depths = np.fromiter((o[2] for o in self._orders), dtype=float, count=len(self._orders))
        return fit_intensity(
            depths,
            window_ns / _NS_PER_S,
            max_depth_ticks=self._max_depth,
            min_count=self._min_count,
        )

    def reset(self) -> None:
        self._orders.clear()
        self._first_ts_ns = None
