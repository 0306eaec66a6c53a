"""The live deployment file: shipped configs build, bad ones fail naming the field, keys are refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from live.config import ConfigError, ReplaySettings, load_config
from live.node import build_node, describe_plan, node_config, preflight_strategies, strategy_configs
from live.secrets import find_credential_literals, looks_like_api_key

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "live" / "configs").glob("*.toml"))

MINIMAL = """\
[venue]
adapter = "binance"
account_type = "USDT_FUTURES"
environment = "testnet"

[[strategies]]
strategy_path = "strategies.fixed_spread:FixedSpreadMarketMaker"
config_path = "strategies.fixed_spread:FixedSpreadMarketMakerConfig"
[strategies.config]
instrument_id = "BTCUSDT-PERP.BINANCE"
order_qty = "0.002"
max_inventory = "0.010"
"""


def _write(tmp_path: Path, text: str, name: str = "live.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    return info.value


def test_shipped_configs_are_the_documented_set():
    names = {p.stem for p in CONFIGS}
    assert {"binance_spot", "binance_spot_testnet", "binance_usdm", "binance_usdm_testnet",
            "bybit_linear", "bybit_linear_testnet", "paper_binance_usdm", "replay"} <= names


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem != "replay"], ids=lambda p: p.stem)
def test_shipped_config_builds_a_node_without_connecting(path, fake_keys):
    """Every shipped venue config: clients, strategy and risk settings build; nothing connects."""
    cfg = load_config(path)
    node = build_node(cfg, log_level="ERROR", dry_run=True)
    try:
        plan = describe_plan(cfg, node, credentials=[], preflight=preflight_strategies(node))
        assert not node.is_running()
    finally:
        node.dispose()
    assert plan["strategies"] and plan["instruments"]
    assert all(i.endswith("." + cfg.venue.name) for i in plan["instruments"])
    tnc = node_config(cfg)
    assert tnc.exec_engine.reconciliation is True
    assert tnc.risk_engine.bypass is False
    assert tnc.risk_engine.max_notional_per_order, "every shipped config caps the order notional"
    # No credential ever enters the Nautilus config (it is written to disk with the stream).
    text = tnc.json().decode()
    assert not any(v in text for v in fake_keys.values())
    assert '"api_key":null' in text.replace(" ", "")


def test_replay_config_needs_a_catalog_and_gets_one_from_the_cli(tmp_path, capture_catalog):
    cfg = load_config(next(p for p in CONFIGS if p.stem == "replay"))
    with pytest.raises(ConfigError, match="replay.catalog_path"):
        node_config(cfg)
    catalog, _, _ = capture_catalog
    replayed = cfg.with_replay(ReplaySettings(catalog_path=str(catalog), speed=0.0))
    tnc = node_config(replayed)
    assert type(tnc.data_clients["BINANCE"]).__name__ == "ReplayDataClientConfig"
    paper = tnc.exec_clients["BINANCE"]
    assert type(paper).__name__ == "QueueAwareSandboxConfig"
    # the replay's paper exchange matches like the shipped backtests: L2 + queue
    assert (paper.book_type, paper.trade_execution, paper.queue_position, paper.liquidity_consumption) == (
        "L2_MBP", True, True, True,
    )


def test_venue_config_switched_to_replay_keeps_strategies_and_risk(tmp_path, capture_catalog):
    cfg = load_config(next(p for p in CONFIGS if p.stem == "binance_usdm_testnet"))
    catalog, _, _ = capture_catalog
    replayed = cfg.with_replay(ReplaySettings(catalog_path=str(catalog)))
    assert replayed.strategies == cfg.strategies
    assert replayed.risk == cfg.risk
    assert replayed.execution.mode == "sandbox"
    assert replayed.node.catalog_path is None, "replayed data is not persisted again"


def test_strategies_claim_venue_orders_found_at_start():
    cfg = load_config(next(p for p in CONFIGS if p.stem == "binance_usdm_testnet"))
    (importable,) = strategy_configs(cfg)
    assert importable.config["external_order_claims"] == ["BTCUSDT-PERP.BINANCE"]
    assert "external_order_claims" not in cfg.strategies[0].config  # the file's table is untouched


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ('[venue]\napi_key = "x"\n', "venue.api_key"),
        ('[node]\nbinance_api_secret = "x"\n', "node.binance_api_secret"),
        ('[execution]\npassword = "hunter2"\n', "execution.password"),
    ],
)
def test_credential_fields_are_rejected_naming_the_field(tmp_path, snippet, field):
    text = MINIMAL.replace("[venue]\n", "[venue_placeholder]\n") if snippet.startswith("[venue]") else MINIMAL
    if snippet.startswith("[venue]"):
        text = text.replace("[venue_placeholder]\n", snippet)
    else:
        text = snippet + text
    err = _error(tmp_path, text)
    assert err.field == field
    assert "environment variables or a mounted secret" in str(err)


def test_a_key_pasted_into_a_strategy_config_is_rejected_without_echoing_it(tmp_path):
    key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # Binance docs' sample key
    err = _error(tmp_path, MINIMAL + f'order_id_tag = "{key}"\n')
    assert err.field == "strategies[0].config.order_id_tag"
    assert key not in str(err)


def test_key_heuristic_spares_hashes_paths_and_names():
    assert looks_like_api_key("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A")
    assert looks_like_api_key("XQ3kLm9PzR7tWv2Yb8")  # 18-character Bybit-style key
    for value in ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # sha256
                  "FixedSpreadMarketMaker", "runs/ppo_usdm__seed1__20240809", "BTCUSDT-PERP.BINANCE",
                  "strategies.fixed_spread:FixedSpreadMarketMakerConfig"):
        assert not looks_like_api_key(value), value
    assert find_credential_literals({"node": {"api_key_env": "MY_KEY", "secrets_path": "/run/s"}}) == []


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (MINIMAL.replace('environment = "testnet"', 'environment = "mainnet"'), "venue.environment", "production, testnet"),
        (MINIMAL.replace('adapter = "binance"', 'adapter = "kraken"'), "venue.adapter", "binance, bybit, replay"),
        (MINIMAL + '[risk]\nmax_order_submit_rate = "fast"\n', "risk.max_order_submit_rate", "N/HH:MM:SS"),
        ("[risk]\nbypass = true\n" + MINIMAL, "risk.bypass", "cannot be bypassed"),
        ("[node]\ntrader_id = 7\n" + MINIMAL, "node.trader_id", "Expected `str`, got `int`"),
        ("[node]\ntradr_id = \"AMM-001\"\n" + MINIMAL, "node.tradr_id", "unknown field; expected one of: catalog_path, "),
        ("[node]\nlog_level = \"LOUD\"\n" + MINIMAL, "node.log_level", "expected one of: DEBUG, ERROR, INFO, WARNING"),
        ("[kill_switch]\ncancel_timeout_secs = 0\n" + MINIMAL, "kill_switch.cancel_timeout_secs", "Expected `float` > 0.0"),
        ("[execution]\ninflight_check_threshold_ms = 1.5\n" + MINIMAL, "execution.inflight_check_threshold_ms", "Expected `int`, got `float`"),
        ("[execution.sandbox]\nqueue_position = true\ntrade_execution = false\n" + MINIMAL, "execution.sandbox.queue_position", "needs trade_execution"),
        ('[risk]\nmax_notional_per_order = { "BTCUSDT-PERP.BINANCE" = -1 }\n' + MINIMAL, "risk.max_notional_per_order[...]", "Expected `int` >= 1"),
        ('[risk]\nmax_notional_per_order = { "ETHUSDT.BYBIT" = 10 }\n' + MINIMAL, "risk.max_notional_per_order.ETHUSDT.BYBIT", "not on venue BINANCE"),
        (MINIMAL + "max_loos = 1.0\n", "strategies[0].config.max_loos", "unknown field; expected one of: "),
        (MINIMAL + "vol_window = 0\n", "strategies[0].config.vol_window", "Expected `int` >= 1"),
        (MINIMAL.replace("BTCUSDT-PERP.BINANCE", "BTCUSDT-LINEAR.BYBIT"), "strategies[0].config.instrument_id", "not on venue BINANCE"),
        (MINIMAL.replace('order_qty = "0.002"\n', ""), "strategies[0].config.order_qty", "missing required field"),
        (MINIMAL.replace('max_inventory = "0.010"', "max_inventory = [1]"), "strategies[0].config.max_inventory", "Expected"),
        (MINIMAL.replace("fixed_spread:FixedSpreadMarketMaker\"", "fixed_spread:Nope\""), "strategies[0].strategy_path", "'strategies.fixed_spread:Nope' is not a registered strategy_path"),
        (MINIMAL + '[execution.sandbox]\nstarting_balances = ["lots USDT"]\n', "execution.sandbox.starting_balances[0]", "AMOUNT CURRENCY"),
        (MINIMAL.split("[[strategies]]")[0], "strategies", "missing required field"),
        ("strategies = []\n" + MINIMAL.split("[[strategies]]")[0], "strategies", "Expected `array` of length >= 1"),
        ("[replay]\nspeed = -1.0\n" + MINIMAL, "replay.speed", "Expected `float` >= 0.0"),
        ('[venue]\nadapter = "replay"\n[execution]\nmode = "venue"\n' + MINIMAL.split("[venue]")[1].split("\n", 4)[4],
         "execution.mode", "sandbox"),
    ],
)
def test_bad_configs_name_the_field(tmp_path, text, field, message):
    err = _error(tmp_path, text)
    assert err.field == field, str(err)
    assert message in str(err)
    assert "\n" not in str(err)
    assert str(err) == f"{err.source}: {field}: {err.message}" and err.source.endswith("live.toml")


def test_unparseable_file_names_the_file(tmp_path):
    err = _error(tmp_path, "[venue\nadapter = 1\n")
    assert "invalid TOML" in str(err) and "live.toml" in str(err)


def test_yaml_configs_are_accepted(tmp_path):
    import yaml
    import tomllib

    data = tomllib.loads(MINIMAL)
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).strategies[0].instrument_id == "BTCUSDT-PERP.BINANCE"


BACKTEST = """\
[run]
name = "usdm_baselines"
catalog = "catalogs/binance"
instrument_id = "BTCUSDT-PERP.BINANCE"

