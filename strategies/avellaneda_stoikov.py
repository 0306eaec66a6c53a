"""Avellaneda-Stoikov market maker.

Avellaneda, M. & Stoikov, S. (2008), "High-frequency trading in a limit order book",
Quantitative Finance 8(3), 217-224. With mid ``s``, inventory ``q``, risk aversion ``gamma``,
volatility ``sigma``, fill intensity ``lambda(delta) = A exp(-k delta)`` and time left
``T - t``, the (first-order) optimal quotes are centred on the reservation price

    r = s - q * gamma * sigma^2 * (T - t)

with total spread

    delta_a + delta_b = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k)

so bid = r - spread / 2 and ask = r + spread / 2. ``A`` does not enter these approximations.

Units: everything is computed in ticks (``sigma`` in ticks/sqrt(s), ``k`` per tick, prices in
ticks) and ``q`` is the position in units of ``order_qty`` ("lots"), so ``gamma`` is per
(tick x lot). That keeps ``gamma`` comparable across instruments with similar tick-relative
liquidity.

Horizon. Crypto trades 24/7, so the default is the *rolling* variant used in practice (e.g.
Hummingbot's "infinite" mode): ``T - t`` is a constant ``horizon_s``, which makes the quotes
stationary. The paper's *finite* horizon is available as ``horizon="session"``: sessions of
``horizon_s`` seconds aligned on the UTC epoch (``horizon_s=86400`` = UTC days), with ``T - t``
the time to the end of the current session, so the inventory penalty and the spread shrink as the
session closes. (The paper's discounted infinite-horizon formulas of §2.3 are not used: they are
only defined while ``2 omega > gamma^2 q^2 sigma^2`` and add a parameter without a clear
calibration.)
"""

from __future__ import annotations

import math

from typing import Annotated

import msgspec
from nautilus_trader.config import PositiveFloat

from catalog.features import FeatureVector
from strategies.base import CalibratedMarketMaker, CalibratedMarketMakerConfig, clamp
from strategies.quoting import Quotes

HORIZONS = ("rolling", "session")

MAX_GAMMA = 1.0
"""Largest risk aversion accepted, per (tick x lot); see ``RiskAversion``."""

RiskAversion = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_GAMMA)]
"""``gamma`` in (0, 1] per (tick x lot).

In these units the reservation price moves ``gamma * sigma^2 * (T - t)`` ticks per lot held. With
``sigma`` of the order of a tick per sqrt(s) and the default 60 s horizon, ``gamma = 1`` already
shifts it by about 60 ticks per lot: the quotes leave the book after the first fill. Above that
the model has no useful regime, so a larger value is taken for a typo (``gamma: 1.5`` was one).
The shipped configs use 0.01; Avellaneda & Stoikov (2008) simulate the model with gamma
0.01, 0.1 and 0.5 (in price, not tick, units).
"""
_NS_PER_S = 1_000_000_000


def reservation_price(mid: float, q: float, gamma: float, sigma: float, tau_s: float) -> float:
    """``r = s - q gamma sigma^2 (T - t)``."""
    return mid - q * gamma * sigma * sigma * tau_s


def optimal_spread(gamma: float, sigma: float, tau_s: float, k: float) -> float:
    """Total spread ``gamma sigma^2 (T - t) + (2/gamma) ln(1 + gamma/k)`` (AS 2008).

    As ``gamma -> 0`` the second term tends to ``2/k`` (risk-neutral half-spread ``1/k`` per
    side); ``log1p`` keeps it accurate for tiny ``gamma``.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    risk_term = gamma * sigma * sigma * tau_s
    if gamma == 0.0:
        return 2.0 / k
    return risk_term + (2.0 / gamma) * math.log1p(gamma / k)


def as_quotes(
    mid: float,
    q: float,
    gamma: float,
    sigma: float,
    k: float,
    tau_s: float,
    min_spread: float = 0.0,
    max_spread: float = math.inf,
) -> tuple[float, float]:
    """Bid and ask ``r -/+ spread/2`` with the spread clamped to ``[min_spread, max_spread]``."""
    r = reservation_price(mid, q, gamma, sigma, tau_s)
    spread = clamp(optimal_spread(gamma, sigma, tau_s, k), min_spread, max_spread)
    return r - spread / 2.0, r + spread / 2.0


class AvellanedaStoikovMarketMakerConfig(CalibratedMarketMakerConfig, frozen=True):
    """
    Configuration for ``AvellanedaStoikovMarketMaker`` instances.

    Parameters
    ----------
    gamma : float in (0, 1], default 1e-4
        Risk aversion per (tick x lot), lot = ``order_qty``. Sets the inventory penalty
        ``gamma sigma^2 (T-t)`` in ticks per lot; tune it per instrument and size. Values above
        1 are refused (:data:`RiskAversion` says why).
    horizon : str, default 'rolling'
        ``'rolling'``: constant ``T - t = horizon_s`` (stationary quotes, default).
        ``'session'``: ``T - t`` = time to the end of the current ``horizon_s``-long session
        aligned on the UTC epoch (the paper's finite horizon).
    horizon_s : PositiveFloat, default 60.0
        The rolling horizon, or the session length, in seconds.

    See :class:`~strategies.base.CalibratedMarketMakerConfig` for ``sigma_ticks``,
    ``k_per_tick``, online calibration and the spread clamps, and
    :class:`~strategies.base.MarketMakerConfig` for the rest.
    """

    gamma: RiskAversion = 1e-4
    horizon: str = "rolling"
    horizon_s: PositiveFloat = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.horizon not in HORIZONS:
            raise ValueError(
                f"{type(self).__name__}.horizon: must be one of {HORIZONS}, "
                f"got {self.horizon!r}",
            )


class AvellanedaStoikovMarketMaker(CalibratedMarketMaker):
    """
    Quote around the Avellaneda-Stoikov reservation price with the model's optimal spread.

    Parameters
    ----------
    config : AvellanedaStoikovMarketMakerConfig
        The configuration for the instance.
    """

    def __init__(self, config: AvellanedaStoikovMarketMakerConfig) -> None:
        super().__init__(config)

    def time_to_horizon_s(self, ts_ns: int) -> float:
        """``T - t`` in seconds for the configured horizon."""
        cfg: AvellanedaStoikovMarketMakerConfig = self.config
        if cfg.horizon == "rolling":
            return cfg.horizon_s
        session_ns = int(cfg.horizon_s * _NS_PER_S)
        return (session_ns - ts_ns % session_ns) / _NS_PER_S

    def compute_quotes(self, features: FeatureVector, inventory: float) -> Quotes:
        cfg: AvellanedaStoikovMarketMakerConfig = self.config
        params = self.model_params(features)
        if params is None:
            return Quotes.none()  # Not calibrated yet: do not quote blind.
        tick = self._tick
        qty = float(cfg.order_qty)
        q = inventory / qty
        bid_ticks, ask_ticks = as_quotes(
            mid=self.reference_price(features) / tick,
            q=q,
            gamma=cfg.gamma,
            sigma=params.sigma_ticks,
            k=params.k_per_tick,
            tau_s=self.time_to_horizon_s(features.ts_ns),
            min_spread=cfg.min_spread_ticks,
            max_spread=cfg.max_spread_ticks,
        )
        return Quotes(bid_ticks * tick, ask_ticks * tick, qty, qty)
