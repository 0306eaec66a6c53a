"""What a config file may do and may hold (issue 17, items 6, 8 and 9).

- It names code only from the registry (``catalog.importables``) or a module the operator opted in
  with ``AMM_ALLOW_IMPORTS``; anything else is refused at load, before it is imported.
- A credential-named field is refused wherever it sits, and no error echoes a secret field's value.
- Values are checked against the ranges their fields declare (balances, latency, gamma, lot grid).
"""

from __future__ import annotations

import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from backtests.config import load_run_config
from catalog.config_io import ConfigError, FieldError, decode
from catalog.importables import ALLOW_IMPORTS_ENV, is_allowed
from live.config import load_config

ROOT = Path(__file__).resolve().parents[1]
KEY = "abc123xyz"

RUN = """\
[run]
name = "guard"
catalog = "catalogs/none"
instrument_id = "BTCUSDT-PERP.BINANCE"

[venue]
{venue}
[[strategies]]
strategy_path = "{strategy_path}"
config_path = "{config_path}"
[strategies.config]
{sizes}
{config}
"""
SIZES = 'order_qty = "0.002"\nmax_inventory = "0.010"'

FIXED = ("strategies.fixed_spread:FixedSpreadMarketMaker", "strategies.fixed_spread:FixedSpreadMarketMakerConfig")
AS = ("strategies.avellaneda_stoikov:AvellanedaStoikovMarketMaker",
      "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMakerConfig")
GLFT = ("strategies.glft:GLFTMarketMaker", "strategies.glft:GLFTMarketMakerConfig")
POLICY = ("strategies.policy:PolicyMarketMaker", "strategies.policy:PolicyMarketMakerConfig")

LIVE_POLICY = """\
[venue]
adapter = "binance"
account_type = "USDT_FUTURES"
environment = "testnet"

[[strategies]]
strategy_path = "strategies.policy:PolicyMarketMaker"
config_path = "strategies.policy:PolicyMarketMakerConfig"
[strategies.config]
policy_loader = "{loader}"
model_path = "{model_path}"
[strategies.config.agent]
instrument_id = "BTCUSDT-PERP.BINANCE"
"""


def _run_file(tmp_path: Path, *, paths: tuple[str, str] = FIXED, venue: str = "", config: str = "") -> Path:
    """A run file of one strategy; a policy gets its sizes from its agent (the agent's defaults)."""
    path = tmp_path / "run.toml"
    if paths == POLICY:
        config += "\n[strategies.config.agent]\n"
    path.write_text(RUN.format(venue=venue, strategy_path=paths[0], config_path=paths[1], config=config,
                               sizes="" if paths == POLICY else SIZES))
    return path


