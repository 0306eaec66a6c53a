"""The feature definition's parameters, the feature names and one sampled vector.

See :mod:`catalog.features` for the conventions every feature follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
import numpy as np

from catalog.config_io import FieldError, validate_constraints

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]

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


class FeatureConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the market features (one object shared by strategies and the RL env).

    A frozen msgspec struct, like every config of the project: an agent's settings nest it, and
    a file that misspells a field or gives a value out of range fails naming it.

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

    tick_size: Annotated[float, msgspec.Meta(gt=0.0)]
    book_levels: PositiveInt = 5
    vol_sample_interval_ns: PositiveInt = 1_000_000_000
    vol_window: PositiveInt = 60
    trade_window_ns: PositiveInt = 10_000_000_000
    vol_min_returns: PositiveInt = 2
    top_of_book: TopOfBook = "auto"

    def __post_init__(self) -> None:
        if not math.isfinite(self.tick_size):
            raise FieldError("FeatureConfig", "tick_size", f"must be finite, got {self.tick_size!r}")
        validate_constraints(self)
        if not self.vol_min_returns <= self.vol_window:
            raise FieldError(
                "FeatureConfig", "vol_min_returns",
                f"must be in [1, vol_window={self.vol_window}], got {self.vol_min_returns!r}",
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

