"""The synthetic AS market: statistics of the generated data, fills through Nautilus, the optimum."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from rl.synth import ASModelConfig, read_model, simulate, venue_model, write_as_model
from strategies.reference import optimal_depths, phi_from_reward


def test_simulated_arrivals_and_depths_follow_the_model() -> None:
    cfg = ASModelConfig(duration_s=20_000, arrival_rate_per_s=1.0, kappa_per_tick=0.3, seed=1)
    p = simulate(cfg)
    sells = ~p.trade_is_buy
    # arrivals per side per second ~ lambda
    assert sells.sum() / cfg.duration_s == pytest.approx(1.0, rel=0.03)
    assert p.trade_is_buy.sum() / cfg.duration_s == pytest.approx(1.0, rel=0.03)
    # P(a sell reaches >= d ticks below the mid) = exp(-kappa d)
    depth = p.mid_ticks[p.trade_step[sells]] - p.trade_px_ticks[sells]
    for d in (0, 1, 3, 6):
        assert (depth >= d).mean() == pytest.approx(math.exp(-0.3 * d), abs=0.01)
    # arithmetic Brownian mid: increments ~ N(0, sigma^2 dt) in ticks (rounding adds 1/6 tick^2)
    inc = np.diff(p.mid_ticks)
    assert inc.var() == pytest.approx(1.0 + 1 / 6, rel=0.06)
    # trades strictly inside their step, time ordered
    step_ns = cfg.step_ms * 1_000_000
    off = p.trade_ts_ns - p.step_ts_ns[p.trade_step]
    assert off.min() >= 1_000_000 and off.max() <= step_ns - 1_000_000
    assert np.all(np.diff(p.trade_ts_ns) > 0)
    # same seed, same data
    np.testing.assert_array_equal(simulate(cfg).trade_px_ticks, p.trade_px_ticks)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="kappa_per_tick"):
        ASModelConfig(kappa_per_tick=0)
    with pytest.raises(ValueError, match="trade_size"):
        ASModelConfig(trade_size=0.5)


def _value_iteration_depths(kappa, lam, phi, q_max, horizon_s, dt):
    """Independent check: backward induction on a fine time grid with a grid search over depths."""
    qs = np.arange(-q_max, q_max + 1)
    h = np.zeros(len(qs))
    grid = np.linspace(-5, 30, 3501)
    fill = lam * np.exp(-kappa * grid) * dt
    for _ in range(int(horizon_s / dt)):
        new = h - phi * qs**2 * dt
        bid = np.full(len(qs), np.nan)
        ask = np.full(len(qs), np.nan)
        for i in range(len(qs)):
            if i + 1 < len(qs):
                gain = fill * (grid + h[i + 1] - h[i])
                bid[i] = grid[np.argmax(gain)]
                new[i] += gain.max()
            if i > 0:
                gain = fill * (grid + h[i - 1] - h[i])
                ask[i] = grid[np.argmax(gain)]
                new[i] += gain.max()
        h = new
    return bid, ask


def test_closed_form_depths_match_backward_induction() -> None:
    kappa, lam, phi, q_max = 0.2, 1.0, 0.05, 4
    closed = optimal_depths(kappa_per_tick=kappa, arrival_rate_per_s=lam, phi=phi, q_max=q_max, horizon_s=60, dt_s=1.0)
    bid_vi, ask_vi = _value_iteration_depths(kappa, lam, phi, q_max, 60, 0.01)
    bid, ask = closed.bid_ticks[-1], closed.ask_ticks[-1]
    np.testing.assert_allclose(bid[:-1], bid_vi[:-1], atol=0.05)
    np.testing.assert_allclose(ask[1:], ask_vi[1:], atol=0.05)
    assert math.isnan(bid[-1]) and math.isnan(ask[0])  # no bid at +q_max, no ask at -q_max
    # symmetric, and a long inventory quotes a deeper bid and a tighter ask
    np.testing.assert_allclose(bid[:-1], ask[1:][::-1])
    assert np.all(np.diff(bid[:-1]) > 0)
    # at the horizon with alpha=0 nothing is at stake: depth 1/kappa
    np.testing.assert_allclose(closed.bid_ticks[0][:-1], 1 / kappa)
    # a long horizon converges to the stationary solution
    long = optimal_depths(kappa_per_tick=kappa, arrival_rate_per_s=lam, phi=phi, q_max=q_max, horizon_s=2000, dt_s=1.0)
    stat = optimal_depths(kappa_per_tick=kappa, arrival_rate_per_s=lam, phi=phi, q_max=q_max)
    np.testing.assert_allclose(long.bid_ticks[-1][:-1], stat.bid_ticks[0][:-1], atol=1e-6)
    assert phi_from_reward(1.25, 5, 1.0) == pytest.approx(0.05)


def test_nautilus_fills_resting_quotes_at_the_model_rate(tmp_path) -> None:
    """A fixed-depth quoter on the synthetic catalog is filled at 1 - exp(-lambda e^{-kappa d} dt)."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig
    from nautilus_trader.model.identifiers import InstrumentId

    from catalog.window import load_window
    from strategies.fixed_spread import FixedSpreadMarketMakerConfig, FixedSpreadMarketMaker

    cfg = ASModelConfig(duration_s=3000, arrival_rate_per_s=1.0, kappa_per_tick=0.2, seed=7)
    result = write_as_model(cfg, tmp_path / "cat")
    assert read_model(tmp_path / "cat") == cfg
    assert result.trades > 5000
    venue = venue_model(cfg)
    window = load_window(tmp_path / "cat", cfg.instrument_id, None, None, venue.book_type)
    assert window.ts_event_raised == 0  # the model's events are already in time order
    engine = BacktestEngine(BacktestEngineConfig(
        logging=LoggingConfig(log_level="ERROR"), risk_engine=RiskEngineConfig(bypass=True), run_analysis=False,
    ))
    venue.add_to_engine(engine, [window.instrument])
    window.add_to_engine(engine)
    depth = 4
    strat = FixedSpreadMarketMaker(FixedSpreadMarketMakerConfig(
        instrument_id=InstrumentId.from_str(cfg.instrument_id), order_qty=Decimal(1), max_inventory=Decimal(100_000),
        half_spread_ticks=depth, quote_interval_ms=cfg.step_ms, flatten_on_stop=False, subscribe_trades=False,
    ))
    engine.add_strategy(strat)
    engine.run()
    fills = engine.trader.generate_order_fills_report()
    engine.dispose()
    steps = cfg.n_steps - 1
    expected = steps * (1 - math.exp(-1.0 * math.exp(-0.2 * depth) * 1.0))
    for side in ("BUY", "SELL"):
        n = int((fills["side"] == side).sum())
        sd = math.sqrt(expected)
        assert abs(n - expected) < 4 * sd, f"{side}: {n} fills, model says {expected:.0f}"
    # every fill at our price (mid -/+ depth), as a maker
    assert set(fills["liquidity_side"]) == {"MAKER"}