[venue]
book_type = "L1_MBP"

[[strategies]]
name = "fixed_spread"
strategy_path = "strategies.fixed_spread:FixedSpreadMarketMaker"
config_path = "strategies.fixed_spread:FixedSpreadMarketMakerConfig"
[strategies.config]
order_qty = "0.002"
max_inventory = "0.010"
half_spread_ticks = 3.0

[[strategies]]
name = "glft"
strategy_path = "strategies.glft:GLFTMarketMaker"
config_path = "strategies.glft:GLFTMarketMakerConfig"
[strategies.config]
order_qty = "0.002"
max_inventory = "0.010"
"""


def test_strategy_taken_unchanged_from_a_backtest_config(tmp_path):
    """``from_backtest``: the strategy config exactly as ``amm backtest`` resolves and runs it."""
    from backtests.config import load_run_config

    backtest = _write(tmp_path, BACKTEST, "baselines.toml")
    live = MINIMAL.split("[[strategies]]")[0] + textwrap.dedent("""\
        [[strategies]]
        from_backtest = "baselines.toml"
        name = "fixed_spread"
        [strategies.config]
        max_loss = 25.0
        """)
    cfg = load_config(_write(tmp_path, live))
    (spec,) = cfg.strategies
    resolved = next(s for s in load_run_config(backtest).strategies if s.name == "fixed_spread")
    assert {k: v for k, v in spec.config.items() if k != "max_loss"} == dict(resolved.config)
    assert spec.config["instrument_id"] == "BTCUSDT-PERP.BINANCE"  # filled in from the backtest's [run]
    assert spec.config["max_loss"] == 25.0
    assert spec.origin.endswith("baselines.toml#fixed_spread")

    ambiguous = live.replace('name = "fixed_spread"\n', "")
    err = _error(tmp_path, ambiguous)
    assert err.field == "strategies[0].name" and "fixed_spread, glft" in str(err)


def test_sandbox_built_in_code_resolves_liquidity_consumption_by_book_type(capture_catalog):
    """``SandboxSettings(liquidity_consumption=None)`` means "by book type", as in VenueModelConfig."""
    from dataclasses import replace

    import msgspec

    from live.config import SandboxSettings
    from live.node import exec_client

    cfg = load_config(next(p for p in CONFIGS if p.stem == "replay"))
    for book_type, expected in (("L2_MBP", True), ("L1_MBP", False)):
        sandbox = SandboxSettings(book_type=book_type)
        assert sandbox.liquidity_consumption is None
        paper = exec_client(replace(cfg, execution=msgspec.structs.replace(cfg.execution, sandbox=sandbox)))[1]
        assert (paper.queue_position, paper.liquidity_consumption) == (True, expected)
