"""Every benchmark script runs end to end with a tiny workload and ends with one JSON line.

These check that the scripts work (a benchmark that silently broke is worse than none) and that
their headline keys are there; they assert no timing, by design.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    return json.loads(last)


def test_train_benchmark():
    out = run_benchmark("train.py", "--steps", "64", "--algorithms", "qlearning,ppo", "--envs", "1")
    assert out["benchmark"] == "train"
    assert {r["algorithm"] for r in out["results"]} == {"qlearning", "ppo"}
    assert all(r["steps_per_s"] > 0 and 0 <= r["env_share"] <= 1 for r in out["results"])


@pytest.mark.parametrize("book_type", ["L1_MBP", "L2_MBP"])
def test_env_benchmark(usdm_catalog, book_type):
    out = run_benchmark("env.py", "--episodes", "2", "--horizon", "100", "--repeats", "1", "--book-type", book_type,
                        "--catalog", str(usdm_catalog))
    assert out["benchmark"] == "env" and out["book_type"] == book_type
    for key in ("env_steps_per_s", "in_strategy_steps_per_s", "raw_engine_events_per_s", "env_over_upper_bound"):
        assert out[key] > 0


def test_engine_raw_benchmark():
    out = run_benchmark("engine_raw.py", "--quotes", "2000", "--repeats", "1")
    assert out["benchmark"] == "engine_raw" and out["events"] == 2500
    assert out["events_per_s"] > 0 and out["nautilus_trader"]


@pytest.mark.slow
def test_backtest_benchmark():
    out = run_benchmark("backtest.py")
    assert out["events"] == out["event_kinds"]["OrderBookDeltas"] + out["event_kinds"]["QuoteTick"] + out["event_kinds"]["TradeTick"]
    assert out["noop_events_per_s"] > 0 and out["baseline_events_per_s"] > 0 and out["baseline_fills"] > 0


@pytest.mark.slow
def test_ingest_benchmark():
    out = run_benchmark("ingest.py", "--rows", "40000", "--lobster-days", "2",
                        "--lobster-file", "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip")
    assert out["real_rows_written"] == 393_173  # spot BTCUSDT 0808+0809: quotes + trades + deltas
    assert len(out["generated_peak_rss_mb"]) == 3 and out["rows_growth_ratio"] > 1
    assert out["lobster_rows_read"] == 2 * 49_482  # message + orderbook rows of the GOOG 1-level day
    assert out["lobster_generated_days"] == [1, 2] and out["lobster_rows_growth_ratio"] == 2.0


def test_replay_benchmark(usdm_catalog):
    out = run_benchmark("replay.py", "--catalog", str(usdm_catalog), "--speeds", "0", "--window-s", "5")
    assert out["benchmark"] == "replay_vs_backtest" and out["book_type"] == "L2_MBP"
    backtest, replay = out["rows"]
    assert backtest["run"] == "backtest" and replay["run"] == "replay unthrottled"
    assert backtest["fills"] > 0 and replay["fills"] > 0


def test_ray_scaling_benchmark(usdm_catalog):
    out = run_benchmark("ray_scaling.py", "--runs", "2", "--cpus", "2", "--window-s", "20", "--catalog", str(usdm_catalog))
    assert out["benchmark"] == "ray_scaling" and out["runs"] == 2
    assert out["identical"], "a backtest must give the same metrics serially and as a Ray task"
    assert out["serial_s"] > 0 and out["ray_s"] > 0
