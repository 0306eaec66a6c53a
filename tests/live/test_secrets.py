"""Credentials come from the environment or a mounted secret, and never reach the output."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from live.redact import MASK, Redactor
from live.secrets import CredentialsError, credential_spec, resolve_credentials

KEY = "Zt4q8ReyT1PdVwZ9s2HkX0cMbLnA7gJfU3iOeQrS5vWxY6aB"
SECRET = "Fq2Wp7Ln4Kd9Rb6Tc1Vz8Mh3Js0Gx5Ya2Ue7Io4Pw9Qs6Rt"


def test_env_var_names_follow_the_nautilus_adapters():
    assert credential_spec("binance", "SPOT", "testnet").key_env == "BINANCE_TESTNET_API_KEY"
    assert credential_spec("binance", "USDT_FUTURES", "testnet").secret_env == "BINANCE_FUTURES_TESTNET_API_SECRET"
    assert credential_spec("binance", "USDT_FUTURES", "production").key_env == "BINANCE_API_KEY"
    assert credential_spec("bybit", "LINEAR", "testnet").key_env == "BYBIT_TESTNET_API_KEY"
    assert credential_spec("bybit", "LINEAR", "demo").secret_env == "BYBIT_DEMO_API_SECRET"


def test_nautilus_reads_the_variable_we_resolve(monkeypatch):
    """The adapter's own lookup (no key in its config) finds what resolve_credentials exported."""
    from nautilus_trader.adapters.binance.common.credentials import get_api_key, get_api_secret
    from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment

    for account, environment in (("USDT_FUTURES", "testnet"), ("SPOT", "testnet"), ("SPOT", "production")):
        spec = credential_spec("binance", account, environment)
        monkeypatch.setenv(spec.key_env, KEY)
        monkeypatch.setenv(spec.secret_env, SECRET)
        env = BinanceEnvironment.TESTNET if environment == "testnet" else BinanceEnvironment.LIVE
        assert get_api_key(BinanceAccountType[account], env) == KEY
        assert get_api_secret(BinanceAccountType[account], env) == SECRET
        monkeypatch.delenv(spec.key_env)
        monkeypatch.delenv(spec.secret_env)


