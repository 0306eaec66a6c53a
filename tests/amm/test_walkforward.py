"""``amm walkforward`` on local Ray (2 CPUs): a grid of fixed-spread backtests on the USD-M capture.

Three 40 s windows of the bundled capture (2024-08-08 23:54:15 -> 23:59:59 UTC) x two strategies
(half-spreads 1 and 3 ticks) x two venue seeds of the first: the intervals, the paired
comparison and the seed handling are checked against the tasks' own run directories.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from amm.walkforward import interval, load_walkforward, run_walkforward
from backtests.config import load_run_config
from backtests.runner import run_backtest
from tests.helpers import USDM_VENUE, amm, assert_config_error, fixed_spread_entry, interrupt_after

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
[run]
name = "wf_base"
catalog = "{catalog}"
instrument_id = "BTCUSDT-PERP.BINANCE"

""" + USDM_VENUE + fixed_spread_entry("tight", 1.0) + fixed_spread_entry("wide", 3.0)

WINDOWS = """\
[[windows]]
start = "2024-08-08T23:56:00Z"
end = "2024-08-08T23:56:40Z"

[[windows]]
start = "2024-08-08T23:56:40Z"
end = "2024-08-08T23:57:20Z"

[[windows]]
label = "late"
start = "2024-08-08T23:57:20Z"
end = "2024-08-08T23:58:00Z"
"""

FILE = """\
[walkforward]
name = "{name}"
metric = "total_pnl"
benchmark = "wide"
max_concurrent = 2
{extra}
{windows}
[[backtests]]
run = "{run}"
strategies = ["tight"]
seeds = [1, 2]

[[backtests]]
run = "{run}"
strategies = ["wide"]
{more}
"""


def _write(tmp: Path, catalog: Path, *, name: str = "wf", extra: str = "", more: str = "", windows: str = WINDOWS) -> Path:
    run = tmp / "base.toml"
    run.write_text(BASE.format(catalog=catalog))
    path = tmp / f"{name}.toml"
    path.write_text(FILE.format(name=name, run=run, extra=extra, more=more, windows=windows))
    return path


