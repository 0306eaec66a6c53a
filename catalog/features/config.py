"""The feature definition's parameters, the feature names and one sampled vector.

See :mod:`catalog.features` for the conventions every feature follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

VOLUME_SCALE = 1_000_000_000
"""Trade sizes are summed as integers of ``1 / VOLUME_SCALE`` units (exact for <= 9 decimals)."""

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
"""Order of :meth:`FeatureVector.as_array` and of :meth:`IncrementalFeatures.sample_values`."""

TopOfBook = Literal["auto", "quotes", "book"]


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the market features (one object shared by strategies and the RL env).

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

