"""``amm sweep`` on local Ray (2 CPUs): fixed-spread trials on the bundled USD-M capture.

The capture spans 2024-08-08 23:54:15 -> 23:59:59 UTC; trials run on a 75 s validation window
inside it. Each sweep starts and stops its own local Ray (``ray.shutdown`` in ``run_sweep``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from backtests.config import load_run_config
from backtests.runner import run_backtest
from backtests.sweep import load_sweep, objective, run_sweep
from tests.helpers import USDM_VENUE, amm, assert_config_error, fixed_spread_entry, interrupt_after

ROOT = Path(__file__).resolve().parents[2]
WINDOW = '{ start = "2024-08-08T23:56:00Z", end = "2024-08-08T23:57:15Z" }'

BASE = """\
[run]
name = "usdm_sweep_base"
catalog = "{catalog}"
instrument_id = "BTCUSDT-PERP.BINANCE"
out_dir = "{out}"

""" + USDM_VENUE + fixed_spread_entry("fixed_spread", 2.0)

SWEEP = """\
[sweep]
name = "{name}"
run = "{run}"
strategy = "fixed_spread"
metric = "total_pnl"
mode = "max"
trials = {trials}
max_concurrent = 2
seed = 0
window = {window}
{extra}
[space.half_spread_ticks]
type = "float"
low = 0.5
high = 4.0
{space}
"""


def _write_sweep(tmp: Path, catalog: Path, *, name: str = "fs", trials: int = 4, extra: str = "", space: str = "",
                 window: str = WINDOW) -> Path:
    run = tmp / "base.toml"
    run.write_text(BASE.format(catalog=catalog, out=tmp / "runs"))
    path = tmp / f"{name}.toml"
    path.write_text(SWEEP.format(name=name, run=run, trials=trials, window=window, extra=extra, space=space))
    return path


@pytest.fixture(scope="module")
def swept(usdm_catalog, tmp_path_factory):
    """One 4-trial sweep through ``amm sweep --json``, run from the sweep's directory with the
    catalog given relative to it (trials run in Tune's own directories); returns (summary, sweep
    file, out dir)."""
    tmp = tmp_path_factory.mktemp("sweep")
    catalog = Path(os.path.relpath(usdm_catalog, tmp))
    # spread_captured_bps is nested in metrics.json (markouts): a constraint on it must still be read
    path = _write_sweep(tmp, catalog, extra="[sweep.constraints]\nmax_drawdown = { max = 1000.0 }\n"
                                            "spread_captured_bps = { min = -1000000.0 }")
    out = tmp / "sweeps"
    proc = subprocess.run(
        [sys.executable, "-m", "amm.cli", "sweep", "--config", path.name, "--out", "sweeps", "--json"],
        capture_output=True, text=True, timeout=240, cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    return summary, path, out


def test_sweep_writes_one_row_per_trial_and_the_outputs(swept):
    summary, _, out = swept
    assert (summary["trials"], summary["completed"], summary["failed"]) == (4, 4, 0)
    d = out / "fs"
    table = pd.read_csv(d / "trials.csv")
    assert len(table) == 4 and list(table["trial"]) == [1, 2, 3, 4]
    assert {"half_spread_ticks", "total_pnl", "max_drawdown", "objective", "status", "error", "run_dir"} <= set(table)
    assert (table["status"] == "TERMINATED").all()
    assert table["spread_captured_bps"].notna().all() and table["objective"].map(math.isfinite).all()
    assert table["half_spread_ticks"].between(0.5, 4.0).all()
    assert (d / "trials.md").read_text().count("\n") == 6  # header, rule, 4 rows
    assert (d / "objective.png").stat().st_size > 0
    for rd in table["run_dir"]:
        assert (Path(rd) / "config.resolved.toml").is_file() and (Path(rd) / "fixed_spread" / "metrics.json").is_file()
    assert summary["best_metric"] == table["total_pnl"].max()


def test_a_trial_run_directory_reruns_alone(swept):
    """Every trial is an ordinary run: only the tuned strategy, the trial's parameter, the window."""
    _, _, out = swept
    row = pd.read_csv(out / "fs" / "trials.csv").iloc[0]
    spec = load_run_config(Path(row["run_dir"]) / "config.resolved.toml")
    assert [s.name for s in spec.strategies] == ["fixed_spread"]
    assert spec.strategies[0].config["half_spread_ticks"] == pytest.approx(row["half_spread_ticks"])
    assert (spec.start, spec.end) == ("2024-08-08T23:56:00Z", "2024-08-08T23:57:15Z")