def _run_error(tmp_path: Path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_run_config(_run_file(tmp_path, **kwargs))
    return info.value


@pytest.fixture
def trap(tmp_path, monkeypatch) -> tuple[str, Path]:
    """A module that leaves a file behind when it is imported (and a loader, a strategy, a fill
    model to name in it). Returns its name and the file."""
    marker = tmp_path / "imported"
    name = f"guard_trap_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""\
        from pathlib import Path
        Path({str(marker)!r}).touch()

        class Policy:
            def predict(self, obs, deterministic=True):
                return 0, None

        def load(model_path, **kwargs):
            return Policy()

        Strategy = Config = FillModel = Policy
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


# -- item 6: configs name only registered code --------------------------------------------------


def test_os_system_policy_loader_is_refused_at_live_load_and_runs_nothing(tmp_path):
    """The reported case: ``amm live --dry-run`` with ``policy_loader = "os:system"`` ran
    ``model_path`` as a shell command. The file is now refused at load, nothing is called."""
    marker = tmp_path / "pwned"
    path = tmp_path / "live.toml"
    path.write_text(LIVE_POLICY.format(loader="os:system", model_path=f"touch {marker}"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.field == "strategies[0].config.policy_loader"
    assert "'os:system' is not a registered policy_loader" in str(err)
    assert ALLOW_IMPORTS_ENV in str(err) and "\n" not in str(err)
    assert not marker.exists()


def test_the_dry_run_cli_refuses_it_too(tmp_path):
    """End to end through ``amm live --dry-run``: one line naming file and field, no command run."""
    import subprocess

    marker = tmp_path / "pwned"
    path = tmp_path / "live.toml"
    path.write_text(LIVE_POLICY.format(loader="os:system", model_path=f"touch {marker}"))
    proc = subprocess.run(
        [sys.executable, "-m", "amm.cli", "live", "--config", str(path), "--dry-run"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "strategies[0].config.policy_loader" in proc.stderr and "os:system" in proc.stderr
    assert not marker.exists()


def test_unregistered_code_is_refused_before_it_is_imported(tmp_path, trap):
    name, marker = trap
    for paths, field in (
        ((f"{name}:Strategy", FIXED[1]), "strategies[0].strategy_path"),
        ((FIXED[0], f"{name}:Config"), "strategies[0].config_path"),
    ):
        err = _run_error(tmp_path, paths=paths)
        assert err.field == field and "is not a registered" in err.message
    err = _run_error(tmp_path, venue=f'fill_model_path = "{name}:FillModel"')
    assert err.field == "venue.fill_model_path" and "is not a registered fill_model_path" in err.message
    err = _run_error(tmp_path, paths=POLICY, config=f'policy_loader = "{name}:load"')
    assert err.field == "strategies[0].config.policy_loader"
    live = tmp_path / "live.toml"
    live.write_text(LIVE_POLICY.format(loader=f"{name}:load", model_path="m.zip"))
    with pytest.raises(ConfigError, match=r"strategies\[0\]\.config\.policy_loader: .* is not a registered"):
        load_config(live)
    assert not marker.exists() and name not in sys.modules


def test_a_test_strategy_needs_the_opt_in(tmp_path, monkeypatch):
    """``tests.backtests.toy_mm`` is ordinary code outside the registry: refused unless the
    operator lists ``tests`` in AMM_ALLOW_IMPORTS (the test suite does, in tests/conftest.py)."""
    paths = ("tests.backtests.toy_mm:ToyQuoter", "tests.backtests.toy_mm:ToyQuoterConfig")
    monkeypatch.delenv(ALLOW_IMPORTS_ENV, raising=False)
    err = _run_error(tmp_path, paths=paths)
    assert err.field == "strategies[0].strategy_path"
    assert f"{ALLOW_IMPORTS_ENV}=tests" in err.message
    monkeypatch.setenv(ALLOW_IMPORTS_ENV, "mypkg, tests")
    path = tmp_path / "toy.toml"
    path.write_text(RUN.format(venue="", strategy_path=paths[0], config_path=paths[1], config="", sizes=""))
    spec = load_run_config(path)
    assert spec.strategies[0].strategy_path == paths[0]


def test_the_opt_in_reaches_every_importer(tmp_path, trap, monkeypatch):
    from strategies.agent import AgentConfig
    from strategies.policy import PolicyMarketMakerConfig, load_policy

    name, marker = trap
    monkeypatch.delenv(ALLOW_IMPORTS_ENV, raising=False)
    with pytest.raises(FieldError, match="policy_loader"):
        PolicyMarketMakerConfig(agent=AgentConfig(), policy_loader=f"{name}:load")
    with pytest.raises(ValueError, match="is not a registered policy_loader"):
        load_policy(f"{name}:load", None)
    assert not marker.exists()
    monkeypatch.setenv(ALLOW_IMPORTS_ENV, name)
    cfg = PolicyMarketMakerConfig(agent=AgentConfig(), policy_loader=f"{name}:load")
    assert type(load_policy(cfg.policy_loader, None)).__name__ == "Policy"
    assert marker.exists()  # opted in: the module was imported


def test_prefixes_match_whole_module_names():
    env = {ALLOW_IMPORTS_ENV: "mypkg,tests"}
    assert is_allowed("mypkg:load", "policy_loader", env)
    assert is_allowed("mypkg.sub.mod:load", "policy_loader", env)
    assert not is_allowed("mypkgevil:load", "policy_loader", env)
    assert not is_allowed("testsuite.x:S", "strategy_path", env)
    assert not is_allowed("os:system", "policy_loader", {ALLOW_IMPORTS_ENV: ", ,"})
    assert is_allowed("strategies.model_store:load_verified_policy", "policy_loader", {})
    assert is_allowed("nautilus_trader.backtest.models:FillModel", "fill_model_path", {})
    assert not is_allowed("strategies.glft:GLFTMarketMaker", "policy_loader", {})


# -- item 8: no credential in a config, no secret value in an error ------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (f'binance_key = "{KEY}"', "strategies[0].config.binance_key"),
        (f'[strategies.config.policy_kwargs]\nbinance_key = "{KEY}"', "strategies[0].config.policy_kwargs.binance_key"),
        (f'[strategies.config.policy_kwargs]\napiSecret = "{KEY}"', "strategies[0].config.policy_kwargs.apiSecret"),
    ],
)
def test_a_credential_in_a_strategy_config_is_refused_without_its_value(tmp_path, config, field):
    err = _run_error(tmp_path, paths=POLICY if "policy_kwargs" in config else FIXED, config=config)
    assert err.field == field
    assert "environment variables or a mounted secret" in err.message
    assert KEY not in str(err)


def test_a_credential_anywhere_in_a_run_or_live_file_is_refused(tmp_path):
    path = _run_file(tmp_path)
    path.write_text(path.read_text().replace("[venue]\n", f'[venue]\nexchange_token = "{KEY}"\n'))
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert info.value.field == "venue.exchange_token" and KEY not in str(info.value)
    live = tmp_path / "live.toml"
    live.write_text(LIVE_POLICY.format(loader="strategies.model_store:load_verified_policy", model_path="m.zip")
                    + f'binance_key = "{KEY}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(live)
    assert info.value.field == "strategies[0].config.agent.binance_key" and KEY not in str(info.value)


class _Refs(msgspec.Struct, forbid_unknown_fields=True):
    api_key_env: Literal["BINANCE_API_KEY", "BYBIT_API_KEY"] = "BINANCE_API_KEY"
    secrets_path: str | None = None
    venue: str = "BINANCE"

    def __post_init__(self) -> None:
        if self.secrets_path is not None and not self.secrets_path.startswith("/"):
            raise FieldError("_Refs", "secrets_path", f"must be an absolute path, got {self.secrets_path!r}")


def test_a_value_pasted_into_a_secret_named_field_is_not_echoed():
    """``api_key_env`` names a variable; a key pasted there by mistake was printed back by the
    parser's message (msgspec: "Invalid enum value 'abc123xyz'") or by a check's ``got ...``."""
    with pytest.raises(ConfigError) as info:
        decode({"api_key_env": KEY}, _Refs, source="f.toml")
    assert info.value.field == "api_key_env" and KEY not in str(info.value) and "****" in str(info.value)
    with pytest.raises(ConfigError) as info:
        decode({"secrets_path": KEY}, _Refs, source="f.toml")
    assert info.value.field == "secrets_path" and KEY not in str(info.value)
    with pytest.raises(ConfigError) as info:  # an ordinary field keeps its value in the message
        decode({"venue": 3}, _Refs, source="f.toml")
    assert info.value.field == "venue"


def test_constraint_errors_built_in_python_do_not_echo_secret_fields():
    from catalog.config_io import validate_constraints

    class Tokened(msgspec.Struct):
        token_file: Literal["a", "b"]

    with pytest.raises(FieldError) as info:
        validate_constraints(Tokened(token_file=KEY))
    assert KEY not in str(info.value) and info.value.field == "token_file"


# -- item 9: ranges where the fields are declared -----------------------------------------------


def test_negative_or_zero_starting_balance_is_refused(tmp_path):
    from backtests.venue import VenueModelConfig

    err = _run_error(tmp_path, venue='starting_balances = ["-2000 USDT"]')
    assert err.field == "venue.starting_balances[0]" and "must be > 0" in err.message
    with pytest.raises(FieldError, match=r"starting_balances\[0\]: must be > 0"):
        VenueModelConfig(starting_balances=("0 USDT",))
    assert VenueModelConfig(starting_balances=("2000 USDT",)).starting_balances == ("2000 USDT",)


@pytest.mark.parametrize(("paths", "bound", "above"), [(AS, 1.0, 1.5), (GLFT, 10.0, 15.0)],
                         ids=["avellaneda_stoikov", "glft"])
def test_gamma_above_its_bound_is_refused(tmp_path, paths, bound, above):
    err = _run_error(tmp_path, paths=paths, config=f"gamma = {above}")
    assert err.field == "strategies[0].config.gamma" and f"<= {bound}" in err.message
    from nautilus_trader.common.config import resolve_config_path
    from nautilus_trader.model.identifiers import InstrumentId

    config_cls = resolve_config_path(paths[1])
    common = {"instrument_id": InstrumentId.from_str("BTCUSDT-PERP.BINANCE"),
              "order_qty": Decimal("0.002"), "max_inventory": Decimal("0.010")}
    with pytest.raises(ValueError, match=f"gamma: must be le {bound}, got {above}"):
        config_cls(**common, gamma=above)
    assert config_cls(**common, gamma=bound).gamma == bound  # the bound itself is allowed


def test_a_latency_of_days_is_refused(tmp_path):
    from backtests.venue import VenueModelConfig

    err = _run_error(tmp_path, venue="latency_base_ns = 1_000_000_000_000_000")  # 11.6 days
    assert err.field == "venue.latency_base_ns" and "<= 10000000000" in err.message
    with pytest.raises(FieldError, match="latency_insert_ns: latency_base_ns \\+ latency_insert_ns"):
        VenueModelConfig(latency_base_ns=6_000_000_000, latency_insert_ns=6_000_000_000)
    assert VenueModelConfig(latency_base_ns=10_000_000_000).latency_base_ns == 10_000_000_000


def _instrument():
    from catalog.instruments import build_instrument, get_spec

    return build_instrument(get_spec("BTCUSDT-PERP.BINANCE"))  # lot 0.001, min 0.001


def test_order_qty_off_the_lot_grid_refuses_to_start():
    """Orders are rounded to whole lots (0.0015 -> 0.001) while the models and the skew count in
    units of the configured 0.0015: the strategy must not start on such a size."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.objects import Price, Quantity

    from backtests.venue import VenueModelConfig
    from strategies.fixed_spread import FixedSpreadMarketMaker, FixedSpreadMarketMakerConfig

    instrument = _instrument()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="OFF")))
    try:
        VenueModelConfig().add_to_engine(engine, [instrument])
        engine.add_data([QuoteTick(instrument.id, Price.from_str("60000.0"), Price.from_str("60000.1"),
                                   Quantity.from_str("1.000"), Quantity.from_str("1.000"), 1, 1)])
        engine.add_strategy(FixedSpreadMarketMaker(FixedSpreadMarketMakerConfig(
            instrument_id=instrument.id, order_qty=Decimal("0.0015"), max_inventory=Decimal("0.010"),
        )))
        with pytest.raises(ValueError) as info:
            engine.run()
    finally:
        engine.dispose()
    message = str(info.value)
    assert "FixedSpreadMarketMakerConfig.order_qty: 0.0015 is not a multiple of the lot size 0.001" in message
    assert "use 0.001 or 0.002" in message


def test_lot_grid_check_covers_max_inventory_and_the_minimum():
    from nautilus_trader.model.identifiers import InstrumentId

    from strategies.base import check_lot_grid
    from strategies.fixed_spread import FixedSpreadMarketMakerConfig

    instrument = _instrument()

    def config(qty: str, inventory: str) -> FixedSpreadMarketMakerConfig:
        return FixedSpreadMarketMakerConfig(instrument_id=InstrumentId.from_str("BTCUSDT-PERP.BINANCE"),
                                            order_qty=Decimal(qty), max_inventory=Decimal(inventory))

    check_lot_grid(config("0.002", "0.010"), instrument)  # the shipped sizes
    with pytest.raises(ValueError, match=r"max_inventory: 0.0105 is not a multiple of the lot size 0.001"):
        check_lot_grid(config("0.002", "0.0105"), instrument)
    assert instrument.min_quantity.as_decimal() <= instrument.size_increment.as_decimal()


# -- the shipped configs pass every check without an opt-in ---------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "backtests" / "configs").glob("*.toml"))
    + sorted((ROOT / "live" / "configs").glob("*.toml"))
    + sorted((ROOT / "rl" / "configs").glob("*.yml")),
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_every_shipped_config_loads_without_opt_in(path, monkeypatch):
    monkeypatch.delenv(ALLOW_IMPORTS_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    if path.parent.parent.name == "live":
        assert load_config(path).strategies
    elif path.suffix == ".yml":
        from rl.train import load_run_config as load_training_config

        assert load_training_config(path) is not None
    else:
        assert load_run_config(path).strategies
