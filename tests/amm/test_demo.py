"""``python -m amm.demo`` (``make demo``): the LOBSTER job end to end with a tiny training budget,
and its failure exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from catalog.settings import data_dir

ROOT = Path(__file__).resolve().parents[2]


def _demo(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amm.demo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_demo_end_to_end_with_a_tiny_budget(lobster_catalog: Path, tmp_path: Path) -> None:
    from strategies.model_store import verify

    out = tmp_path / "out"
    proc = _demo("--data-dir", str(data_dir()), "--catalog", str(lobster_catalog), "--out", str(out),
                 "--timesteps", "256", "--window-minutes", "15", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stdout = proc.stdout
    for text in ("[1/5]", "[5/5]", "rows added none (already ingested)", "agent_goog (unseen stock)",
                 "avellaneda_stoikov", "glft_alpha", "95 % bootstrap CI", "paired difference", "amm live: replay finished"):
        assert text in stdout, text
    summary = json.loads((out / "summary.json").read_text())
    run_dir = Path(summary["runs"][0]["run_dir"])
    assert verify(run_dir / "model.zip").algorithm == "ppo"
    # the grid: 4 tuned baselines on each stock + the agent on both, four windows each
    runs = pd.read_csv(Path(summary["walkforward"]) / "runs.csv", dtype={"window": str})
    assert (runs["status"] == "ok").all(), runs["error"].dropna().tolist()
    assert len(runs) == 4 * (4 + 4 + 2)
    assert set(runs.loc[runs["strategy"] == "agent_goog", "instrument"]) == {"GOOG.XNAS", "AMZN.XNAS"}
    assert set(runs["window"]) == {"1400", "1430", "1500", "1530"}
    grid = yaml.safe_load((out / "walkforward.yml").read_text())  # the first 15 minutes of each window
    assert [(w["start"], w["end"]) for w in grid["windows"]][-1] == ("2012-06-21T19:30:00Z", "2012-06-21T19:44:59.999Z")
    assert "the first 15 min of four half-hour windows" in stdout
    # the printed table is the walk-forward's summary: the agent's GOOG mean Sharpe/h [CI] is in it
    s = summary["summary"]
    agent = next(r for r in s["summary"] if r["instrument"] == "GOOG.XNAS" and r["strategy"] == "agent_goog")
    assert f"{agent['sharpe_per_hour']:.2f} [{agent['sharpe_per_hour_ci_low']:.2f}, {agent['sharpe_per_hour_ci_high']:.2f}]" in stdout
    assert {(r["instrument"], r["strategy"]) for r in s["paired"]} >= {("GOOG.XNAS", "agent_goog"), ("AMZN.XNAS", "agent_goog")}
    # amm live ran the trained model unchanged (the deployment block), quoted, and stopped clean
    live = summary["live"]["report"]
    assert live["reason"] == "replay finished" and live["kill_switch_clean"] and not live["open_orders"]
    assert live["orders"] >= 1
    text = Path(summary["live"]["config"]).read_text()
    assert f'model_path = "{(run_dir / "model.zip").resolve()}"' in text and 'name = "XNAS"' in text
    from live.config import load_config

    assert [s.name for s in load_config(Path(summary["live"]["config"])).strategies] == ["agent_goog"]


def test_demo_exits_nonzero_with_one_error_line(tmp_path: Path) -> None:
    proc = _demo("--data-dir", str(tmp_path / "missing"), "--catalog", str(tmp_path / "c"),
                 "--out", str(tmp_path / "o"), "--no-progress", timeout=120)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "LOBSTER_SampleFile_GOOG" in lines[0]
