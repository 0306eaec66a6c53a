"""``amm live`` as a user runs it: exit codes, one-line errors, dry-run plans, no secret in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "live" / "configs"
KEY = "Hx7Lq2Wm9Rt4Yp8Zc3Vb6Nk1Jd5Gf0Sa"  # planted; must never be printed
SECRET = "Pk3Jn8Ub5Ye2Tr7Wq0Ls4Mx9Cv6Bz1Df"


def amm(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_SECRET"))}
    base.pop("AMM_SECRETS_PATH", None)
    base.pop("AMM_HEALTH_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "amm.cli", *args],
        cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


TESTNET_KEYS = {"BINANCE_FUTURES_TESTNET_API_KEY": KEY, "BINANCE_FUTURES_TESTNET_API_SECRET": SECRET}


def test_dry_run_prints_the_plan_and_exits_zero_without_showing_keys():
    done = amm("live", "--config", str(CONFIGS / "binance_usdm_testnet.toml"), "--dry-run", "--json", env=TESTNET_KEYS)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["mode"] == "venue"
    assert plan["venue"] == {"adapter": "binance", "name": "BINANCE", "account_type": "USDT_FUTURES", "environment": "testnet"}
    assert plan["exec_client"]["config"] == "BinanceExecClientConfig"
    assert plan["strategies"][0]["class"] == "FixedSpreadMarketMaker"
    assert plan["risk"]["max_notional_per_order"] == {"BTCUSDT-PERP.BINANCE": 2000}
    assert plan["reconciliation"]["enabled"] is True
    assert plan["credentials"][0].startswith("BINANCE_FUTURES_TESTNET_API_KEY (environment")
    assert KEY not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr
    assert not (REPO / "catalogs" / "live" / "live").exists(), "a dry run writes nothing"


def test_dry_run_reads_keys_from_a_mounted_secret(tmp_path):
    secret_dir = tmp_path / "amm"
    secret_dir.mkdir()
    for name, value in TESTNET_KEYS.items():
        (secret_dir / name).write_text(value)
    done = amm("live", "--config", str(CONFIGS / "binance_usdm_testnet.toml"), "--dry-run", "--json",
               env={"AMM_SECRETS_PATH": str(secret_dir)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["credentials"] == [
        f"BINANCE_FUTURES_TESTNET_API_KEY ({secret_dir}, {len(KEY)} chars)",
        f"BINANCE_FUTURES_TESTNET_API_SECRET ({secret_dir}, {len(SECRET)} chars)",
    ]
    assert KEY not in done.stdout + done.stderr


def test_missing_credentials_exit_1_with_one_line_naming_the_variables():
    done = amm("live", "--config", str(CONFIGS / "binance_usdm_testnet.toml"), "--dry-run")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: missing credentials")
    assert "BINANCE_FUTURES_TESTNET_API_KEY" in line and "BINANCE_FUTURES_TESTNET_API_SECRET" in line


def _dry_run_fails(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, str, subprocess.CompletedProcess]:
    """Dry-run the testnet config with ``old`` replaced by ``new``: it must exit 1 with one line on
    stderr. Returns the edited file, that line and the finished process."""
    bad = tmp_path / name
    bad.write_text((CONFIGS / "binance_usdm_testnet.toml").read_text().replace(old, new))
    done = amm("live", "--config", str(bad), "--dry-run", env=TESTNET_KEYS)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    return bad, line, done


def test_bad_config_exits_1_with_one_line_naming_the_field(tmp_path):
    bad, line, done = _dry_run_fails(tmp_path, "bad.toml", "half_spread_ticks = 2.0", "half_spread_ticks = -2.0")
    assert f"{bad}: strategies[0].config.half_spread_ticks: " in line
    assert done.stdout == ""


def test_key_literal_in_config_exits_1_naming_the_field_not_the_value(tmp_path):
    bad, line, done = _dry_run_fails(
        tmp_path, "leaky.toml", 'environment = "testnet"', f'environment = "testnet"\napi_secret = "{SECRET}"',
    )
    assert f"{bad}: venue.api_secret: holds a credential" in line
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "pass --config FILE"),
        (("--config", "nope.toml"), "cannot read config file"),
        (("--config", str(CONFIGS / "replay.toml"), "--start", "2024-08-08"), "--start/--end/--speed need --replay"),
        (("--replay", "/nonexistent/catalog"), "is not a catalog directory"),
        (("--config", str(CONFIGS / "replay.toml"), "--log-level", "LOUD"), "--log-level"),
    ],
)
def test_usage_errors_exit_1_with_one_line(args, message):
    done = amm("live", *args)
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error:") and message in line


def test_replay_dry_run_needs_no_credentials(capture_catalog):
    catalog, first, _ = capture_catalog
    start = pd.Timestamp(first, tz="UTC").isoformat()
    done = amm("live", "--replay", str(catalog), "--start", start, "--speed", "50", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["mode"] == "replay" and plan["credentials"] == []
    assert plan["replay"]["catalog_path"] == str(catalog) and plan["replay"]["speed"] == 50.0
    assert plan["exec_client"]["config"] == "QueueAwareSandboxConfig"


def test_replay_window_end_before_start_is_a_config_error(capture_catalog):
    catalog, _, _ = capture_catalog
    done = amm("live", "--replay", str(catalog), "--start", "2024-08-09", "--end", "2024-08-08", "--dry-run")
    assert done.returncode == 1
    assert "replay.end" in done.stderr


def test_health_probe(tmp_path):
    path = tmp_path / "health.json"
    probe = [sys.executable, "-m", "live.health", str(path), "--max-age-secs", "30"]
    assert subprocess.run(probe, capture_output=True, cwd=REPO).returncode == 1  # no heartbeat yet
    path.write_text(json.dumps({"state": "RUNNING", "ts": time.time(), "open_orders": 2}))
    assert subprocess.run(probe, capture_output=True, cwd=REPO).returncode == 0
    path.write_text(json.dumps({"state": "RUNNING", "ts": time.time() - 120}))
    stale = subprocess.run(probe, capture_output=True, text=True, cwd=REPO)
    assert stale.returncode == 1 and "stalled" in stale.stderr
    env = {**os.environ, "AMM_HEALTH_FILE": str(path)}
    path.write_text(json.dumps({"state": "RUNNING", "ts": time.time()}))
    assert subprocess.run(probe[:3] + ["--max-age-secs", "30"], capture_output=True, cwd=REPO, env=env).returncode == 0


def test_live_persist_command(tmp_path):
    done = amm("live-persist", "--catalog", str(tmp_path), "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {}
    done = amm("live-persist", "--catalog", str(tmp_path / "missing"))
    assert done.returncode == 1 and "is not a directory" in done.stderr


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_replay_of_a_catalog_without_the_strategy_instrument_fails_at_once(capture_catalog, tmp_path, dry_run):
    """The strategy trades ETHUSDT-PERP; the catalog holds only BTCUSDT-PERP: exit 1 in one line
    naming both, before any node runs (it used to wait for data until a SIGTERM, then exit 0)."""
    catalog, _, _ = capture_catalog
    config = tmp_path / "eth.toml"
    config.write_text((CONFIGS / "replay.toml").read_text().replace('"BTCUSDT-PERP.BINANCE"', '"ETHUSDT-PERP.BINANCE"'))
    started = time.monotonic()
    done = amm("live", "--config", str(config), "--replay", str(catalog), *(["--dry-run"] if dry_run else []), timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 60
    (line,) = done.stderr.strip().splitlines()
    assert line == (f"error: {catalog}: the replay catalog has no ETHUSDT-PERP.BINANCE (it holds: BTCUSDT-PERP.BINANCE); "
                    "ingest it, or --replay the catalog that has it")
