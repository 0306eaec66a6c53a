"""The online estimators recover known parameters from synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.calibration import TradeIntensityEstimator, fit_intensity, realized_volatility

NS = 1_000_000_000


def _poisson_market_orders(a_per_s: float, k_per_tick: float, horizon_s: float, seed: int):
    """Market orders arriving as a Poisson process of rate A whose depth is Exp(k).

    Then the number reaching depth >= delta is Poisson with rate A * P(depth >= delta) =
    A exp(-k delta): exactly the model lambda(delta) = A exp(-k delta).
    """
    rng = np.random.default_rng(seed)
    n = rng.poisson(a_per_s * horizon_s)
    times_s = np.sort(rng.uniform(0.0, horizon_s, n))
    depths = rng.exponential(1.0 / k_per_tick, n)
    return times_s, depths


@pytest.mark.parametrize(("a_per_s", "k_per_tick"), [(3.0, 0.4), (10.0, 1.5)])
def test_fit_intensity_recovers_a_and_k(a_per_s: float, k_per_tick: float) -> None:
    _, depths = _poisson_market_orders(a_per_s, k_per_tick, 2_000.0, seed=7)
    fit = fit_intensity(depths, 2_000.0)
    assert fit is not None
    assert fit.k_per_tick == pytest.approx(k_per_tick, rel=0.05)
    assert fit.a_per_s == pytest.approx(a_per_s, rel=0.05)
    assert fit.n_orders == len(depths)


def test_fit_intensity_needs_two_levels() -> None:
    # every market order at the touch: the decay is not identifiable
    assert fit_intensity(np.full(100, 0.5), 60.0) is None
    assert fit_intensity(np.array([0.5, 1.5]), 60.0) is None  # too few orders


def test_streaming_estimator_recovers_parameters_over_its_window() -> None:
    a_per_s, k_per_tick, tick, mid = 4.0, 0.6, 0.1, 60_000.0
    times_s, depths = _poisson_market_orders(a_per_s, k_per_tick, 2_000.0, seed=11)
    rng = np.random.default_rng(3)
    sides = rng.choice([-1, 1], len(depths))
    est = TradeIntensityEstimator(tick_size=tick, window_ns=1_000 * NS)
    for t, d, side in zip(times_s, depths, sides, strict=True):
        est.on_trade(int(t * NS), mid + side * d * tick, mid, int(side))
    fit = est.fit(2_000 * NS)
    assert fit is not None
    # only the last 1000 s are used
    assert fit.window_s == pytest.approx(1_000.0)
    assert est.n_orders == pytest.approx(a_per_s * 1_000, rel=0.1)
    assert fit.k_per_tick == pytest.approx(k_per_tick, rel=0.08)
    assert fit.a_per_s == pytest.approx(a_per_s, rel=0.08)


def test_streaming_estimator_merges_a_sweep_into_one_order() -> None:
    est = TradeIntensityEstimator(tick_size=1.0, window_ns=60 * NS, min_orders=1)
    # one buy market order sweeping three levels prints three trades at the same time
    for price in (100.5, 101.5, 102.5):
        est.on_trade(5 * NS, price, 100.0, 1)
    assert est.n_orders == 1
    est.on_trade(5 * NS, 99.5, 100.0, -1)  # opposite aggressor: another order
    est.on_trade(6 * NS, 100.5, 100.0, 1)  # later: another order
    assert est.n_orders == 3
    assert [o[2] for o in est._orders] == [2.5, 0.5, 0.5]


def test_realized_volatility_recovers_brownian_sigma() -> None:
    sigma, dt_s, n = 2.5, 0.5, 20_000
    rng = np.random.default_rng(5)
    path = 60_000.0 + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigma * np.sqrt(dt_s), n))])
    # relative standard error 1/sqrt(2n) = 0.5%
    assert realized_volatility(path, dt_s) == pytest.approx(sigma, rel=0.02)
    # sub-sampling every 4th point (dt = 2 s) estimates the same sigma per sqrt(second)
    assert realized_volatility(path[::4], 4 * dt_s) == pytest.approx(sigma, rel=0.04)


def test_estimators_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="window_s"):
        fit_intensity(np.ones(10), 0.0)
    with pytest.raises(ValueError, match="dt_s"):
        realized_volatility(np.ones(10), 0.0)
    with pytest.raises(ValueError, match="tick_size"):
        TradeIntensityEstimator(tick_size=0.0, window_ns=NS)