@pytest.fixture(scope="module")
def walked(usdm_catalog, tmp_path_factory):
    """One 9-task walk-forward through ``amm walkforward --json``; returns (summary, out dir)."""
    tmp = tmp_path_factory.mktemp("wf")
    path = _write(tmp, usdm_catalog)
    proc = subprocess.run(
        [sys.executable, "-m", "amm.cli", "walkforward", "--config", str(path), "--out", str(tmp / "out"), "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("] BTCUSDT-PERP.BINANCE__") == 9  # one progress line per task
    return json.loads(proc.stdout), tmp / "out" / "wf"


def test_every_grid_cell_is_a_task_with_its_own_run_directory(walked):
    summary, d = walked
    assert (summary["tasks"], summary["completed"], summary["failed"]) == (9, 9, 0)
    runs = pd.read_csv(d / "runs.csv")
    assert sorted(runs["task"]) == sorted(
        f"BTCUSDT-PERP.BINANCE__{w}__{s}" for w in ("w1", "w2", "late") for s in ("tight__s1", "tight__s2", "wide__s42"))
    assert (runs["status"] == "ok").all() and (runs["fills"] > 0).all()
    for name in ("summary.csv", "summary.md", "summary.json", "walkforward.png", "grid.json"):
        assert (d / name).stat().st_size > 0, name
    md = (d / "summary.md").read_text()
    assert "## total_pnl: paired difference to wide" in md and "| late " in md


def test_a_task_reruns_alone_to_the_same_metric(walked, tmp_path):
    _, d = walked
    row = pd.read_csv(d / "runs.csv").iloc[4]
    spec = load_run_config(Path(row["run_dir"]) / "config.resolved.toml").with_overrides(out_dir=tmp_path)
    assert [s.name for s in spec.strategies] == [row["strategy"]] and spec.venue.seed == row["seed"]
    result = run_backtest(spec, progress=False, tearsheets=False)
    assert result.strategies[0].metrics["total_pnl"] == pytest.approx(row["total_pnl"], abs=1e-9)


def test_intervals_are_student_t_over_per_window_means(walked):
    """Seeds are averaged within a window first; the interval is over the three windows."""
    _, d = walked
    runs = pd.read_csv(d / "runs.csv")
    summary = pd.read_csv(d / "summary.csv").set_index("strategy")
    for strat in ("tight", "wide"):
        per_window = runs[runs["strategy"] == strat].groupby("window")["total_pnl"].mean()
        assert len(per_window) == 3
        mean, sd = per_window.mean(), per_window.std(ddof=1)
        half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
        row = summary.loc[strat]
        assert (row["n"], row["unit"]) == (3, "windows")
        assert row["total_pnl"] == pytest.approx(mean)
        assert (row["total_pnl_ci_low"], row["total_pnl_ci_high"]) == pytest.approx((mean - half, mean + half))
        assert row["fills"] == pytest.approx(runs[runs["strategy"] == strat].groupby("window")["fills"].mean().mean())


def test_paired_difference_is_taken_window_by_window(walked):
    summary, d = walked
    runs = pd.read_csv(d / "runs.csv")
    means = runs.groupby(["window", "strategy"])["total_pnl"].mean().unstack()
    diff = means["tight"] - means["wide"]
    (row,) = summary["paired"]
    assert (row["strategy"], row["benchmark"], row["n_windows"]) == ("tight", "wide", 3)
    assert row["mean_diff"] == pytest.approx(diff.mean())
    assert row["better"] == int((diff > 0).sum())


def test_paired_difference_per_instrument_and_pooled_with_a_benchmark_each():
    """Two instruments, each with its own benchmark: a row per instrument (its windows only,
    seeds averaged first) and a pooled row over every (instrument, window) cell."""
    from amm.walkforward import WalkforwardTable, paired

    rows = []
    for inst, bench, offsets in (("A", "x", (1.0, 2.0, 4.0)), ("B", "y", (-1.0, 0.5, 3.0))):
        for w, off in zip(("w1", "w2", "w3"), offsets):
            rows += [{"instrument": inst, "window": w, "strategy": "x", "status": "ok", "total_pnl": 10.0},
                     {"instrument": inst, "window": w, "strategy": "y", "status": "ok", "total_pnl": 20.0},
                     # the agent's two seeds average to benchmark + offset
                     {"instrument": inst, "window": w, "strategy": "agent", "status": "ok", "total_pnl": (10.0 if bench == "x" else 20.0) + off - 1},
                     {"instrument": inst, "window": w, "strategy": "agent", "status": "ok", "total_pnl": (10.0 if bench == "x" else 20.0) + off + 1}]
    t = WalkforwardTable(name="p", metric="total_pnl", benchmark={"A": "x", "B": "y"})
    d = paired(pd.DataFrame(rows), t).set_index(["instrument", "strategy"])
    assert d.loc[("A", "agent"), "mean_diff"] == pytest.approx(7 / 3) and d.loc[("A", "agent"), "benchmark"] == "x"
    assert d.loc[("B", "agent"), "mean_diff"] == pytest.approx(2.5 / 3) and d.loc[("B", "agent"), "better"] == 2
    assert d.loc[("A", "y"), "mean_diff"] == 10.0 and d.loc[("B", "x"), "mean_diff"] == -10.0
    pooled = d.loc[("*", "agent")]
    assert (pooled["n_windows"], pooled["mean_diff"]) == (6, pytest.approx(9.5 / 6))
    assert pooled["benchmark"] == "A: x, B: y"
    assert ("*", "x") not in d.index and ("*", "y") not in d.index  # each is a benchmark on one instrument
    # a strategy run on one instrument only gets neither a pooled summary row nor a pooled difference
    only_a = pd.DataFrame(rows + [{"instrument": "A", "window": w, "strategy": "solo", "status": "ok", "total_pnl": 11.0}
                                  for w in ("w1", "w2", "w3")])
    d = paired(only_a, t).set_index(["instrument", "strategy"])
    assert d.loc[("A", "solo"), "mean_diff"] == pytest.approx(1.0) and ("B", "solo") not in d.index
    assert ("*", "solo") not in d.index
    from amm.walkforward import summarise

    summary = summarise(only_a, ["total_pnl"], t).set_index(["instrument", "strategy"])
    assert ("A", "solo") in summary.index and ("*", "solo") not in summary.index and ("*", "agent") in summary.index
    lo, hi = interval([1.0, 2.0, 4.0], 0.95)[2:]
    assert (d.loc[("A", "agent"), "ci_low"], d.loc[("A", "agent"), "ci_high"]) == pytest.approx((lo, hi))


def test_backtest_entries_take_another_catalog_and_venue_fields(usdm_catalog, tmp_path):
    """A sensitivity is the same grid with venue fields replaced (a fee tier, queue position off);
    a bad field names the entry."""
    run = tmp_path / "base.toml"
    run.write_text(BASE.format(catalog="not/here"))
    path = tmp_path / "v.toml"
    body = (f'[walkforward]\nname = "v"\n{MODEL_WINDOWS}\n[[backtests]]\nrun = "{run}"\ncatalog = "{usdm_catalog}"\n')
    path.write_text(body + 'venue = { fee_model = "fixed_rates", maker_fee = "0.0001", taker_fee = "0.0004", queue_position = false }\n')
    tasks = load_walkforward(path).tasks
    assert tasks and all(t.spec.catalog == usdm_catalog.resolve() for t in tasks)
    assert all(str(t.spec.venue.maker_fee) == "0.0001" and t.spec.venue.queue_position is False for t in tasks)
    path.write_text(body + 'venue = { maker_feee = "0.0" }\n')
    assert_config_error(load_walkforward, path, "backtests[0].venue.maker_feee", "unknown field")


def test_deterministic_seeds_are_one_sample_not_several():
    """Two identical seeds of one window are one sample: no zero-width interval from copies."""
    from amm.walkforward import WalkforwardTable, summarise

    runs = pd.DataFrame({"instrument": "X", "window": "w1", "strategy": "s", "status": "ok", "total_pnl": [1.5, 1.5]})
    row = summarise(runs, ["total_pnl"], WalkforwardTable(name="x")).iloc[0]
    assert (row["n"], row["unit"], row["total_pnl"]) == (1, "seeds", 1.5) and math.isnan(row["total_pnl_ci_low"])
    mean, std, lo, hi = interval([1.0, 2.0, 3.0], 0.9)
    assert (mean, std) == (2.0, 1.0) and hi - mean == pytest.approx(stats.t.ppf(0.95, 2) / math.sqrt(3))


def test_bootstrap_intervals_are_scipys_percentile_bootstrap_and_seeded():
    import numpy as np

    sample = [-1.2, 0.4, 2.5, -0.3, 1.1, 0.9, -2.0, 0.2]
    mean, _, lo, hi = interval(sample, 0.95, method="bootstrap", resamples=2000, seed=7)
    ci = stats.bootstrap((np.array(sample),), np.mean, confidence_level=0.95, n_resamples=2000,
                         method="percentile", rng=7).confidence_interval
    assert mean == pytest.approx(np.mean(sample)) and (lo, hi) == pytest.approx((ci.low, ci.high))
    assert interval(sample, 0.95, method="bootstrap", resamples=2000, seed=7)[2:] == (lo, hi)
    assert lo < mean < hi


def test_a_failing_task_is_reported_and_the_others_complete(usdm_catalog, tmp_path, capsys):
    """An instrument the catalog does not hold fails its tasks with the runner's one-line error;
    the rest of the grid completes and the command exits 1 naming the count."""
    windows = WINDOWS.split("[[windows]]\nlabel")[0]  # the first two windows
    path = _write(tmp_path, usdm_catalog, name="bad", windows=windows, more='instruments = ["ETHUSDT-PERP.BINANCE"]')
    code, out, err = amm(capsys, "walkforward", "--config", str(path), "--out", str(tmp_path / "o"))
    assert code == 1
    assert err.strip().splitlines()[-1] == f"error: 2 of 6 tasks failed (see {tmp_path / 'o' / 'bad' / 'summary.md'})"
    runs = pd.read_csv(tmp_path / "o" / "bad" / "runs.csv")
    failed = runs[runs["status"] == "error"]
    assert set(failed["instrument"]) == {"ETHUSDT-PERP.BINANCE"} and len(failed) == 2
    assert failed["error"].str.contains("ETHUSDT-PERP.BINANCE").all()
    assert (runs.loc[runs["status"] == "ok", "instrument"] == "BTCUSDT-PERP.BINANCE").all()
    assert "## Failed tasks" in (tmp_path / "o" / "bad" / "summary.md").read_text()


def test_interrupted_walkforward_resumes_only_the_missing_tasks(usdm_catalog, tmp_path):
    path = _write(tmp_path, usdm_catalog, name="cut")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "amm.cli", "walkforward", "--config", str(path), "--out", str(out), "--max-concurrent", "1"]
    interrupt_after(cmd, lambda line: line.startswith("[1/9]"))
    tasks = out / "cut" / "tasks"
    done = sorted(p for p in tasks.iterdir() if (p / "task.json").exists())
    if len(done) == 9:
        # Under a loaded suite (two xdist workers, each with its own Ray) the grid of one-second
        # tasks can finish before Ctrl-C is read off the pipe: then take the result file of the
        # last four tasks away, which is what a kill at that point leaves (a task without its
        # task.json is unfinished), and check the resume on that.
        for p in done[-4:]:
            (p / "task.json").unlink()
    finished = {p.name: (p / "task.json").stat().st_mtime_ns for p in tasks.iterdir() if (p / "task.json").exists()}
    assert 1 <= len(finished) < 9
    again = subprocess.run([*cmd, "--resume", "--json"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(finished)} already done, {9 - len(finished)} to run" in again.stderr
    assert json.loads(again.stdout)["completed"] == 9
    assert {k: (tasks / k / "task.json").stat().st_mtime_ns for k in finished} == finished


def test_a_second_walkforward_into_the_same_directory_is_refused(walked):
    _, d = walked
    with pytest.raises(FileExistsError, match="--resume"):
        run_walkforward(load_walkforward(Path(json.loads((d / "grid.json").read_text())["source"])), out=d.parent)


def test_bad_walkforward_files_fail_with_one_line(usdm_catalog, tmp_path):
    assert_config_error(load_walkforward, _write(tmp_path, usdm_catalog, name="a", extra="metirc = 1"),
                        "walkforward.metirc", "unknown field")
    bad = _write(tmp_path, usdm_catalog, name="b")
    bad.write_text(bad.read_text().replace('metric = "total_pnl"', 'metric = "pnl"'))
    assert_config_error(load_walkforward, bad, "walkforward.metric", "not a metrics.json field")
    bad = _write(tmp_path, usdm_catalog, name="c")
    bad.write_text(bad.read_text().replace('strategies = ["wide"]', 'strategies = ["glft"]'))
    assert_config_error(load_walkforward, bad, "backtests[1].strategies[0]", "not a strategy of")
    bad = _write(tmp_path, usdm_catalog, name="d", windows='[[windows]]\nstart = "2024-08-08T23:56:00Z"\n')
    assert_config_error(load_walkforward, bad, "windows[0].end", "needs both ends")
    bad = _write(tmp_path, usdm_catalog, name="e", windows=WINDOWS.replace('label = "late"', 'label = "w1"'))
    assert_config_error(load_walkforward, bad, "windows", "window labels repeat")
    bad = _write(tmp_path, usdm_catalog, name="f", windows='[days]\ndates = ["2024-08-08"]\ntimezone = "Mars/Olympus"\n')
    assert_config_error(load_walkforward, bad, "days.timezone", "unknown time zone")
    bad = _write(tmp_path, usdm_catalog, name="g")
    bad.write_text(bad.read_text().replace('benchmark = "wide"', 'benchmark = "glft"'))
    assert_config_error(load_walkforward, bad, "walkforward.benchmark", "not a strategy of the grid")


def test_days_are_local_sessions():
    from amm.walkforward import Days

    (w,) = Days(dates=["2012-06-21"], open="09:30", close="16:00", timezone="America/New_York").windows()
    assert (w.label, pd.Timestamp(w.start), pd.Timestamp(w.end)) == (
        "2012-06-21", pd.Timestamp("2012-06-21T13:30:00Z"), pd.Timestamp("2012-06-21T20:00:00Z"))


@pytest.fixture(scope="module")
def tiny_model(usdm_catalog, tmp_path_factory) -> Path:
    """A DQN trained on the shipped run file's windows with a tiny budget (its test window held out)."""
    from rl.train import load_run_config as load_training, train

    cfg = load_training(ROOT / "rl" / "configs" / "usdm_btcusdt_dqn.yml", catalog=usdm_catalog, overrides={
        "total_timesteps": 200, "eval_freq_steps": 100, "eval_episodes": 1, "checkpoint_freq_steps": 200,
        "hyperparams_overrides": {"kwargs": {"learning_starts": 50}}, "env": {"agent": {"horizon_steps": 100}},
    })
    return train(cfg, out_dir=tmp_path_factory.mktemp("models"), progress_bar=False).run_dir


MODEL_WINDOWS = """\
[[windows]]
label = "test_a"
start = "2024-08-08T23:58:34Z"
end = "2024-08-08T23:59:15Z"

[[windows]]
label = "test_b"
start = "2024-08-08T23:59:15Z"
end = "2024-08-08T23:59:59.999Z"
"""


@pytest.mark.slow
def test_a_trained_model_runs_beside_the_baselines_on_held_out_windows(usdm_catalog, tiny_model, tmp_path):
    run = tmp_path / "base.toml"
    run.write_text(BASE.format(catalog=usdm_catalog))
    path = tmp_path / "models.toml"
    path.write_text(f'[walkforward]\nname = "m"\nbenchmark = "wide"\nmax_concurrent = 2\n{MODEL_WINDOWS}\n'
                    f'[[backtests]]\nrun = "{run}"\nstrategies = ["wide"]\n\n'
                    f'[[models]]\npath = "{tiny_model.parent}/MarketMaking-v0__*"\nname = "dqn"\n'
                    'config = { max_loss = 1000.0 }\n')
    wf = load_walkforward(path)
    assert sorted(t.id for t in wf.tasks) == sorted(
        f"BTCUSDT-PERP.BINANCE__{w}__{s}" for w in ("test_a", "test_b") for s in ("wide__s42", "dqn__s0"))
    result = run_walkforward(wf, out=tmp_path / "out")
    runs = result.runs.set_index("task")
    assert (runs["status"] == "ok").all(), runs["error"].tolist()
    row = runs.loc["BTCUSDT-PERP.BINANCE__test_a__dqn__s0"]
    assert row["kind"] == "model" and row["seed"] == 0
    spec = load_run_config(Path(row["run_dir"]) / "config.resolved.toml").with_overrides(out_dir=tmp_path / "again")
    assert spec.strategies[0].strategy_path == "strategies.policy:PolicyMarketMaker"
    assert spec.strategies[0].config["max_loss"] == 1000.0  # the entry's runtime field reached the task
    again = run_backtest(spec, progress=False, tearsheets=False).strategies[0].metrics["total_pnl"]
    assert again == pytest.approx(row["total_pnl"], abs=1e-9)
    (diff,) = result.paired.to_dict("records")
    assert (diff["strategy"], diff["n_windows"]) == ("dqn", 2)


@pytest.mark.slow
@pytest.mark.parametrize(("config", "field", "message"), [
    ('{ model_path = "other.zip" }', "models[0].config", "may not replace model_path"),
    ("{ max_loos = 1.0 }", "models[0].config.max_loos", "unknown field"),
])
def test_a_model_entry_config_adds_runtime_fields_only(tiny_model, tmp_path, config, field, message):
    path = tmp_path / "cfg.toml"
    path.write_text(f'[walkforward]\nname = "c"\n{MODEL_WINDOWS}\n[[models]]\npath = "{tiny_model}"\nconfig = {config}\n')
    assert_config_error(load_walkforward, path, field, message)


@pytest.mark.slow
def test_a_model_may_not_be_walked_on_its_own_validation_window(tiny_model, tmp_path):
    path = tmp_path / "leak.toml"
    path.write_text('[walkforward]\nname = "leak"\n[[windows]]\nstart = "2024-08-08T23:58:00Z"\n'
                    f'end = "2024-08-08T23:59:00Z"\n[[models]]\npath = "{tiny_model}"\n')
    assert_config_error(load_walkforward, path, "windows", "overlaps the run's validation window")


SHIPPED = sorted((ROOT / "backtests" / "walkforward").glob("*.toml"))


def _without_untrained_models(path: Path, tmp_path: Path) -> tuple[Path, bool]:
    """``path``, or a copy without the ``[[models]]`` no trained run matches yet (the shipped
    files name the runs their header's commands train; a fresh clone has none), and whether the
    file has models at all."""
    import glob
    import tomllib

    import yaml

    data = tomllib.loads(path.read_text())
    models = data.get("models", [])
    kept = [m for m in models if glob.glob(m["path"])]
    if len(kept) == len(models):
        return path, bool(models)
    data["models"] = kept
    copy = tmp_path / f"{path.stem}.yml"  # the loader reads YAML as well as TOML
    copy.write_text(yaml.safe_dump(data))
    return copy, True


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_walkforward_files_load_and_stay_off_the_tuned_baselines_test_windows(path, tmp_path):
    """Every shipped grid expands; a task of a tuned baseline touches a test window of the sweep
    that tuned it only in the agents' comparison (a file with ``[[models]]``: the test windows are
    kept for the agents, and the baselines meet them there once, beside the agents)."""
    from backtests.sweep import load_sweep
    from catalog.window import TimeWindow

    loadable, has_models = _without_untrained_models(path, tmp_path)
    wf = load_walkforward(loadable)
    assert wf.tasks and len({t.id for t in wf.tasks}) == len(wf.tasks)
    sweeps = [load_sweep(p) for p in (ROOT / "backtests" / "sweeps" / "tuned").glob("*.toml")]
    tests = {(s.base.instrument_id, s.table.strategy): s.table.test for s in sweeps}
    tuned = [t for t in wf.tasks if (t.instrument, t.strategy) in tests and "tuned" in str(t.spec.source)]
    assert tuned or "tuned" not in path.read_text()
    touches = [t.id for t in tuned if TimeWindow(start=t.spec.start, end=t.spec.end).overlaps(tests[(t.instrument, t.strategy)])]
    assert not touches or has_models, f"tuned baselines on their test windows with no agent beside them: {touches}"
