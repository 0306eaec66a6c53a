"""One model trained on several instruments at once (``RunConfig.train_instruments``), and a
training sweep scored on several (``[sweep] instruments``): issue 14's "one agent trades GOOG and
AMZN".

Real data: the two LOBSTER days (GOOG.XNAS, AMZN.XNAS, 2012-06-21). Training env ``i`` must trade
``train_instruments[i % k]`` and validation must score every instrument, otherwise a "pooled"
model is a single-stock model with a misleading name; a sweep's objective must be the mean of its
instruments' validation backtests, each of them re-runnable on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from backtests.metrics import flatten_summary
from backtests.sweep import load_sweep
from catalog.settings import REPO_ROOT
from rl.sweep import load_training_sweep, mean_metrics
from rl.train import build_vec_env, load_run_config
from tests.helpers import assert_config_error

POOLED = REPO_ROOT / "rl" / "configs" / "lobster_pooled_ppo.yml"
BOTH = ["GOOG.XNAS", "AMZN.XNAS"]


SHORT = {"window_start": "2012-06-21T13:30:00Z", "window_end": "2012-06-21T13:44:59.999Z"}
"""A quarter of an hour of the training morning: enough for the tests' short episodes."""


def _run_file(tmp: Path, catalog: Path, **changes) -> Path:
    """The shipped pooled recipe on ``catalog``, with ``changes`` over it (a tiny budget in tests)."""
    raw = {"base": str(POOLED), "env": {"catalog_path": str(catalog)}, **changes}
    path = tmp / "run.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_pooled_recipe_is_the_single_stock_recipe_on_both_stocks(tmp_path) -> None:
    pooled = load_run_config(POOLED, catalog=tmp_path)
    single = load_run_config(REPO_ROOT / "rl" / "configs" / "lobster_goog_ppo.yml", catalog=tmp_path)
    assert pooled.instruments == BOTH and single.instruments == ["GOOG.XNAS"]
    assert pooled.n_envs == 2 and pooled.total_timesteps == 2 * single.total_timesteps  # the same budget a stock
    assert pooled.eval_freq_steps == 2 * single.eval_freq_steps
    assert pooled.env == single.env and pooled.windows() == single.windows() and pooled.hyperparams == single.hyperparams
    assert pooled.env_config(instrument_id="AMZN.XNAS").agent.instrument_id == "AMZN.XNAS"
    assert pooled.env_config(instrument_id="AMZN.XNAS").venue == pooled.env.venue


@pytest.mark.parametrize("changes, field, message", [
    ({"train_instruments": ["AMZN.XNAS"]}, "train_instruments", "must hold env.agent.instrument_id 'GOOG.XNAS'"),
    ({"train_instruments": ["GOOG.XNAS", "GOOG.XNAS"]}, "train_instruments", "lists an instrument twice"),
    ({"train_instruments": ["GOOG.XNAS", "BTCUSDT-PERP.BINANCE"]}, "train_instruments",
     "'BTCUSDT-PERP.BINANCE' is not an instrument of the venue 'XNAS'"),
    ({"n_envs": 3}, "n_envs", "must be a multiple of the 2 train_instruments"),
])
def test_a_bad_pooled_run_file_fails_with_one_line(tmp_path, changes, field, message) -> None:
    path = _run_file(tmp_path, tmp_path, **changes)
    assert_config_error(lambda p: load_run_config(p), path, field, message)


def test_each_training_env_trades_its_instrument_and_validation_scores_each(lobster_catalog, tmp_path) -> None:
    path = _run_file(tmp_path, lobster_catalog, n_envs=4,
                     env={"catalog_path": str(lobster_catalog), **SHORT, "agent": {"horizon_steps": 300}})
    cfg = load_run_config(path, catalog=lobster_catalog)
    train = build_vec_env(cfg, kind="train", run_dir=None)
    try:
        assert [c.agent.instrument_id for c in train.get_attr("config")] == BOTH * 2
        assert [i.id.value for i in train.get_attr("instrument")] == BOTH * 2
        assert {(c.window_start, c.window_end) for c in train.get_attr("config")} == {tuple(SHORT.values())}
    finally:
        train.close()
    validation = build_vec_env(cfg, kind="validation", run_dir=None)
    try:
        configs = validation.get_attr("config")
        assert [c.agent.instrument_id for c in configs] == BOTH
        assert {(c.window_start, c.window_end) for c in configs} == {(cfg.validation.start, cfg.validation.end)}
        assert {(c.random_start, c.seed_policy) for c in configs} == {(False, "venue")}
    finally:
        validation.close()


