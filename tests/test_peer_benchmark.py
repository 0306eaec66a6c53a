"""``benchmarks/peer_hftbacktest.py`` runs end to end on a 20 s window and ends with its JSON line.

Data: ``binance_ws/usdm/btcusdt_20240808.gz`` (the session catalog of ``conftest.usdm_catalog``
for our side; hftbacktest converts the capture file itself). With hftbacktest importable (the
``peer`` extra) the whole script runs, both engines; without it (CI installs ``.[test]`` only) it
runs ``--skip-hftbacktest``, so the test never skips. Like ``test_benchmarks.py`` it asserts no
timing and no target: only that the figures are there and our venues filled.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peer_hftbacktest.py"
HAVE_HBT = importlib.util.find_spec("hftbacktest") is not None
OUR_VENUES = {"L2_queue", "L1_queue", "L1_legacy"}
ROW_KEYS = {
    "engine", "model", "k", "fills", "volume_btc", "pnl_before_fees_usdt", "pnl_after_fees_usdt",
    "fees_usdt", "markout_1s_ticks_per_btc", "mean_abs_inventory_btc", "orders_filled", "run_s",
}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          check=False, timeout=600)


def test_peer_benchmark_smoke(usdm_catalog):
    args = ["--window-s", "20", "--k", "0", "--catalog", str(usdm_catalog)]
    if not HAVE_HBT:
        args.append("--skip-hftbacktest")
    done = run_script(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out["benchmark"] == "peer_hftbacktest"
    assert out["data"] == "binance_ws/usdm/btcusdt_20240808.gz"
    for key in ("rows", "ratios", "targets_met", "python", "hftbacktest", "nautilus_trader"):
        assert key in out, key
    for row in out["rows"]:
        assert ROW_KEYS <= set(row), ROW_KEYS - set(row)
        assert row["k"] == 0

    ours = [r for r in out["rows"] if r["engine"] == "nautilus"]
    assert {r["model"] for r in ours} == OUR_VENUES
    for row in ours:
        assert isinstance(row["fills"], int) and row["fills"] > 0, row
        assert row["volume_btc"] > 0 and row["fees_usdt"] > 0

    peers = [r for r in out["rows"] if r["engine"] == "hftbacktest"]
    if HAVE_HBT:
        assert {r["model"] for r in peers} == {"RiskAverse", "PowerProb3"}
        assert all(isinstance(r["fills"], int) and r["fills"] > 0 for r in peers)
        for venue in OUR_VENUES:
            assert set(out["ratios"][venue]) >= {"fills_k0", "markout_k0"}
            assert all(isinstance(v, bool) for v in out["targets_met"][venue].values())
        assert out["hftbacktest"]
    else:
        assert peers == [] and out["ratios"] == {} and out["targets_met"] == {}


def test_peer_benchmark_without_hftbacktest_says_how_to_install():
    # Hide hftbacktest (a None entry in sys.modules makes its import fail) and run the script.
    code = (
        "import runpy, sys; sys.modules['hftbacktest'] = None; "
        f"sys.argv = [{str(SCRIPT)!r}, '--window-s', '1']; "
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["hftbacktest is not installed: pip install -e .[peer]"]
    assert done.stdout == ""
