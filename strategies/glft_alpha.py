"""GLFT quotes around an alpha-adjusted fair price: book imbalance and trade flow as signals.

The GLFT market maker (:mod:`strategies.glft`) quotes symmetric depths around the mid (or
microprice) and skews them with inventory. Order-book signals predict the next mid move over
seconds: the volume imbalance at the touch and a few levels deep (Cartea, Donnelly & Jaimungal
(2018), "Enhancing trading strategies with order book signals", Applied Mathematical Finance
25(1), 1-35; Stoikov (2018), "The micro-price", Quantitative Finance 18(12)), and the
imbalance of recent market-order volume (trade flow). A market maker that shifts its reference price toward the
predicted move is picked off less on the side the price is about to cross, and fills more on the
side it moves away from. hftbacktest's "market making with alpha" examples do this on Binance
futures: fair price = mid + c * standardised imbalance, then GLFT depths around it.

Here the reference price of GLFT moves by

    shift = alpha_imbalance_ticks * z(imbalance) + alpha_flow_ticks * z(trade_flow)   (ticks)

where ``z(x) = (x - mean) / std`` is each signal standardised by an exponentially weighted
mean and variance with half-life ``alpha_halflife_s`` of *time* (so the scale adapts to the
instrument and the hour without a fixed window), clipped to ``±alpha_z_clip``. Until
``alpha_min_samples`` decisions have been seen, or while a signal is undefined, its term is 0.
With both coefficients 0 this is exactly :class:`~strategies.glft.GLFTMarketMaker`. The
coefficients are what a sweep tunes (``backtests/sweeps/``): the sign is not assumed.

Written here because neither NautilusTrader nor hftbacktest ships an alpha-skewed GLFT strategy:
the latter has it as a tutorial, the former only as an indicator toolbox.
"""

from __future__ import annotations

import math

from nautilus_trader.config import PositiveFloat, PositiveInt

from catalog.features import FeatureVector
from strategies.base import clamp
from strategies.glft import GLFTMarketMaker, GLFTMarketMakerConfig
from strategies.quoting import Quotes

_NS_PER_S = 1_000_000_000


class EwmStandardiser:
    """Exponentially weighted mean and variance of one signal, decaying with time.

    Each update weighs the new value by ``a = 1 - 2^(-dt / halflife)`` (``dt`` the time since
    the last update) and applies the incremental form of the weighted mean and (biased)
    variance (Finch (2009), "Incremental calculation of weighted mean and variance"), the
    recursion pandas' ``ewm(adjust=False)`` / ``.var(bias=True)`` computes on a regular grid.
    """

    def __init__(self, halflife_s: float) -> None:
        self.halflife_ns = halflife_s * _NS_PER_S
        self.reset()

    def reset(self) -> None:
        self.mean = math.nan
        self.var = 0.0
        self.count = 0
        self._last_ns: int | None = None

    def update(self, value: float, ts_ns: int) -> None:
        """Fold in ``value`` seen at ``ts_ns`` (a non-finite value is skipped)."""
        if not math.isfinite(value):
            return
        if self._last_ns is None:
            self.mean, self.var = value, 0.0
        else:
            dt = max(ts_ns - self._last_ns, 0)
            a = 1.0 - 2.0 ** (-dt / self.halflife_ns)
            diff = value - self.mean
            incr = a * diff
            self.mean += incr
            self.var = (1.0 - a) * (self.var + diff * incr)
        self._last_ns = ts_ns
        self.count += 1

    def z(self, value: float, clip: float) -> float:
        """``(value - mean) / std`` clipped to ``±clip``; 0 while undefined."""
        if not math.isfinite(value) or self.var <= 0.0:
            return 0.0
        return clamp((value - self.mean) / math.sqrt(self.var), -clip, clip)


class AlphaGLFTMarketMakerConfig(GLFTMarketMakerConfig, frozen=True):
    """
    Configuration for ``AlphaGLFTMarketMaker`` instances.

    Parameters
    ----------
    alpha_imbalance_ticks : float, default 0.0
        Reference-price shift, in ticks, per standard deviation of the book imbalance
        (``book_levels`` levels a side; the quote sizes on L1). Positive: a bid-heavy book moves
        the quotes up.
    alpha_flow_ticks : float, default 0.0
        Shift in ticks per standard deviation of the trade flow (``(buy - sell) / (buy + sell)``
        market-order volume over the features' trade window). Positive: buying pressure moves
        the quotes up.
    alpha_halflife_s : PositiveFloat, default 300.0
        Half-life of the mean and variance the signals are standardised with.
    alpha_z_clip : PositiveFloat, default 3.0
        Standardised signals are clipped to this many standard deviations.
    alpha_min_samples : PositiveInt, default 30
        Decisions before the signals are used (the standardiser needs a scale first).

    See :class:`~strategies.glft.GLFTMarketMakerConfig` for the GLFT parameters.
    """

    alpha_imbalance_ticks: float = 0.0
    alpha_flow_ticks: float = 0.0
    alpha_halflife_s: PositiveFloat = 300.0
    alpha_z_clip: PositiveFloat = 3.0
    alpha_min_samples: PositiveInt = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("alpha_imbalance_ticks", "alpha_flow_ticks"):
            value = getattr(self, name)
            if not math.isfinite(value) or abs(value) > 100.0:
                raise ValueError(f"{type(self).__name__}.{name} must be within [-100, 100] ticks, got {value}")


class AlphaGLFTMarketMaker(GLFTMarketMaker):
    """
    GLFT depths around ``reference price + shift`` (see the module docstring).

    Parameters
    ----------
    config : AlphaGLFTMarketMakerConfig
        The configuration for the instance.
    """

    def __init__(self, config: AlphaGLFTMarketMakerConfig) -> None:
        super().__init__(config)
        self.imbalance_z = EwmStandardiser(config.alpha_halflife_s)
        self.flow_z = EwmStandardiser(config.alpha_halflife_s)
        self.shift_ticks = 0.0

    def alpha_shift_ticks(self, features: FeatureVector) -> float:
        """Fold the features into the standardisers; the shift they give now, in ticks.

        A signal is scored against the mean and variance of the samples *before* it, so a value
        never explains itself.
        """
        cfg: AlphaGLFTMarketMakerConfig = self.config
        shift = 0.0
        for coefficient, standardiser, value in (
            (cfg.alpha_imbalance_ticks, self.imbalance_z, features.imbalance),
            (cfg.alpha_flow_ticks, self.flow_z, features.trade_flow),
        ):
            if standardiser.count >= cfg.alpha_min_samples:
                shift += coefficient * standardiser.z(value, cfg.alpha_z_clip)
            standardiser.update(value, features.ts_ns)
        return shift

    def compute_quotes(self, features: FeatureVector, inventory: float) -> Quotes:
        self.shift_ticks = self.alpha_shift_ticks(features)
        return super().compute_quotes(features, inventory)

    def reference_price(self, features: FeatureVector) -> float:
        return super().reference_price(features) + self.shift_ticks * self._tick

    def on_reset(self) -> None:
        super().on_reset()
        self.imbalance_z.reset()
        self.flow_z.reset()
        self.shift_ticks = 0.0
