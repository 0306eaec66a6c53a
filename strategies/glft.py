"""Guéant-Lehalle-Fernandez-Tapia (GLFT) market maker.

Guéant, O., Lehalle, C.-A. & Fernandez-Tapia, J. (2013), "Dealing with the inventory risk: a
solution to the market making problem", Mathematics and Financial Economics 7(4), 477-507,
solve the Avellaneda-Stoikov problem with an inventory bound ``Q`` and show that, far from the
end of the session, the optimal quotes become stationary. Guéant (2017), "Optimal market
making", Applied Mathematical Finance 24(2), 112-154, gives closed-form approximations of those
stationary quotes for orders of size ``Delta``:

    delta_b(q) ~ c1 + (Delta/2 + q) * sigma * c2
    delta_a(q) ~ c1 + (Delta/2 - q) * sigma * c2

    c1 = 1/(xi Delta) * ln(1 + xi Delta / k)
    c2 = sqrt( gamma / (2 A Delta k) * (1 + xi Delta / k)^(k / (xi Delta) + 1) )

i.e. a half-spread ``c1 + Delta/2 sigma c2`` and an inventory skew ``sigma c2`` per unit of
inventory. ``xi = gamma`` is the CARA-utility model; ``xi = 0`` is Guéant's risk-adjusted
expectation model (then ``c1 = 1/k`` and the power term is ``e``). Depths are measured from the
reference price; the bid is not quoted at ``q >= Q`` and the ask not at ``q <= -Q``.

Units as in the Avellaneda-Stoikov module: ticks, ``sigma`` in ticks/sqrt(s), ``k`` per tick,
``A`` per second, and inventory in lots of ``order_qty`` (so ``Delta = 1`` and ``gamma`` is per
tick x lot), the convention of hftbacktest's GLFT example.
"""

from __future__ import annotations

import math

from typing import Annotated

import msgspec

from catalog.features import FeatureVector
from strategies.avellaneda_stoikov import MAX_GAMMA
from strategies.base import CalibratedMarketMaker, CalibratedMarketMakerConfig, clamp
from strategies.quoting import Quotes


GLFT_MAX_GAMMA = 10.0
"""Largest GLFT risk aversion accepted, per (tick x lot); see ``GLFTRiskAversion``."""

GLFTRiskAversion = Annotated[float, msgspec.Meta(gt=0.0, le=GLFT_MAX_GAMMA)]
"""GLFT's ``gamma`` in (0, 10] per (tick x lot): wider than Avellaneda-Stoikov's (0, 1].

In AS, ``gamma`` multiplies ``sigma^2 (T - t)`` in the reservation price, so above 1 the quotes
leave the book after one fill. In GLFT it enters through ``c2 = sqrt(gamma / (2 A k) * ...)``
only, the inventory skew ``sigma c2`` per lot grows as its square root, and with ``xi`` set
apart from it (Guéant 2017's two-parameter form) the half-spread term ``c1`` does not move: a
gamma of a few units is a real choice on a one-tick book (the USD-M sweep's best on its training
window is 1.40, docs/results.md §8), while tens are a unit mistake.
"""


def glft_coefficients(
    gamma: float,
    xi: float,
    a: float,
    k: float,
    delta: float = 1.0,
) -> tuple[float, float]:
    """Return ``(c1, c2)`` of Guéant (2017)'s closed-form approximation.

    The ``xi -> 0`` limits (``c1 -> 1/k``, power term ``-> e``) are taken analytically and
    ``log1p`` keeps small ``xi`` accurate.
    """
    if a <= 0 or k <= 0 or delta <= 0:
        raise ValueError(f"A, k and delta must be > 0, got A={a}, k={k}, delta={delta}")
    if gamma < 0 or xi < 0:
        raise ValueError(f"gamma and xi must be >= 0, got gamma={gamma}, xi={xi}")
    x = xi * delta
    if x == 0.0:
        c1 = 1.0 / k
        power = math.e
    else:
        ratio = x / k
        c1 = math.log1p(ratio) / x
        power = math.exp((1.0 / ratio + 1.0) * math.log1p(ratio))
    c2 = math.sqrt(gamma / (2.0 * a * delta * k) * power)
    return c1, c2


def glft_depths(
    q: float,
    sigma: float,
    c1: float,
    c2: float,
    delta: float = 1.0,
) -> tuple[float, float]:
    """Bid and ask depths ``(c1 + (Delta/2 + q) sigma c2, c1 + (Delta/2 - q) sigma c2)``."""
    half_spread = c1 + delta / 2.0 * sigma * c2
    skew = sigma * c2
    return half_spread + skew * q, half_spread - skew * q


class GLFTMarketMakerConfig(CalibratedMarketMakerConfig, frozen=True):
    """
    Configuration for ``GLFTMarketMaker`` instances.

    Parameters
    ----------
    gamma : float in (0, 10], default 1e-4
        Risk aversion per (tick x lot), lot = ``order_qty``: the quantity of the
        Avellaneda-Stoikov model, with a wider bound (:data:`GLFTRiskAversion`).
    xi : float in [0, 1], optional
        The ``xi`` of Guéant (2017): ``None`` (default) uses ``xi = gamma`` (CARA utility);
        ``0`` gives the risk-adjusted-expectation variant. Bounded like ``gamma``.

    The inventory bound is ``Q = floor(max_inventory / order_qty)`` lots. See
    :class:`~strategies.base.CalibratedMarketMakerConfig` for ``sigma_ticks``, ``k_per_tick``,
    ``a_per_s``, online calibration and the spread clamps.
    """

    gamma: GLFTRiskAversion = 1e-4
    xi: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_GAMMA)] | None = None


class GLFTMarketMaker(CalibratedMarketMaker):
    """
    Quote the GLFT stationary approximation with the inventory bound ``Q``.

    Parameters
    ----------
    config : GLFTMarketMakerConfig
        The configuration for the instance.
    """

    def __init__(self, config: GLFTMarketMakerConfig) -> None:
        super().__init__(config)
        self.max_lots = math.floor(config.max_inventory / config.order_qty)

    def compute_quotes(self, features: FeatureVector, inventory: float) -> Quotes:
        cfg: GLFTMarketMakerConfig = self.config
        params = self.model_params(features)
        if params is None:
            return Quotes.none()  # Not calibrated yet: do not quote blind.
        qty = float(cfg.order_qty)
        q = inventory / qty
        xi = cfg.gamma if cfg.xi is None else cfg.xi
        c1, c2 = glft_coefficients(cfg.gamma, xi, params.a_per_s, params.k_per_tick)
        bid_depth, ask_depth = glft_depths(q, params.sigma_ticks, c1, c2)
        # Clamp the total spread (inventory independent) and keep the skew.
        half = (bid_depth + ask_depth) / 2.0
        clamped = clamp(half, cfg.min_spread_ticks / 2.0, cfg.max_spread_ticks / 2.0)
        bid_depth += clamped - half
        ask_depth += clamped - half
        ref_ticks = self.reference_price(features) / self._tick
        bid = (ref_ticks - bid_depth) * self._tick if q < self.max_lots else None
        ask = (ref_ticks + ask_depth) * self._tick if q > -self.max_lots else None
        return Quotes(bid, ask, qty, qty)