def test_environment_wins_and_values_are_not_described():
    spec = credential_spec("binance", "SPOT", "production")
    env = {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
    resolved, values = resolve_credentials([spec], environ=env)
    assert [r.describe() for r in resolved] == [
        f"BINANCE_API_KEY (environment, {len(KEY)} chars)",
        f"BINANCE_API_SECRET (environment, {len(SECRET)} chars)",
    ]
    assert values == [KEY, SECRET]
    assert KEY not in repr(resolved)


def test_kubernetes_secret_volume_is_read_and_exported(tmp_path):
    """A Secret volume: one file per key, plus the ``..data`` symlink farm Kubernetes adds."""
    data = tmp_path / "..2024_01_01"
    data.mkdir()
    (data / "BINANCE_FUTURES_TESTNET_API_KEY").write_text(KEY + "\n")
    (data / "BINANCE_FUTURES_TESTNET_API_SECRET").write_text(SECRET)
    (tmp_path / "..data").symlink_to(data.name)
    for name in ("BINANCE_FUTURES_TESTNET_API_KEY", "BINANCE_FUTURES_TESTNET_API_SECRET"):
        (tmp_path / name).symlink_to(Path("..data") / name)
    env: dict[str, str] = {"AMM_SECRETS_PATH": str(tmp_path)}
    resolved, _ = resolve_credentials([credential_spec("binance", "USDT_FUTURES", "testnet")], environ=env)
    assert env["BINANCE_FUTURES_TESTNET_API_KEY"] == KEY
    assert env["BINANCE_FUTURES_TESTNET_API_SECRET"] == SECRET
    assert {r.source for r in resolved} == {str(tmp_path)}


def test_env_file_secret(tmp_path):
    path = tmp_path / "keys.env"
    path.write_text(f"# venue keys\nexport BYBIT_API_KEY={KEY}\nBYBIT_API_SECRET='{SECRET}'\n")
    env: dict[str, str] = {}
    resolve_credentials([credential_spec("bybit", "LINEAR", "production")], secrets_path=path, environ=env)
    assert env == {"BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET}


def test_malformed_env_file_is_reported_by_line_without_its_content(tmp_path):
    path = tmp_path / "keys.env"
    path.write_text(f"{KEY}\n")
    with pytest.raises(CredentialsError) as info:
        resolve_credentials([credential_spec("bybit", "LINEAR", "production")], secrets_path=path, environ={})
    assert f"{path}:1" in str(info.value) and KEY not in str(info.value)


def test_missing_credentials_name_every_variable():
    with pytest.raises(CredentialsError) as info:
        resolve_credentials([credential_spec("binance", "USDT_FUTURES", "testnet")], environ={"BINANCE_FUTURES_TESTNET_API_KEY": KEY})
    message = str(info.value)
    assert "BINANCE_FUTURES_TESTNET_API_SECRET" in message
    assert "BINANCE_FUTURES_TESTNET_API_KEY " not in message
    assert KEY not in message


def test_redactor_masks_every_occurrence_longest_first():
    r = Redactor([KEY, KEY[:20], "short"])
    text = f"API key {KEY} has trading permissions; prefix {KEY[:20]}; short stays"
    assert r.redact(text) == f"API key {MASK} has trading permissions; prefix {MASK}; short stays"


PLANT = textwrap.dedent("""\
    import os, sys
    from pathlib import Path
    from live.redact import OutputRedactor, Redactor
    from live.secrets import credential_spec, resolve_credentials

    _, values = resolve_credentials([credential_spec("binance", "USDT_FUTURES", "production")])
    with OutputRedactor(Redactor(values), log_file=Path(sys.argv[1])):
        from nautilus_trader.common.component import Logger, init_logging
        from nautilus_trader.model.identifiers import TraderId
        guard = init_logging(trader_id=TraderId("LEAK-001"))
        key = os.environ["BINANCE_API_KEY"]
        # What the Binance execution client logged once connected in 1.221.0 (any Rust log line):
        Logger("BinanceFuturesExecutionClient").info(f"API key {key} has trading permissions")
        print(f"python print: {key}", flush=True)
        os.write(1, f"raw fd write: {os.environ['BINANCE_API_SECRET']}\\n".encode())
        print(f"stderr: {key}", file=sys.stderr, flush=True)
        try:
            raise RuntimeError(f"venue said: invalid key {key}")
        except RuntimeError:
            import traceback
            traceback.print_exc()
    print("after the redactor: done")
    """)


def test_planted_key_never_reaches_stdout_stderr_or_the_log_file(tmp_path):
    """The adapter's "API key <key> has trading permissions" line, prints, raw writes, tracebacks."""
    script = tmp_path / "plant.py"
    script.write_text(PLANT)
    log = tmp_path / "node.log"
    env = {**os.environ, "BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
    env.pop("AMM_SECRETS_PATH", None)
    done = subprocess.run(
        [sys.executable, str(script), str(log)],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    everything = done.stdout + done.stderr + log.read_text()
    assert KEY not in everything and SECRET not in everything
    assert f"API key {MASK} has trading permissions" in done.stdout
    assert f"python print: {MASK}" in done.stdout
    assert f"raw fd write: {MASK}" in done.stdout
    assert f"invalid key {MASK}" in done.stderr
    assert f"API key {MASK} has trading permissions" in log.read_text()
    assert "after the redactor: done" in done.stdout


LATE_LOG = textwrap.dedent("""\
    import os, sys
    from live.redact import OutputRedactor, Redactor

    key = os.environ["BINANCE_API_KEY"]
    with OutputRedactor(Redactor([key]), logs_to_stderr=True) as out:
        from nautilus_trader.common.component import Logger, init_logging
        from nautilus_trader.model.identifiers import TraderId
        guard = init_logging(trader_id=TraderId("LATE-001"))
        Logger("Node").warning("before the result")
        out.result('{"report": "' + key + '"}')
        # What a cancelled task logs from the logger thread after the report (the CI failure):
        Logger("DataClient").warning("Task 'replay' was cancelled")
        print("a stray print", flush=True)
        for i in range(200):  # alternate descriptors: stderr must keep the order they were written in
            os.write(1 + i % 2, f"line {i}\\n".encode())
    """)


def test_json_mode_keeps_stdout_for_the_result_and_sends_every_log_line_to_stderr(tmp_path):
    """``--json`` runs: the report is the whole of stdout even when the logger writes after it."""
    script = tmp_path / "late.py"
    script.write_text(LATE_LOG)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "BINANCE_API_KEY": KEY}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'{{"report": "{MASK}"}}\n'
    assert "before the result" in done.stderr
    assert "Task 'replay' was cancelled" in done.stderr
    assert "a stray print" in done.stderr
    assert [x for x in done.stderr.splitlines() if x.startswith("line ")] == [f"line {i}" for i in range(200)]
