"""``python -m amm.demo_usdm``: end-to-end smoke run with a tiny budget, failure exit codes, aggregation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.settings import data_dir
from amm.demo_usdm import aggregate, markdown, verdict

ROOT = Path(__file__).resolve().parents[2]


def _demo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amm.demo_usdm", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_demo_end_to_end_with_a_tiny_budget(tmp_path: Path) -> None:
    from strategies.model_store import verify

    catalog, out = tmp_path / "catalog", tmp_path / "out"
    proc = _demo("--data-dir", str(data_dir()), "--catalog", str(catalog), "--out", str(out),
                 "--timesteps", "64", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stdout = proc.stdout
    for text in ("[1/5]", "[5/5]", "fee tier vip0", "fee tier mm_rebate", "agent_ppo", "avellaneda_stoikov",
                 "glft", "fixed_spread", "every baseline", "amm evaluate --model"):
        assert text in stdout, text
    summary = json.loads((out / "summary.json").read_text())
    run_dir = Path(summary["runs"][0]["run_dir"])
    manifest = verify(run_dir / "model.zip")  # exists and matches the model bytes
    assert manifest.algorithm == "ppo"
    assert (run_dir / "model.manifest.json").exists() and (run_dir / "config.yml").exists()
    tearsheets = [Path(p) for p in summary["artefacts"] if p.endswith("tearsheet.html")]
    # 3 baselines x 2 tiers (backtest config) + 4 strategies x 2 tiers (evaluate)
    assert len(tearsheets) == 14 and all(p.stat().st_size > 0 for p in tearsheets)
    assert all(str(p) in stdout for p in tearsheets)
    reports = [Path(p) for p in summary["artefacts"] if p.endswith("mm_report.html")]
    assert len(reports) == 4 and all(str(p) in stdout and p.stat().st_size > 1_000_000 for p in reports)
    assert set(summary["comparison"]) == {"vip0", "mm_rebate"}
    assert {"agent_ppo", "fixed_spread", "avellaneda_stoikov", "glft"} <= set(summary["comparison"]["vip0"])
    for name, row in summary["comparison"]["vip0"].items():
        # VIP 0: the maker fee (2 bp) dwarfs a one-tick spread, so whoever trades loses
        if row["fills"]["mean"] > 0:
            assert row["total_pnl"]["mean"] < 0, name
    assert (out / "walkforward.md").read_text().count("| agent_ppo |") == 2
    # the printed strategy block is a valid `amm live` strategy (imports and config parse)
    from live.config import load_config

    paper = (ROOT / "live" / "configs" / "paper_binance_usdm.toml").read_text()
    live = tmp_path / "live.toml"
    live.write_text(paper[: paper.index("[[strategies]]")] + (out / "live_strategy.toml").read_text())
    assert [s.name for s in load_config(live).strategies] == ["agent"]

    # idempotent ingest: a second run over the same catalog adds no rows
    from catalog.ingest import ingest_files

    again = ingest_files("binance-ws", [data_dir() / "binance_ws/usdm/btcusdt_20240808.gz"], catalog)
    assert sum(again.commit.rows_added.values()) == 0


def test_demo_exits_nonzero_with_one_error_line(tmp_path: Path) -> None:
    proc = _demo("--data-dir", str(tmp_path / "missing"), "--catalog", str(tmp_path / "c"),
                 "--out", str(tmp_path / "o"), "--no-progress", timeout=120)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "btcusdt_20240808.gz" in lines[0]


def test_demo_refuses_unknown_fee_tier(tmp_path: Path) -> None:
    proc = _demo("--fee-tier", "vip9", "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 1 and "fee_tiers" in proc.stderr


def _report(tier: str, seed: int, agent_sharpe: float) -> dict:
    row = {"total_pnl": -1.0, "sharpe": -10.0, "max_drawdown": 1.0, "inventory_mean_abs": 0.001, "fills": 5}
    return {"fee_tier": tier, "seed": seed, "strategies": {
        "agent_ppo": {**row, "sharpe": agent_sharpe, "fills": 3 + seed},
        "glft": dict(row), "fixed_spread": {**row, "sharpe": float("nan")}}}


def test_aggregate_mean_std_and_verdict() -> None:
    agg = aggregate([_report("vip0", 0, -4.0), _report("vip0", 1, -2.0), _report("vip0", 2, -6.0)])
    agent = agg["vip0"]["agent_ppo"]
    assert agent["sharpe"] == {"mean": -4.0, "std": pytest.approx(2.0), "n": 3}
    assert agent["fills"]["mean"] == pytest.approx(4.0)
    assert agg["vip0"]["glft"]["sharpe"]["std"] == 0.0
    assert "sharpe" not in agg["vip0"]["fixed_spread"]  # NaN is left out, not averaged
    assert verdict(agg["vip0"]) == {"agent_ppo": True}  # -4 > -10, NaN baseline ignored
    worse = aggregate([_report("vip0", 0, -20.0)])
    assert verdict(worse["vip0"]) == {"agent_ppo": False}
    md = markdown(agg["vip0"], "vip0")
    assert md.splitlines()[4].startswith("| agent_ppo | 3 | -1.000 ± 0.000 | -4.0 ± 2.0 |")
