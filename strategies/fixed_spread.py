"""Fixed-spread market maker: the simplest honest baseline.

Quotes ``half_spread_ticks`` either side of the mid (or microprice) with a constant size. With
``inventory_skew_ticks_per_unit > 0`` (see :class:`~strategies.base.MarketMakerConfig`) both quotes
lean against the position, the classic linear-skew heuristic; the hard inventory limit of the
quote manager stops the side that would exceed ``max_inventory``.
"""

from __future__ import annotations

from nautilus_trader.config import PositiveFloat

from catalog.features import FeatureVector
from strategies.base import MarketMakerConfig, MarketMakerStrategy
from strategies.quoting import Quotes


class FixedSpreadMarketMakerConfig(MarketMakerConfig, frozen=True):
    """
    Configuration for ``FixedSpreadMarketMaker`` instances.

    Parameters
    ----------
    half_spread_ticks : PositiveFloat, default 1.0
        Distance of each quote from the reference price, in ticks. Bids are rounded down and
        asks up to the tick grid, so 0.5 on a one-tick market quotes the touch.

    See :class:`~strategies.base.MarketMakerConfig` for the shared parameters.
    """

    half_spread_ticks: PositiveFloat = 1.0


class FixedSpreadMarketMaker(MarketMakerStrategy):
    """
    Quote a constant spread around the mid (or microprice).

    Parameters
    ----------
    config : FixedSpreadMarketMakerConfig
        The configuration for the instance.
    """

    def __init__(self, config: FixedSpreadMarketMakerConfig) -> None:
        super().__init__(config)

    def compute_quotes(self, features: FeatureVector, inventory: float) -> Quotes:
        ref = self.reference_price(features)
        half = self.config.half_spread_ticks * self._tick
        qty = float(self.config.order_qty)
        return Quotes(ref - half, ref + half, qty, qty)