def test_best_toml_reruns_to_the_best_metric(swept, usdm_catalog, tmp_path):
    summary, _, _ = swept
    spec = load_run_config(summary["best_config"]).with_overrides(catalog=usdm_catalog, out_dir=tmp_path)
    assert spec.strategies[0].config["half_spread_ticks"] == summary["best_params"]["half_spread_ticks"]
    result = run_backtest(spec, progress=False, tearsheets=False)
    assert result.strategies[0].metrics["total_pnl"] == pytest.approx(summary["best_metric"], abs=1e-9)


def test_resume_of_a_finished_sweep_runs_no_new_trial_and_keeps_the_table(swept):
    _, path, out = swept
    before = pd.read_csv(out / "fs" / "trials.csv")
    mtimes = {rd: (Path(rd) / "config.resolved.toml").stat().st_mtime_ns for rd in before["run_dir"]}
    result = run_sweep(load_sweep(path), out=out, resume=True)
    assert len(result.table) == 4
    pd.testing.assert_frame_equal(pd.read_csv(out / "fs" / "trials.csv"), before)
    assert {rd: (Path(rd) / "config.resolved.toml").stat().st_mtime_ns for rd in before["run_dir"]} == mtimes


def test_a_second_sweep_into_the_same_directory_is_refused(swept):
    _, path, out = swept
    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep(load_sweep(path), out=out)


def test_a_failing_trial_is_reported_and_the_others_complete(usdm_catalog, tmp_path):
    """``max_inventory`` below ``order_qty`` makes a draw's config invalid: that trial fails with
    the config's one-line error, the sweep goes on."""
    path = _write_sweep(
        tmp_path, usdm_catalog, name="bad", trials=4,
        space='[space.max_inventory]\ntype = "choice"\nvalues = ["0.010", "0.001"]',
    )
    result = run_sweep(load_sweep(path), out=tmp_path / "sweeps")
    table = result.table
    assert len(table) == 4
    failed = table[table["status"] == "ERROR"]
    assert len(failed) >= 1 and (table["status"] == "TERMINATED").sum() >= 1
    assert (failed["max_inventory"] == "0.001").all()
    assert failed["error"].str.contains("space.max_inventory: must be >= order_qty").all()
    assert (table.loc[table["status"] == "TERMINATED", "max_inventory"] == "0.010").all()
    assert result.summary()["failed"] == len(failed)


def test_interrupted_sweep_resumes_only_the_missing_trials(usdm_catalog, tmp_path):
    """Ctrl-C after the first finished trial, then ``--resume``: the finished trials are kept
    (their run directories untouched) and only the rest run."""
    path = _write_sweep(tmp_path, usdm_catalog, name="cut", trials=4)
    out = tmp_path / "sweeps"
    cmd = [sys.executable, "-m", "amm.cli", "sweep", "--config", str(path), "--out", str(out), "--max-concurrent", "1"]
    interrupt_after(cmd, lambda line: " done: " in line)
    trials = out / "cut" / "trials"
    first = {p.name: (p / "config.resolved.toml").stat().st_mtime_ns for p in trials.iterdir()}
    assert 1 <= len(first) < 4
    time.sleep(0.01)
    code = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=240)
    assert code.returncode == 0, code.stderr[-3000:]
    table = pd.read_csv(out / "cut" / "trials.csv")
    assert len(table) == 4 and (table["status"] == "TERMINATED").all()
    finished_before = {k: v for k, v in first.items() if (trials / k / "fixed_spread" / "metrics.json").is_file()}
    assert {k: (trials / k / "config.resolved.toml").stat().st_mtime_ns for k in finished_before} == finished_before


