"""Training sweeps (``amm sweep`` with ``[sweep] train``): hyperparameters and reward weights.

Each trial trains the shipped DQN run file (``rl/configs/usdm_btcusdt_dqn.yml``, tiny budget) on
the real USD-M capture and backtests the trained policy on the run's validation window; the
objective is that run's ``metrics.json``. Nothing of the test window is read by any trial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from backtests.config import load_run_config as load_backtest
from backtests.runner import run_backtest
from catalog.window import to_ns
from rl.sweep import load_training_sweep
from rl.train import load_run_config
from tests.helpers import assert_config_error

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rl" / "configs" / "usdm_btcusdt_dqn.yml"

SPACE = """\
[space."hyperparams.kwargs.learning_rate"]
type = "float"
low = 1e-5
high = 1e-3
log = true
[space."env.reward.eta"]
type = "float"
low = 0.0
high = 1.0
"""


def _write(tmp: Path, catalog: Path, *, name: str = "tiny", extra: str = "", space: str = SPACE) -> Path:
    cfg = yaml.safe_load(SHIPPED.read_text())
    cfg.update(total_timesteps=300, eval_freq_steps=150, eval_episodes=1, checkpoint_freq_steps=300)
    cfg["hyperparams_overrides"]["kwargs"]["learning_starts"] = 50
    cfg["env"]["catalog_path"] = str(catalog)
    cfg["env"]["agent"]["horizon_steps"] = 100
    run = tmp / "run.yml"
    run.write_text(yaml.safe_dump(cfg))
    path = tmp / f"{name}.toml"
    path.write_text(f'[sweep]\nname = "{name}"\ntrain = "{run}"\nmetric = "total_pnl"\ntrials = 2\n'
                    f"max_concurrent = 2\n{extra}\n{space}")
    return path


@pytest.mark.slow
def test_a_training_sweep_trains_scores_on_validation_and_writes_a_runnable_best(usdm_catalog, tmp_path):
    path = _write(tmp_path, usdm_catalog)
    proc = subprocess.run(
        [sys.executable, "-m", "amm.cli", "sweep", "--config", str(path), "--out", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert (summary["trials"], summary["completed"], summary["failed"]) == (2, 2, 0)
    table = pd.read_csv(tmp_path / "out" / "tiny" / "trials.csv")
    assert table["env.reward.eta"].between(0, 1).all() and table["hyperparams.kwargs.learning_rate"].between(1e-5, 1e-3).all()

    sweep = load_training_sweep(path)
    test_start = to_ns(sweep.base.test.start)
    for row in table.itertuples():
        trial = Path(row.run_dir)
        (train_dir,) = [p for p in trial.iterdir() if p.name.startswith("MarketMaking-v0__")]
        trained = load_run_config(train_dir / "config.yml")
        assert trained.env.reward.eta == pytest.approx(table.loc[row.Index, "env.reward.eta"])
        assert (train_dir / "model.zip").is_file()
        # the objective is the policy alone on the validation window, re-runnable as a backtest
        spec = load_backtest(trial / "validation" / "config.resolved.toml").with_overrides(out_dir=tmp_path / "again")
        assert (spec.start, spec.end) == (sweep.base.validation.start, sweep.base.validation.end)
        assert to_ns(spec.end) < test_start and [s.strategy_path for s in spec.strategies] == ["strategies.policy:PolicyMarketMaker"]
        if row.Index == 0:
            again = run_backtest(spec, progress=False, tearsheets=False).strategies[0].metrics["total_pnl"]
            assert again == pytest.approx(row.total_pnl, abs=1e-9)

    best = load_run_config(summary["best_config"])
    assert best == sweep.config_for(summary["best_params"])
    assert summary["best_metric"] == table["total_pnl"].max()


@pytest.mark.slow
def test_no_trial_reads_the_test_window(usdm_catalog, tmp_path, monkeypatch):
    """One trial in this process, every window load of the env (training, EvalCallback) and of
    the runner (the validation score) recorded: none reaches the test window."""
    import backtests.runner
    import rl.env

    calls: list[tuple[str, int | None, int]] = []

    def recording(module):
        real = module.load_window

        def load(catalog_path, instrument_id, start, end, book_type):
            window = real(catalog_path, instrument_id, start, end, book_type)
            calls.append((module.__name__, end, window.data[-1].ts_init))
            return window
        return load

    for module in (rl.env, backtests.runner):
        monkeypatch.setattr(module, "load_window", recording(module))
    sweep = load_training_sweep(_write(tmp_path, usdm_catalog))
    metrics = sweep.run_trial({"env.reward.eta": 0.3, "hyperparams.kwargs.learning_rate": 1e-4}, tmp_path / "trial")
    assert metrics["fills"] >= 0 and "total_pnl" in metrics
    test_start, _ = sweep.base.test.ns()
    assert {m for m, _, _ in calls} == {"rl.env", "backtests.runner"}
    assert ("backtests.runner", sweep.base.validation.ns()[1]) in {(m, e) for m, e, _ in calls}
    for _, end, last_ts in calls:
        assert end is not None and end < test_start and last_ts < test_start


def test_bad_training_sweeps_fail_with_one_line(usdm_catalog, tmp_path):
    bad = _write(tmp_path, usdm_catalog, name="path", space='[space."env.reward.etaa"]\ntype = "float"\nlow = 0\nhigh = 1')
    assert_config_error(load_training_sweep, bad, "space.env.reward.etaa", "not a field of the resolved run config")
    bad = _write(tmp_path, usdm_catalog, name="bound", space='[space.total_timesteps]\ntype = "int"\nlow = 0\nhigh = 9')
    assert_config_error(load_training_sweep, bad, "space.total_timesteps", "Expected `int` >= 1")
    bad = _write(tmp_path, usdm_catalog, name="strat", extra='strategy = "glft"')
    assert_config_error(load_training_sweep, bad, "sweep.strategy", "not used by a training sweep")
    bad = _write(tmp_path, usdm_catalog, name="both", extra='run = "x.toml"')
    assert_config_error(load_training_sweep, bad, "sweep.run", "give exactly one of run")


@pytest.mark.parametrize("window, label", [
    ('{ start = "2024-08-08T23:57:00Z", end = "2024-08-08T23:58:00Z" }', "training"),
    ('{ start = "2024-08-08T23:58:00Z", end = "2024-08-08T23:59:00Z" }', "test"),
])
def test_the_sweep_window_may_not_touch_the_training_or_test_window(usdm_catalog, tmp_path, window, label):
    bad = _write(tmp_path, usdm_catalog, name="leak", extra=f"window = {window}")
    assert_config_error(load_training_sweep, bad, "sweep.window", f"overlaps the run's {label} window")
    ok = load_training_sweep(_write(tmp_path, usdm_catalog, name="ok"))
    assert ok.window == ok.base.validation  # the default: the run's own validation window
