"""``amm backtest`` / ``amm report`` through the registered Typer commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from backtests.cli import register
from tests.helpers import amm

from .conftest import INSTRUMENT_ID

CONFIG = """
[run]
name = "cli"
catalog = "{catalog}"
instrument_id = "{iid}"

[venue]
latency_base_ns = 1_000_000

[[strategies]]
name = "toy"
strategy_path = "tests.backtests.toy_mm:ToyQuoter"
config_path = "tests.backtests.toy_mm:ToyQuoterConfig"
[strategies.config]
order_qty = "0.01"
"""


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_backtest_json_then_report(l1_catalog, tmp_path):
    cfg = tmp_path / "cli.toml"
    cfg.write_text(CONFIG.format(catalog=l1_catalog, iid=INSTRUMENT_ID))
    runner = CliRunner()
    res = runner.invoke(_app(), ["backtest", "--config", str(cfg), "--out", str(tmp_path / "runs"),
                                 "--json", "--no-tearsheets", "--end", "2021-01-08T00:00:30Z"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == tmp_path / "runs"
    assert summary["strategies"]["toy"]["fills"] > 0
    resolved = json.loads((run_dir / "config.resolved.json").read_text())
    assert resolved["run"]["end"] == "2021-01-08T00:00:30Z"  # the override is recorded
    res = runner.invoke(_app(), ["report", str(run_dir), "--json", "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert Path(payload["tearsheets"]["toy"]).is_file()
    assert (tmp_path / "rep" / "comparison.html").is_file()
    assert payload["mm_report"] == str(tmp_path / "rep" / "mm_report.html") and Path(payload["mm_report"]).is_file()


def test_errors_are_one_line_on_stderr(l1_catalog, tmp_path, capsys):
    code, _, err = amm(capsys, "backtest", "--config", str(tmp_path / "missing.toml"))
    assert code == 1
    assert err.strip().count("\n") == 0 and "missing.toml: config file not found" in err
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.format(catalog=tmp_path / "nowhere", iid=INSTRUMENT_ID))
    code, _, err = amm(capsys, "backtest", "--config", str(cfg))
    assert code == 1
    assert err.startswith("error: ") and "not a data catalog" in err
    assert err.strip().count("\n") == 0
    code, _, err = amm(capsys, "report", str(tmp_path))
    assert code == 1 and "no strategy results" in err


def test_help_in_subprocess_is_fast_and_clean():
    code = (
        "import typer, sys; from backtests.cli import register; app = typer.Typer(); register(app); "
        "app(['backtest', '--help'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout
    lazy = subprocess.run(
        [sys.executable, "-c", "import sys, backtests.cli; print('nautilus_trader' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert lazy.stdout.strip() == "False"  # heavy imports live inside the command bodies
