"""The live deployment file: one TOML (or YAML) file per venue account, read into frozen settings.

The strategies section is the same ``ImportableStrategyConfig`` shape the backtests use
(``strategy_path`` / ``config_path`` / ``config``), so a strategy validated in a backtest is
deployed with its config unchanged; everything else (venue, execution, risk, kill switch,
persistence) is what only a live node needs. ``live/configs/*.toml`` are annotated examples.

Validation happens here, before anything is built, and every error names the file and the field
(``strategies[0].config.spread_ticks``). A credential literal anywhere in the file (a field named
like ``api_key`` / ``secret`` / ``password``, or a value that looks like an exchange key) is an
error: keys come only from the environment or a mounted secret (:mod:`live.secrets`). The message
names the field, never the value.
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from live.secrets import SECRETS_PATH_ENV, find_credential_literals

ADAPTERS = ("binance", "bybit", "replay")
ENVIRONMENTS = {"binance": ("production", "testnet"), "bybit": ("production", "testnet", "demo"), "replay": ("offline",)}
ACCOUNT_TYPES = {
    "binance": ("SPOT", "USDT_FUTURES", "COIN_FUTURES"),
    "bybit": ("SPOT", "LINEAR", "INVERSE"),
    "replay": ("SANDBOX",),
}
VENUE_NAMES = {"binance": "BINANCE", "bybit": "BYBIT"}
EXEC_MODES = ("venue", "sandbox")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PERSIST_TYPES = ("quotes", "trades", "deltas")
_RATE = re.compile(r"^\d+/\d{2}:\d{2}:\d{2}$")


class ConfigError(ValueError):
    """A bad live config: names the file and the dotted field, and says what is expected."""

    def __init__(self, source: Path | str, field_path: str, message: str) -> None:
        self.source = str(source)
        self.field = field_path
        self.message = message
        super().__init__(f"{source}: field '{field_path}': {message}" if field_path else f"{source}: {message}")


@dataclass(frozen=True)
class NodeSettings:
    """Node-wide settings.

    Parameters
    ----------
    trader_id : str
        ``NAME-TAG`` trader id; order ids carry it, so keep it stable across restarts.
    log_level : str
        Console log level (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``).
    log_file : str or None
        Append the (secret-redacted) console output here as well.
    catalog_path : str or None
        ``ParquetDataCatalog`` that receives the market data seen live (``None``: not persisted).
    persist_types : tuple[str, ...]
        Which data to persist: ``quotes``, ``trades``, ``deltas``.
    flush_interval_ms : int
        How often the stream writer flushes to disk.
    secrets_path : str or None
        A mounted secret (directory of ``NAME`` files or a ``NAME=value`` file); ``$AMM_SECRETS_PATH``
        is used when unset.
    health_file : str or None
        Heartbeat file for container probes (``None``: no heartbeat).
    heartbeat_secs : float
        How often the heartbeat file is rewritten.
    timeout_connection_secs, timeout_reconciliation_secs, timeout_portfolio_secs, timeout_disconnection_secs : float
        Start-up and shutdown timeouts passed to the Nautilus kernel.
    """

    trader_id: str = "AMM-001"
    log_level: str = "INFO"
    log_file: str | None = None
    catalog_path: str | None = None
    persist_types: tuple[str, ...] = PERSIST_TYPES
    flush_interval_ms: int = 1_000
    secrets_path: str | None = None
    health_file: str | None = None
    heartbeat_secs: float = 5.0
    timeout_connection_secs: float = 60.0
    timeout_reconciliation_secs: float = 30.0
    timeout_portfolio_secs: float = 10.0
    timeout_disconnection_secs: float = 10.0


@dataclass(frozen=True)
class VenueSettings:
    """Which venue account the node trades (or replays).

    Parameters
    ----------
    adapter : str
        ``binance``, ``bybit`` or ``replay`` (a catalog streamed by :mod:`live.replay`).
    account_type : str
        Binance: ``SPOT``, ``USDT_FUTURES``, ``COIN_FUTURES``; Bybit: ``SPOT``, ``LINEAR``,
        ``INVERSE``; replay: ``SANDBOX``.
    environment : str
        ``production`` or ``testnet`` (Bybit also ``demo``); replay: ``offline``.
    instrument_ids : tuple[str, ...]
        Instruments to load besides those the strategies trade.
    name : str
        The venue name (``BINANCE`` / ``BYBIT``; replay: the catalog's venue).
    """

    adapter: str = "binance"
    account_type: str = "SPOT"
    environment: str = "testnet"
    instrument_ids: tuple[str, ...] = ()
    name: str = "BINANCE"


@dataclass(frozen=True)
class SandboxSettings:
    """The paper exchange used when ``execution.mode = sandbox``.

    A ``SimulatedExchange`` fed by the node's market data (:mod:`live.sandbox`, Nautilus' sandbox
    client with the backtests' matching rules): queue position and trade execution on,
    liquidity consumption on for L2/L3 books (``None`` = by book type, as in
    ``backtests.venue.VenueModelConfig``), the instrument's maker/taker fees and zero latency.
    """

    starting_balances: tuple[str, ...] = ("10000 USDT",)
    account_type: str = "MARGIN"
    oms_type: str = "NETTING"
    book_type: str = "L1_MBP"
    default_leverage: Decimal = Decimal(1)
    trade_execution: bool = True
    queue_position: bool = True
    liquidity_consumption: bool | None = None


@dataclass(frozen=True)
class ExecutionSettings:
    """Where orders go, and how the node reconciles with the venue on start.

    Parameters
    ----------
    mode : str
        ``venue`` (orders go to the exchange account) or ``sandbox`` (paper trading on a local
        simulated exchange fed by the live data).
    reconciliation : bool
        Reconcile open orders, fills and positions with the venue at start-up, so a restart picks
        up the real book instead of assuming it is flat.
    reconciliation_lookback_mins : int or None
        How far back to reconcile (``None``: as far as the venue allows).
    open_check_interval_secs : float or None
        Poll the venue's open orders this often and reconcile differences.
    inflight_check_threshold_ms : int
        Query an order's status when no venue answer arrived within this time.
    claim_external_orders : bool
        Give each strategy the venue orders on its instrument found at start-up (e.g. left by a
        previous run), so its kill switch and inventory logic see them.
    sandbox : SandboxSettings
        The paper exchange (``mode = sandbox`` only).
    """

    mode: str = "venue"
    reconciliation: bool = True
    reconciliation_lookback_mins: int | None = None
    open_check_interval_secs: float | None = 10.0
    inflight_check_threshold_ms: int = 5_000
    claim_external_orders: bool = True
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)


@dataclass(frozen=True)
class RiskSettings:
    """Pre-trade limits of Nautilus' risk engine (every order passes through it).

    Parameters
    ----------
    max_order_submit_rate, max_order_modify_rate : str
        ``"N/HH:MM:SS"``: at most N submits (modifies) per interval; excess is throttled.
    max_notional_per_order : Mapping[str, int]
        Instrument id -> largest notional (quote currency) one order may have; larger are denied.
    """

    max_order_submit_rate: str = "20/00:00:01"
    max_order_modify_rate: str = "20/00:00:01"
    max_notional_per_order: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KillSwitchSettings:
    """What SIGINT / SIGTERM (or the end of a replay) does before the node stops.

    Parameters
    ----------
    flatten_on_stop : bool
        Also close every open position with market orders after canceling the open orders.
    cancel_timeout_secs : float
        How long to wait for the venue to confirm the cancels (and closes) before stopping anyway.
    """

    flatten_on_stop: bool = False
    cancel_timeout_secs: float = 10.0


@dataclass(frozen=True)
class ReplaySettings:
    """Offline replay of a catalog (``venue.adapter = replay`` or ``amm live --replay``)."""

    catalog_path: str | None = None
    start: str | None = None
    end: str | None = None
    speed: float = 1.0
    data_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StrategySpec:
    """One ``ImportableStrategyConfig``: the same table a backtest config holds.

    ``origin`` says where it came from: this file, or ``<backtest config>#<name>`` when the table
    was ``from_backtest = ...`` (the strategy config resolved exactly as ``amm backtest`` runs it).
    """

    name: str
    strategy_path: str
    config_path: str
    config: Mapping[str, Any]
    origin: str = ""

    @property
    def instrument_id(self) -> str | None:
        value = self.config.get("instrument_id")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class LiveConfig:
    """A whole live deployment file."""

    source: Path
    node: NodeSettings
    venue: VenueSettings
    execution: ExecutionSettings
    risk: RiskSettings
    kill_switch: KillSwitchSettings
    replay: ReplaySettings
    strategies: tuple[StrategySpec, ...]

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        """Every instrument the node needs: configured ones plus the strategies' own."""
        ids = list(self.venue.instrument_ids)
        for s in self.strategies:
            if s.instrument_id and s.instrument_id not in ids:
                ids.append(s.instrument_id)
        return tuple(ids)

    def with_replay(self, replay: ReplaySettings) -> LiveConfig:
        """Return this deployment re-pointed at an offline replay on a sandbox exchange.

        Strategies, risk limits, kill switch and sandbox settings are kept; the venue becomes the
        replay client for the same venue name, orders go to the sandbox, and live-data
        persistence is switched off (the data is already in a catalog).
        """
        return replace(
            self,
            venue=replace(self.venue, adapter="replay", account_type="SANDBOX", environment="offline"),
            execution=replace(self.execution, mode="sandbox"),
            node=replace(self.node, catalog_path=None),
            replay=replay,
        )


# -- parsing ---------------------------------------------------------------------------------------


def read_raw(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML file into a dict, failing with the file name and the parser's position."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(path, "", f"cannot read config file ({e.strerror})") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(path, "", f"invalid YAML: {str(e).splitlines()[0]}") from None
    else:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(path, "", f"invalid TOML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(path, "", "expected a table at the top level")
    return raw


class _Reader:
    """Typed access to one table of the raw config, with dotted field paths in errors."""

    def __init__(self, source: Path, table: Any, prefix: str) -> None:
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise ConfigError(source, prefix, f"expected a table, got {type(table).__name__}")
        self.source = source
        self.table = table
        self.prefix = prefix

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.source, self.path(name), message)

    def check_known(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.error(str(key), f"unknown field; expected one of: {', '.join(sorted(allowed))}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if name not in self.table or self.table[name] is None:
            return default
        value = self.table[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind in (int, float):
            raise self.error(name, f"expected {kind.__name__}, got bool")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(name, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str, upper: bool = False) -> str:
        value = self.get(name, str, default)
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def positive(self, name: str, kind: type, default: Any, allow_none: bool = False) -> Any:
        value = self.get(name, kind, default)
        if value is None:
            if allow_none:
                return None
            raise self.error(name, "is required")
        if value <= 0:
            raise self.error(name, f"must be > 0, got {value!r}")
        return value

    def str_list(self, name: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
        value = self.get(name, list, None)
        if value is None:
            return default
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", f"expected a string, got {type(item).__name__}")
        return tuple(value)

    def sub(self, name: str) -> _Reader:
        return _Reader(self.source, self.table.get(name), self.path(name))


def _settings_fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _parse_node(r: _Reader) -> NodeSettings:
    r.check_known(_settings_fields(NodeSettings))
    trader_id = r.get("trader_id", str, NodeSettings.trader_id)
    if not re.fullmatch(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+", trader_id):
        raise r.error("trader_id", f"must be NAME-TAG (e.g. AMM-001), got {trader_id!r}")
    persist = r.str_list("persist_types", PERSIST_TYPES)
    for i, name in enumerate(persist):
        if name not in PERSIST_TYPES:
            raise r.error(f"persist_types[{i}]", f"must be one of {', '.join(PERSIST_TYPES)}; got {name!r}")
    return NodeSettings(
        trader_id=trader_id,
        log_level=r.choice("log_level", LOG_LEVELS, NodeSettings.log_level, upper=True),
        log_file=r.get("log_file", str, None),
        catalog_path=r.get("catalog_path", str, None),
        persist_types=persist,
        flush_interval_ms=r.positive("flush_interval_ms", int, NodeSettings.flush_interval_ms),
        secrets_path=r.get("secrets_path", str, None),
        health_file=r.get("health_file", str, None),
        heartbeat_secs=r.positive("heartbeat_secs", float, NodeSettings.heartbeat_secs),
        timeout_connection_secs=r.positive("timeout_connection_secs", float, NodeSettings.timeout_connection_secs),
        timeout_reconciliation_secs=r.positive(
            "timeout_reconciliation_secs", float, NodeSettings.timeout_reconciliation_secs,
        ),
        timeout_portfolio_secs=r.positive("timeout_portfolio_secs", float, NodeSettings.timeout_portfolio_secs),
        timeout_disconnection_secs=r.positive(
            "timeout_disconnection_secs", float, NodeSettings.timeout_disconnection_secs,
        ),
    )


def _parse_venue(r: _Reader) -> VenueSettings:
    r.check_known(_settings_fields(VenueSettings))
    if "adapter" not in r.table:
        raise r.error("adapter", f"is required ({', '.join(ADAPTERS)})")
    adapter = r.choice("adapter", ADAPTERS, "binance")
    account_type = r.choice("account_type", ACCOUNT_TYPES[adapter], ACCOUNT_TYPES[adapter][0], upper=True)
    environment = r.choice("environment", ENVIRONMENTS[adapter], ENVIRONMENTS[adapter][0])
    if adapter == "replay":
        name = r.get("name", str, "BINANCE").upper()
    else:
        name = VENUE_NAMES[adapter]
        if r.get("name", str, name).upper() != name:
            raise r.error("name", f"the {adapter} adapter's venue is {name}")
    ids = r.str_list("instrument_ids", ()) or ()
    for i, iid in enumerate(ids):
        _check_instrument_id(r, f"instrument_ids[{i}]", iid, name)
    return VenueSettings(adapter=adapter, account_type=account_type, environment=environment, instrument_ids=ids, name=name)


def _check_instrument_id(r: _Reader, name: str, iid: str, venue: str) -> None:
    symbol, dot, iid_venue = iid.rpartition(".")
    if not dot or not symbol:
        raise r.error(name, f"{iid!r} is not an instrument id (SYMBOL.VENUE)")
    if iid_venue != venue:
        raise r.error(name, f"{iid!r} is not on venue {venue} (this file's [venue])")


def _parse_sandbox(r: _Reader) -> SandboxSettings:
    r.check_known(_settings_fields(SandboxSettings))
    balances = r.str_list("starting_balances", SandboxSettings.starting_balances)
    if not balances:
        raise r.error("starting_balances", "needs at least one balance, e.g. \"10000 USDT\"")
    for i, b in enumerate(balances):
        amount, _, ccy = b.partition(" ")
        try:
            ok = Decimal(amount) > 0 and ccy.isalnum()
        except InvalidOperation:
            ok = False
        if not ok:
            raise r.error(f"starting_balances[{i}]", f"expected \"AMOUNT CURRENCY\" (e.g. \"10000 USDT\"), got {b!r}")
    leverage = r.get("default_leverage", (int, float, str), 1)
    try:
        lev = Decimal(str(leverage))
    except InvalidOperation:
        raise r.error("default_leverage", f"not a number: {leverage!r}") from None
    if lev <= 0:
        raise r.error("default_leverage", f"must be > 0, got {leverage!r}")
    book_type = r.choice("book_type", ("L1_MBP", "L2_MBP", "L3_MBO"), "L1_MBP", upper=True)
    rules = dict(
        trade_execution=r.get("trade_execution", bool, True),
        queue_position=r.get("queue_position", bool, True),
        liquidity_consumption=r.get("liquidity_consumption", bool, None),
    )
    from backtests.venue import VenueModelConfig  # the one place the matching rules are checked

    try:
        venue = VenueModelConfig(book_type=book_type, **rules)
    except ValueError as e:
        field = str(e).split(":", 1)[0].removeprefix("VenueModelConfig.")
        raise r.error(field, str(e).split(": ", 1)[1]) from None
    return SandboxSettings(
        starting_balances=balances,
        account_type=r.choice("account_type", ("MARGIN", "CASH"), "MARGIN", upper=True),
        oms_type=r.choice("oms_type", ("NETTING", "HEDGING"), "NETTING", upper=True),
        book_type=book_type,
        default_leverage=lev,
        trade_execution=venue.trade_execution,
        queue_position=venue.queue_position,
        liquidity_consumption=venue.liquidity_consumption,
    )


def _optional_interval(r: _Reader, name: str, default: float) -> float | None:
    """A positive interval, where 0 switches the periodic task off."""
    value = r.get(name, float, default)
    if value < 0:
        raise r.error(name, f"must be > 0 (or 0 to disable), got {value!r}")
    return value or None


def _parse_execution(r: _Reader) -> ExecutionSettings:
    r.check_known(_settings_fields(ExecutionSettings))
    return ExecutionSettings(
        mode=r.choice("mode", EXEC_MODES, "venue"),
        reconciliation=r.get("reconciliation", bool, True),
        reconciliation_lookback_mins=r.positive("reconciliation_lookback_mins", int, None, allow_none=True),
        open_check_interval_secs=_optional_interval(r, "open_check_interval_secs", 10.0),
        inflight_check_threshold_ms=r.positive("inflight_check_threshold_ms", int, 5_000),
        claim_external_orders=r.get("claim_external_orders", bool, True),
        sandbox=_parse_sandbox(r.sub("sandbox")),
    )


def _parse_risk(r: _Reader) -> RiskSettings:
    r.check_known(_settings_fields(RiskSettings) | {"bypass"})
    if r.get("bypass", bool, False):
        raise r.error("bypass", "the risk engine cannot be bypassed on a live node")
    rates = {}
    for name in ("max_order_submit_rate", "max_order_modify_rate"):
        value = r.get(name, str, getattr(RiskSettings, name))
        if not _RATE.match(value) or int(value.split("/")[0]) <= 0:
            raise r.error(name, f"expected \"N/HH:MM:SS\" with N > 0 (e.g. \"20/00:00:01\"), got {value!r}")
        rates[name] = value
    notional = r.get("max_notional_per_order", Mapping, {})
    out = {}
    for iid, limit in notional.items():
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
            raise r.error(f"max_notional_per_order.{iid}", f"expected a positive number, got {limit!r}")
        out[str(iid)] = int(limit)
    return RiskSettings(max_notional_per_order=out, **rates)


def _parse_kill_switch(r: _Reader) -> KillSwitchSettings:
    r.check_known(_settings_fields(KillSwitchSettings))
    return KillSwitchSettings(
        flatten_on_stop=r.get("flatten_on_stop", bool, False),
        cancel_timeout_secs=r.positive("cancel_timeout_secs", float, KillSwitchSettings.cancel_timeout_secs),
    )


def _parse_replay(r: _Reader) -> ReplaySettings:
    r.check_known(_settings_fields(ReplaySettings))
    kinds = r.str_list("data_types", None)
    for i, name in enumerate(kinds or ()):
        if name not in PERSIST_TYPES:
            raise r.error(f"data_types[{i}]", f"must be one of {', '.join(PERSIST_TYPES)}; got {name!r}")
    speed = r.get("speed", float, 1.0)
    if speed < 0:
        raise r.error("speed", f"must be >= 0 (0 = unthrottled), got {speed!r}")
    return ReplaySettings(
        catalog_path=r.get("catalog_path", str, None),
        start=_time_text(r, "start"),
        end=_time_text(r, "end"),
        speed=speed,
        data_types=kinds,
    )


def _time_text(r: _Reader, name: str) -> str | None:
    value = r.table.get(name)
    if value is None:
        return None
    if hasattr(value, "isoformat"):  # TOML datetimes arrive parsed
        return value.isoformat()
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value)
    raise r.error(name, f"expected an ISO 8601 time, got {value!r}")


def _resolve_import(r: _Reader, name: str, path: str) -> Any:
    module, colon, attr = path.partition(":")
    if not colon or not module or not attr:
        raise r.error(name, f"expected 'package.module:ClassName', got {path!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as e:
        raise r.error(name, f"cannot import {path!r}: module {e.name!r} not found") from None
    except AttributeError:
        raise r.error(name, f"cannot import {path!r}: {module} has no {attr!r}") from None


def _parse_strategy(r: _Reader, venue: str) -> StrategySpec:
    r.check_known({"name", "strategy_path", "config_path", "config", "from_backtest"})
    if "from_backtest" in r.table:
        spec = _strategy_from_backtest(r)
    else:
        for name in ("strategy_path", "config_path"):
            if not isinstance(r.table.get(name), str):
                raise r.error(name, "is required ('package.module:ClassName')")
        path = r.table["strategy_path"]
        spec = StrategySpec(
            name=r.get("name", str, path.rpartition(":")[2]),
            strategy_path=path,
            config_path=r.table["config_path"],
            config=dict(r.get("config", Mapping, {})),
            origin=str(r.source),
        )
    if spec.instrument_id is not None:
        _check_instrument_id(r, "config.instrument_id", spec.instrument_id, venue)
    validate_strategy(spec, r)
    return spec


def _strategy_from_backtest(r: _Reader) -> StrategySpec:
    """Take one strategy from an ``amm backtest`` config (or a run's ``config.resolved.toml``).

    The strategy config is resolved by ``backtests.config`` exactly as the backtest ran it
    (``instrument_id`` and ``book_type`` filled in from its ``[run]`` / ``[venue]``); a ``config``
    table here overrides single fields on top (e.g. ``flatten_on_stop``).
    """
    text = r.get("from_backtest", str, "")
    path = Path(text)
    if not path.is_absolute() and not path.exists():
        beside = Path(r.source).parent / path
        path = beside if beside.exists() else path
    if not path.exists():
        raise r.error("from_backtest", f"{text}: file not found (relative paths: to this file or the current directory)")
    from backtests.config import load_run_config

    try:
        run = load_run_config(path)
    except ValueError as e:
        raise r.error("from_backtest", str(e).splitlines()[0]) from None
    names = [s.name for s in run.strategies]
    wanted = r.get("name", str, None)
    if wanted is None:
        if len(names) != 1:
            raise r.error("name", f"{path} holds {len(names)} strategies; pick one of {', '.join(names)}")
        wanted = names[0]
    if wanted not in names:
        raise r.error("name", f"no strategy {wanted!r} in {path}; it has {', '.join(names)}")
    chosen = next(s for s in run.strategies if s.name == wanted)
    return StrategySpec(
        name=wanted,
        strategy_path=chosen.strategy_path,
        config_path=chosen.config_path,
        config={**dict(chosen.config), **dict(r.get("config", Mapping, {}))},
        origin=f"{os.path.normpath(path)}#{wanted}",
    )


def validate_strategy(spec: StrategySpec, r: _Reader) -> None:
    """Import the strategy and parse its config exactly as ``StrategyFactory`` will."""
    import msgspec
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.trading.strategy import Strategy

    strategy_cls = _resolve_import(r, "strategy_path", spec.strategy_path)
    config_cls = _resolve_import(r, "config_path", spec.config_path)
    if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, Strategy)):
        raise r.error("strategy_path", f"{spec.strategy_path!r} is not a nautilus_trader Strategy")
    if not (isinstance(config_cls, type) and issubclass(config_cls, StrategyConfig)):
        raise r.error("config_path", f"{spec.config_path!r} is not a StrategyConfig")
    try:
        config_cls.parse(msgspec.json.encode(spec.config))
    except (msgspec.ValidationError, TypeError, ValueError) as e:
        text = str(e)
        m = re.search(r"at `\$\.([^`]+)`", text) or re.search(r"missing required field `([^`]+)`", text)
        where = f"config.{m.group(1)}" if m else "config"
        raise r.error(where, text.split(" - at ")[0]) from None


def load_config(path: Path | str) -> LiveConfig:
    """Read and validate a live deployment file.

    Raises
    ------
    ConfigError
        On the first problem, naming the file and the dotted field.
    """
    source = Path(path)
    raw = read_raw(source)
    literals = find_credential_literals(raw)
    if literals:
        raise ConfigError(
            source,
            literals[0],
            "holds a credential; API keys are read only from environment variables or a mounted "
            f"secret ({SECRETS_PATH_ENV} / node.secrets_path), never from config files",
        )
    top = _Reader(source, raw, "")
    top.check_known({"node", "venue", "execution", "risk", "kill_switch", "replay", "strategies"})
    node = _parse_node(top.sub("node"))
    if "venue" not in raw:
        raise ConfigError(source, "venue", "is required ([venue] adapter = binance | bybit | replay)")
    venue = _parse_venue(top.sub("venue"))
    execution = _parse_execution(top.sub("execution"))
    if venue.adapter == "replay" and execution.mode != "sandbox":
        raise ConfigError(source, "execution.mode", "a replay can only trade on the sandbox (mode = \"sandbox\")")
    risk = _parse_risk(top.sub("risk"))
    for iid in risk.max_notional_per_order:
        _check_instrument_id(top.sub("risk"), f"max_notional_per_order.{iid}", iid, venue.name)
    raw_strategies = raw.get("strategies")
    if not isinstance(raw_strategies, list) or not raw_strategies:
        raise ConfigError(source, "strategies", "needs at least one [[strategies]] table")
    strategies = tuple(
        _parse_strategy(_Reader(source, s, f"strategies[{i}]"), venue.name) for i, s in enumerate(raw_strategies)
    )
    return LiveConfig(
        source=source,
        node=node,
        venue=venue,
        execution=execution,
        risk=risk,
        kill_switch=_parse_kill_switch(top.sub("kill_switch")),
        replay=_parse_replay(top.sub("replay")),
        strategies=strategies,
    )
