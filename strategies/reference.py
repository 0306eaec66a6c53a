"""The closed-form optimal market maker of the Avellaneda–Stoikov model: the known optimum.

Model (Avellaneda & Stoikov 2008; Cartea, Jaimungal & Penalva 2015, "Algorithmic and
High-Frequency Trading", ch. 10.2): the mid is an arithmetic Brownian motion; market sell (buy)
orders arrive as Poisson processes of rate ``lambda`` per side and reach depth ``delta`` from the
mid with probability ``exp(-kappa * delta)``, so a quote at depth ``delta`` is filled at rate
``lambda * exp(-kappa * delta)``. The market maker maximises

    E[ X_T + q_T * S_T - alpha * q_T^2 - phi * integral_t^T q_u^2 du ]

(cash + inventory marked to mid, a terminal liquidation penalty ``alpha`` and a running inventory
penalty ``phi``), with ``|q| <= q_max``. CJP eq. (10.17)–(10.20) solve it in closed form: with
``h(t, q) = log(omega(t, q)) / kappa`` and ``omega(t) = expm(A (T - t)) z``, where ``A`` is the
tridiagonal matrix

    A[q, q] = -phi * kappa * q^2,   A[q, q +- 1] = lambda * exp(-1),   z[q] = exp(-alpha * kappa * q^2),

the optimal depths are

    delta_bid*(t, q) = 1/kappa + log(omega(t, q) / omega(t, q + 1)) / kappa   (no bid at q = q_max)
    delta_ask*(t, q) = 1/kappa + log(omega(t, q) / omega(t, q - 1)) / kappa   (no ask at q = -q_max)

Far from the horizon ``omega`` aligns with the leading eigenvector of ``A`` and the depths become
time-independent: that is the ``horizon_s=None`` (stationary) variant. The volatility does not enter:
in this criterion ``phi`` carries the inventory risk (CJP §10.2 discuss the equivalence with the
exponential-utility AS quotes for small risk aversion, ``phi ~ gamma * sigma^2 / 2``).

Units here follow the project's reward (``rl.config.RewardConfig``): prices in ticks, inventory in
units of ``order_qty``, time in seconds. A reward with ``running_inventory_penalty = c`` per step of
``dt_s`` on ``(q / q_max)^2`` is this criterion with ``phi = c / (q_max^2 * dt_s)`` ticks per unit^2
per second (:func:`phi_from_reward`).

The depths are quoted by one reference quoter, ``rl.synth.ReferencePolicy``: a policy over the
agent's observation, so it runs through the training environment and through
:class:`strategies.policy.PolicyMarketMaker` exactly as a trained model does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def phi_from_reward(running_inventory_penalty: float, max_inventory_units: int, dt_s: float) -> float:
    """Convert the env's per-step penalty on ``(q/q_max)^2`` into CJP's ``phi`` (ticks/unit^2/s)."""
    return running_inventory_penalty / (max_inventory_units**2 * dt_s)


@dataclass(frozen=True)
class OptimalDepths:
    """Optimal depths (ticks) on a grid of time-to-go and inventory.

    ``bid_ticks[j, i]`` / ``ask_ticks[j, i]`` is the depth with ``j * dt_s`` seconds left and
    inventory ``q = i - q_max`` units; ``nan`` where that side must not quote. With a stationary
    solution there is one row.
    """

    bid_ticks: np.ndarray
    ask_ticks: np.ndarray
    q_max: int
    dt_s: float

    def at(self, q_units: int, time_left_s: float | None) -> tuple[float, float]:
        """Depths (bid, ask) in ticks for inventory ``q_units`` and ``time_left_s`` to go."""
        q = int(np.clip(q_units, -self.q_max, self.q_max))
        if self.bid_ticks.shape[0] == 1 or time_left_s is None:
            j = self.bid_ticks.shape[0] - 1
        else:
            j = int(np.clip(round(time_left_s / self.dt_s), 0, self.bid_ticks.shape[0] - 1))
        i = q + self.q_max
        return float(self.bid_ticks[j, i]), float(self.ask_ticks[j, i])


def _generator(kappa: float, arrival_rate: float, phi: float, q_max: int) -> np.ndarray:
    qs = np.arange(-q_max, q_max + 1, dtype=np.float64)
    a = np.diag(-phi * kappa * qs**2)
    off = arrival_rate * math.exp(-1.0)
    idx = np.arange(len(qs) - 1)
    a[idx, idx + 1] = off
    a[idx + 1, idx] = off
    return a


def _depths_from_omega(log_omega: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Depths from ``log(omega)`` rows indexed by ``q = -q_max .. q_max``."""
    n = log_omega.shape[-1]
    bid = np.full(log_omega.shape, np.nan)
    ask = np.full(log_omega.shape, np.nan)
    # bid at q buys one unit: q -> q+1 (none at q_max); ask at q sells: q -> q-1 (none at -q_max)
    bid[..., : n - 1] = 1.0 / kappa + (log_omega[..., : n - 1] - log_omega[..., 1:]) / kappa
    ask[..., 1:] = 1.0 / kappa + (log_omega[..., 1:] - log_omega[..., : n - 1]) / kappa
    return bid, ask


def optimal_depths(
    *,
    kappa_per_tick: float,
    arrival_rate_per_s: float,
    phi: float,
    q_max: int,
    horizon_s: float | None = None,
    dt_s: float = 1.0,
    alpha: float = 0.0,
) -> OptimalDepths:
    """Solve CJP (10.19) for the optimal depths (see the module docstring).

    Parameters
    ----------
    kappa_per_tick : float
        Fill-probability decay ``kappa`` per tick of depth.
    arrival_rate_per_s : float
        Market-order arrival rate ``lambda`` per side.
    phi : float
        Running inventory penalty, ticks per unit^2 per second.
    q_max : int
        Inventory bound in units.
    horizon_s : float, optional
        Episode length; None gives the stationary (long-horizon) solution.
    dt_s : float
        Time grid of the table (the decision interval).
    alpha : float
        Terminal penalty, ticks per unit^2.
    """
    if not (kappa_per_tick > 0 and arrival_rate_per_s > 0 and phi >= 0 and q_max >= 1):
        raise ValueError("optimal_depths: need kappa > 0, lambda > 0, phi >= 0, q_max >= 1")
    a = _generator(kappa_per_tick, arrival_rate_per_s, phi, q_max)
    if horizon_s is None:
        eigvals, eigvecs = np.linalg.eigh(a)
        lead = np.abs(eigvecs[:, np.argmax(eigvals)])  # Perron vector: positive
        bid, ask = _depths_from_omega(np.log(lead)[None, :], kappa_per_tick)
        return OptimalDepths(bid, ask, q_max, dt_s)
    from scipy.linalg import expm

    steps = max(1, int(round(horizon_s / dt_s)))
    step = expm(a * dt_s)
    qs = np.arange(-q_max, q_max + 1, dtype=np.float64)
    omega = np.exp(-alpha * kappa_per_tick * qs**2)
    log_rows = [np.log(omega)]
    for _ in range(steps):
        omega = step @ omega
        scale = omega.max()
        omega = omega / scale  # only ratios matter; keeps omega finite for long horizons
        log_rows.append(np.log(omega))
    bid, ask = _depths_from_omega(np.asarray(log_rows), kappa_per_tick)
    return OptimalDepths(bid, ask, q_max, dt_s)