def test_a_sweeps_instruments_are_a_training_sweeps_field(tmp_path) -> None:
    run = REPO_ROOT / "backtests" / "configs" / "tuned" / "lobster_goog_tuned.toml"
    path = tmp_path / "bad.toml"
    path.write_text(f'[sweep]\nname = "x"\nrun = "{run}"\nstrategy = "glft"\ninstruments = ["GOOG.XNAS"]\n'
                    'window = { start = "2012-06-21T16:30:00Z", end = "2012-06-21T17:59:59.999Z" }\n'
                    '[space.gamma]\ntype = "float"\nlow = 0.01\nhigh = 1.0\n')
    assert_config_error(load_sweep, path, "sweep.instruments", "a training sweep's field")


def test_the_mean_of_metric_rows_is_none_where_any_row_has_no_figure() -> None:
    rows = [{"sharpe_per_hour": 1.0, "fills": 10, "sharpe": None}, {"sharpe_per_hour": -0.5, "fills": 31, "sharpe": 2.0}]
    assert mean_metrics(rows) == {"sharpe_per_hour": 0.25, "fills": 20.5, "sharpe": None}
    assert mean_metrics([{"x": float("nan")}, {"x": 1.0}]) == {"x": None}


def test_flattening_a_flat_metrics_row_keeps_its_markouts() -> None:
    nested = {"total_pnl": 3.0, "markouts": {"spread_captured_bps": 1.5, "horizons": {"60s": {"markout_bps": -0.2}}}}
    flat = flatten_summary(nested)
    assert (flat["spread_captured_bps"], flat["markout_60s_bps"]) == (1.5, -0.2)
    assert flatten_summary(flat) == flat


@pytest.mark.slow
def test_a_pooled_model_trains_on_both_stocks_and_a_sweep_scores_it_on_both(lobster_catalog, tmp_path) -> None:
    """A tiny pooled run through a training sweep's trial: both envs trained (a Monitor file each
    with episodes), EvalCallback scored both stocks, and the trial's objective is the mean of its
    two validation backtests, each a run directory of its own."""
    run = _run_file(
        tmp_path, lobster_catalog, total_timesteps=400, eval_freq_steps=400, checkpoint_freq_steps=400, eval_episodes=1,
        hyperparams_overrides={"kwargs": {"n_steps": 100, "batch_size": 50, "n_epochs": 1}},
        env={"catalog_path": str(lobster_catalog), **SHORT, "agent": {"horizon_steps": 50, "warmup_ms": 10000}},
        validation={"start": "2012-06-21T16:30:00Z", "end": "2012-06-21T16:34:59.999Z"},
    )
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(f'[sweep]\nname = "pooled"\ntrain = "{run}"\nmetric = "sharpe_per_hour"\nsearch = "grid"\n'
                          f'trials = 1\ninstruments = {json.dumps(BOTH)}\n'
                          '[space."env.reward.eta"]\ntype = "choice"\nvalues = [0.5]\n')
    sweep = load_training_sweep(sweep_file)
    metrics = sweep.run_trial({"env.reward.eta": 0.5}, tmp_path / "trial")

    (train_dir,) = (tmp_path / "trial").glob("MarketMaking-v0__lobster_pooled_ppo__0__*")
    for rank in (0, 1):
        rows = (train_dir / "monitor" / f"random-{rank}.monitor.csv").read_text().splitlines()
        assert len(rows) >= 3  # the two header lines and at least one finished episode
    manifest = json.loads((train_dir / "metrics.json").read_text())
    assert manifest["validation_episodes"] == 2  # eval_episodes on each stock

    scored = json.loads((tmp_path / "trial" / "validation.json").read_text())
    assert set(scored) == {"mean", *BOTH}
    for iid in BOTH:
        (path,) = (tmp_path / "trial" / f"validation-{iid}").glob("*/metrics.json")
        own = json.loads(path.read_text())
        assert own["instrument_id"] == iid
        assert flatten_summary(own)["fills"] == scored[iid]["fills"]
    assert metrics == scored["mean"]
    assert metrics["fills"] == pytest.approx((scored[BOTH[0]]["fills"] + scored[BOTH[1]]["fills"]) / 2)