def test_run_config_centres_actions_on_the_optimum_and_scores_the_true_criterion(tmp_path) -> None:
    """The synthetic run config: a = 0 is the 1/kappa half-spread, the optimum is inside the box
    (never clipped), training uses the risk-neutral reward and the synth hyperparameter version."""
    import yaml

    from strategies.actions import ActionMapper
    from rl.config import RewardConfig
    from rl.synth import ReferencePolicy, criterion_env, synth_reward, synth_run_config
    from rl.train import load_run_config

    cfg = ASModelConfig(duration_s=3600, kappa_per_tick=0.2)
    raw = synth_run_config(cfg, tmp_path / "cat", algorithm="ppo")
    path = tmp_path / "ppo.yml"
    path.write_text(yaml.safe_dump(raw))
    run = load_run_config(path)
    assert run.hyperparams["file"] == "ppo-synth.yml" and run.hyperparams["kwargs"]["gamma"] == 0.95
    env = run.env_config()
    assert env.reward == RewardConfig.risk_neutral(running_inventory_penalty=1.25)
    assert synth_reward("mark_to_mid")["dampening"] == "none"
    with pytest.raises(ValueError, match="synth reward"):
        synth_reward("sharpe")
    hs, skew = ActionMapper(env.agent.action, tick_size=0.01, order_qty=1.0).half_spread_skew_ticks(np.zeros(2))
    assert (hs, skew) == (pytest.approx(1 / 0.2), 0.0)
    ref = ReferencePolicy(cfg, env)
    acts = np.array([ref.action_for(q, t) for q in range(-5, 6) for t in (0.0, 60.0, 300.0)])
    assert np.abs(acts).max() < 0.95  # the closed-form optimum is reachable, not clipped
    # the comparison scores PnL marked to mid minus the same penalty, whatever the training reward
    scored = criterion_env(raw["env"], tmp_path / "other")
    assert scored["reward"] == {"dampening": "none", "eta": 0.0, "running_inventory_penalty": 1.25}
    assert scored["catalog_path"] == str(tmp_path / "other")
    assert raw["env"]["reward"]["dampening"] == "symmetric"  # input untouched


def test_two_seeds_never_interleave_in_one_series(tmp_path, capsys) -> None:
    """A second model into the same catalog and instrument is refused; the same model adds nothing."""
    from tests.helpers import amm, tree_digest

    cat = tmp_path / "cat"
    args = ("synth", "as-model", "--catalog", str(cat), "--duration-s", "120", "--json")
    assert amm(capsys, *args, "--seed", "1")[0] == 0
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    quotes = len(ParquetDataCatalog(str(cat)).quote_ticks())
    before = tree_digest(cat)
    code, _, err = amm(capsys, *args, "--seed", "2")
    assert code == 1 and "already holds synthetic" in err and "seed 1 -> 2" in err and len(err.strip().splitlines()) == 1
    assert tree_digest(cat) == before
    assert amm(capsys, *args, "--seed", "1")[0] == 0  # the same model again: nothing added
    assert read_model(cat).seed == 1
    assert len(ParquetDataCatalog(str(cat)).quote_ticks()) == quotes