def test_bad_sweep_files_fail_with_one_line(usdm_catalog, tmp_path):
    bad = _write_sweep(tmp_path, usdm_catalog, name="typo", extra="trails = 3")
    assert_config_error(load_sweep, bad, "sweep.trails", "unknown field")
    bad = _write_sweep(tmp_path, usdm_catalog, name="type", space='[space.quote_interval_ms]\ntype = "int"\nlow = "a"\nhigh = 9')
    assert_config_error(load_sweep, bad, "space.quote_interval_ms.low", "Expected `int`")
    bad = _write_sweep(tmp_path, usdm_catalog, name="kind", space='[space.quote_interval_ms]\ntype = "grid"')
    assert_config_error(load_sweep, bad, "space.quote_interval_ms.type", "'grid'; expected one of: float, int, choice")
    bad = _write_sweep(tmp_path, usdm_catalog, name="metric")
    bad.write_text(bad.read_text().replace('metric = "total_pnl"', 'metric = "pnl"'))
    assert_config_error(load_sweep, bad, "sweep.metric", "not a metrics.json field")
    bad = _write_sweep(tmp_path, usdm_catalog, name="param", space='[space.half_spread]\ntype = "float"\nlow = 1\nhigh = 2')
    assert_config_error(load_sweep, bad, "space.half_spread", "not a parameter of")
    bad = _write_sweep(tmp_path, usdm_catalog, name="strat")
    bad.write_text(bad.read_text().replace('strategy = "fixed_spread"', 'strategy = "glft"'))
    assert_config_error(load_sweep, bad, "sweep.strategy", "not a strategy of")


def test_the_validation_window_may_not_overlap_the_test_window(usdm_catalog, tmp_path):
    bad = _write_sweep(tmp_path, usdm_catalog, name="leak",
                       extra='test = { start = "2024-08-08T23:57:00Z", end = "2024-08-08T23:59:59Z" }')
    assert_config_error(load_sweep, bad, "sweep.window", "overlaps the test window sweep.test")
    ok = _write_sweep(tmp_path, usdm_catalog, name="clean",
                      extra='test = { start = "2024-08-08T23:58:00Z", end = "2024-08-08T23:59:59Z" }')
    assert load_sweep(ok).table.test is not None


def test_cli_reports_a_bad_sweep_file_as_one_line(capsys, usdm_catalog, tmp_path):
    bad = _write_sweep(tmp_path, usdm_catalog, name="typo", extra="trails = 3")
    code, out, err = amm(capsys, "sweep", "--config", str(bad), "--out", str(tmp_path / "o"))
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"error: {bad}: sweep.trails: unknown field; expected one of: "
                                        + err.split("expected one of: ", 1)[1].strip()]


def test_a_breached_constraint_or_a_missing_metric_scores_worst(usdm_catalog, tmp_path):
    sweep = load_sweep(_write_sweep(tmp_path, usdm_catalog, extra="[sweep.constraints]\nmax_drawdown = { max = 5.0 }"))
    assert objective(sweep, {"total_pnl": 1.5, "max_drawdown": 4.0}) == 1.5
    assert objective(sweep, {"total_pnl": 1.5, "max_drawdown": 6.0}) == -math.inf
    assert objective(sweep, {"total_pnl": float("nan"), "max_drawdown": 1.0}) == -math.inf
    assert objective(sweep, {"total_pnl": 1.5}) == -math.inf  # a constraint that cannot be checked fails


def test_a_grid_sweep_runs_every_combination_once(usdm_catalog, tmp_path):
    space = ('[space.quote_interval_ms]\ntype = "choice"\nvalues = [100, 500]\n'
             '[space.inventory_skew_ticks_per_unit]\ntype = "choice"\nvalues = [0.0, 0.5]\n')
    path = _write_sweep(tmp_path, usdm_catalog, name="grid", trials=4, extra='search = "grid"', space=space)
    text = path.read_text().replace('[space.half_spread_ticks]\ntype = "float"\nlow = 0.5\nhigh = 4.0\n', "")
    path.write_text(text)
    table = run_sweep(load_sweep(path), out=tmp_path / "sweeps").table
    assert sorted(zip(table["quote_interval_ms"], table["inventory_skew_ticks_per_unit"])) == [
        (100, 0.0), (100, 0.5), (500, 0.0), (500, 0.5)]
    assert (table["status"] == "TERMINATED").all()
    # the grid is the budget: any other trial count, or a float parameter, is one line
    path.write_text(text.replace("trials = 4", "trials = 3"))
    assert_config_error(load_sweep, path, "sweep.trials", 'set trials = 4')
    path.write_text(text + '[space.half_spread_ticks]\ntype = "float"\nlow = 0.5\nhigh = 4.0\n')
    assert_config_error(load_sweep, path, "space.half_spread_ticks", "choice parameters only")
