"""The risk-neutral reward (``RewardConfig.risk_neutral``): spread captured at fills, no ``q dS``.

Cartea, Jaimungal & Penalva (2015, ch. 10): with a martingale mid the inventory term of the PnL
marked to mid has zero mean for any policy, so rewarding only the spread part keeps the expected
return (and the optimum) while removing most of the variance. These tests drive the same
``FillLedger`` + ``RewardFunction`` the env's host strategy uses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from catalog.instruments import build_instrument, get_spec
from rl.config import RewardConfig
from rl.reward import RewardFunction
from strategies.ledger import FillLedger

TICK = 0.01


def _ledger() -> FillLedger:
    """A ledger of a linear contract of multiplier 1 (prices in quote currency)."""
    return FillLedger(build_instrument(get_spec("BTCUSDT-PERP.BINANCE")))


def _step(pnl: FillLedger, fn: RewardFunction, *, last_total: float, last_mid: float, last_q: float, mid: float):
    total = pnl.equity(mid)
    return fn(pnl_change=total - last_total, inventory_pnl=pnl.inventory_pnl(last_q, last_mid, mid),
              position=pnl.position, last=False), total


def test_risk_neutral_is_symmetric_dampening_with_eta_one() -> None:
    cfg = RewardConfig.risk_neutral(running_inventory_penalty=1.25)
    assert (cfg.dampening, cfg.eta, cfg.running_inventory_penalty) == ("symmetric", 1.0, 1.25)
    assert RewardConfig().dampening == "none"  # the default reward is unchanged


def test_reward_is_spread_captured_minus_penalty() -> None:
    pnl = _ledger()
    rn = RewardFunction(RewardConfig.risk_neutral(running_inventory_penalty=1.0), value_per_tick=TICK,
                        order_qty=1.0, max_inventory=5.0)
    mtm = RewardFunction(RewardConfig(running_inventory_penalty=1.0), value_per_tick=TICK,
                         order_qty=1.0, max_inventory=5.0)
    # step 1: bid 5 ticks under a 100.00 mid is filled; the mid stays
    pnl.apply(is_buy=True, qty=1.0, price=99.95, fee=0.0)
    a, total = _step(pnl, rn, last_total=0.0, last_mid=100.0, last_q=0.0, mid=100.0)
    b, _ = _step(pnl, mtm, last_total=0.0, last_mid=100.0, last_q=0.0, mid=100.0)
    pen = (1 / 5) ** 2
    assert a.reward == pytest.approx(5.0 - pen) and b.reward == pytest.approx(5.0 - pen)
    # step 2: no fill, the mid rises 10 ticks while long one unit: q dS is paid only mark-to-mid
    a, _ = _step(pnl, rn, last_total=total, last_mid=100.0, last_q=1.0, mid=100.10)
    b, _ = _step(pnl, mtm, last_total=total, last_mid=100.0, last_q=1.0, mid=100.10)
    assert b.reward == pytest.approx(10.0 - pen)
    assert a.reward == pytest.approx(-pen)
    assert a.inventory_pnl == pytest.approx(10.0)


def test_same_expected_return_as_mark_to_mid_with_far_less_variance() -> None:
    """Monte Carlo on the AS model: a skewed fixed-depth policy, martingale mid, Poisson fills."""
    rng = np.random.default_rng(7)
    kappa, lam, sigma, q_max, n = 0.2, 1.0, 1.0, 5, 60_000
    fns = {
        kind: RewardFunction(cfg, value_per_tick=TICK, order_qty=1.0, max_inventory=q_max)
        for kind, cfg in (("mtm", RewardConfig(running_inventory_penalty=1.25)),
                          ("rn", RewardConfig.risk_neutral(running_inventory_penalty=1.25)))
    }
    pnl = _ledger()
    mid, last_total, last_q = 10_000 * TICK, 0.0, 0.0
    rewards = {"mtm": np.empty(n), "rn": np.empty(n)}
    held = np.empty(n)
    for k in range(n):
        q = pnl.position
        bid_d, ask_d = 5 + 0.8 * q, 5 - 0.8 * q  # skew toward flat
        if q < q_max and rng.random() < 1 - math.exp(-lam * math.exp(-kappa * bid_d)):
            pnl.apply(is_buy=True, qty=1.0, price=mid - bid_d * TICK, fee=0.0)
        if q > -q_max and rng.random() < 1 - math.exp(-lam * math.exp(-kappa * ask_d)):
            pnl.apply(is_buy=False, qty=1.0, price=mid + ask_d * TICK, fee=0.0)
        new_mid = mid + sigma * TICK * rng.standard_normal()
        total = pnl.equity(new_mid)
        for kind, fn in fns.items():
            rewards[kind][k] = fn(pnl_change=total - last_total, inventory_pnl=pnl.inventory_pnl(last_q, mid, new_mid),
                                  position=pnl.position, last=False).reward
        held[k] = pnl.position
        mid, last_total, last_q = new_mid, total, pnl.position
    diff = rewards["mtm"] - rewards["rn"]  # = q_{t-1} dS + dq dS = q_t dS: zero mean
    se = diff.std() / math.sqrt(n)
    assert abs(diff.mean()) < 4 * se
    assert abs(rewards["mtm"].mean() - rewards["rn"].mean()) < 4 * se
    assert rewards["rn"].mean() > 0.5  # the policy earns a spread: the test has signal
    # what is removed is exactly the inventory noise, Var(q dS) = E[q^2] sigma^2 (ticks^2 a step)
    assert diff.var() == pytest.approx((held**2).mean() * sigma**2, rel=0.05)
    assert rewards["rn"].var() < rewards["mtm"].var() - 0.5 * diff.var()
