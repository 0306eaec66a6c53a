"""The live deployment file: one TOML (or YAML) file per venue account, read into frozen settings.

The strategies section is the same ``ImportableStrategyConfig`` shape the backtests use
(``strategy_path`` / ``config_path`` / ``config``), so a strategy validated in a backtest is
deployed with its config unchanged; everything else (venue, execution, risk, kill switch,
persistence) is what only a live node needs. ``live/configs/*.toml`` are annotated examples.

Every section is a frozen msgspec struct decoded by :mod:`catalog.config_io` (unknown fields
refused, ``Literal`` choices, constrained numbers); the strategy configs are decoded into their own
classes as ``StrategyFactory`` will. Validation happens here, before anything is built, and every
error is one line naming the file and the field (``strategies[0].config.spread_ticks``).

A credential literal anywhere in the file (a field named like ``api_key`` / ``secret`` /
``password``, or a value that looks like an exchange key) is an error: keys come only from the
environment or a mounted secret (:mod:`live.secrets`). The message names the field, never the
value.

``strategy_path`` / ``config_path`` (and a policy strategy's ``policy_loader``) must name the
project's registered code (:mod:`catalog.importables`) or a module the operator listed in
``AMM_ALLOW_IMPORTS``; anything else is refused here, before it is imported.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from nautilus_trader.config import NonNegativeFloat, PositiveFloat, PositiveInt

from backtests.venue import VenueModelConfig
from catalog.config_io import ConfigError, FieldError, decode, read_mapping, validate_constraints
from catalog.importables import ImportRefused, check_importable
from live.secrets import SECRETS_PATH_ENV, find_credential_literals

ENVIRONMENTS = {"binance": ("production", "testnet"), "bybit": ("production", "testnet", "demo"), "replay": ("offline",)}
ACCOUNT_TYPES = {
    "binance": ("SPOT", "USDT_FUTURES", "COIN_FUTURES"),
    "bybit": ("SPOT", "LINEAR", "INVERSE"),
    "replay": ("SANDBOX",),
}
VENUE_NAMES = {"binance": "BINANCE", "bybit": "BYBIT"}
PERSIST_TYPES = ("quotes", "trades", "deltas")
_RATE = re.compile(r"^\d+/\d{2}:\d{2}:\d{2}$")

Adapter = Literal["binance", "bybit", "replay"]
PersistType = Literal["quotes", "trades", "deltas"]
TraderId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_]+-[A-Za-z0-9_]+$")]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A table of the file: frozen, unknown fields refused, checked the same built in Python."""

    def __post_init__(self) -> None:
        validate_constraints(self)


class NodeSettings(_Section, frozen=True):
    """Node-wide settings.

    Parameters
    ----------
    trader_id : str
        ``NAME-TAG`` trader id; order ids carry it, so keep it stable across restarts.
    log_level : {"DEBUG", "INFO", "WARNING", "ERROR"}
        Console log level.
    log_file : str or None
        Append the (secret-redacted) console output here as well.
    catalog_path : str or None
        ``ParquetDataCatalog`` that receives the market data seen live (``None``: not persisted).
    persist_types : tuple of {"quotes", "trades", "deltas"}
        Which data to persist.
    flush_interval_ms : PositiveInt
        How often the stream writer flushes to disk.
    secrets_path : str or None
        A mounted secret (directory of ``NAME`` files or a ``NAME=value`` file); ``$AMM_SECRETS_PATH``
        is used when unset.
    health_file : str or None
        Heartbeat file for container probes (``None``: no heartbeat).
    heartbeat_secs : PositiveFloat
        How often the heartbeat file is rewritten.
    timeout_connection_secs, timeout_reconciliation_secs, timeout_portfolio_secs, timeout_disconnection_secs : PositiveFloat
        Start-up and shutdown timeouts passed to the Nautilus kernel.
    """

    trader_id: TraderId = "AMM-001"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: str | None = None
    catalog_path: str | None = None
    persist_types: tuple[PersistType, ...] = PERSIST_TYPES
    flush_interval_ms: PositiveInt = 1_000
    secrets_path: str | None = None
    health_file: str | None = None
    heartbeat_secs: PositiveFloat = 5.0
    timeout_connection_secs: PositiveFloat = 60.0
    timeout_reconciliation_secs: PositiveFloat = 30.0
    timeout_portfolio_secs: PositiveFloat = 10.0
    timeout_disconnection_secs: PositiveFloat = 10.0


class VenueSettings(_Section, frozen=True):
    """Which venue account the node trades (or replays).

    Parameters
    ----------
    adapter : {"binance", "bybit", "replay"}
        The exchange adapter, or ``replay`` (a catalog streamed by :mod:`live.replay`). Required.
    account_type : str, optional
        Binance: ``SPOT`` (default), ``USDT_FUTURES``, ``COIN_FUTURES``; Bybit: ``SPOT`` (default),
        ``LINEAR``, ``INVERSE``; replay: ``SANDBOX``.
    environment : str, optional
        ``production`` (default) or ``testnet`` (Bybit also ``demo``); replay: ``offline``.
    instrument_ids : tuple of str
        Instruments to load besides those the strategies trade.
    name : str, optional
        The venue name: ``BINANCE`` / ``BYBIT`` by adapter; replay: the catalog's venue
        (default ``BINANCE``).
    """

    adapter: Adapter
    account_type: str | None = None
    environment: str | None = None
    instrument_ids: tuple[str, ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for field, allowed in (("account_type", ACCOUNT_TYPES[self.adapter]), ("environment", ENVIRONMENTS[self.adapter])):
            value = getattr(self, field)
            if value is None:
                msgspec.structs.force_setattr(self, field, allowed[0])
            elif value not in allowed:
                raise FieldError("VenueSettings", field, f"must be one of {', '.join(allowed)}; got {value!r}")
        expected = VENUE_NAMES.get(self.adapter)
        if expected is None:
            msgspec.structs.force_setattr(self, "name", (self.name or "BINANCE").upper())
        elif self.name is not None and self.name.upper() != expected:
            raise FieldError("VenueSettings", "name", f"the {self.adapter} adapter's venue is {expected}")
        else:
            msgspec.structs.force_setattr(self, "name", expected)
        for i, iid in enumerate(self.instrument_ids):
            _check_instrument_id("VenueSettings", f"instrument_ids[{i}]", iid, self.name)


def _check_instrument_id(owner: str, field: str, iid: str, venue: str) -> None:
    symbol, dot, iid_venue = iid.rpartition(".")
    if not dot or not symbol:
        raise FieldError(owner, field, f"{iid!r} is not an instrument id (SYMBOL.VENUE)")
    if iid_venue != venue:
        raise FieldError(owner, field, f"{iid!r} is not on venue {venue} (this file's [venue])")


class SandboxSettings(_Section, frozen=True):
    """The paper exchange used when ``execution.mode = sandbox``.

    A ``SimulatedExchange`` fed by the node's market data (:mod:`live.sandbox`, Nautilus' sandbox
    client with the backtests' matching rules): queue position and trade execution on,
    liquidity consumption on for L2/L3 books (``None`` = by book type, as in
    ``backtests.venue.VenueModelConfig``, which checks these rules), the instrument's maker/taker
    fees and zero latency.
    """

    starting_balances: tuple[str, ...] = ("10000 USDT",)
    account_type: Literal["MARGIN", "CASH"] = "MARGIN"
    oms_type: Literal["NETTING", "HEDGING"] = "NETTING"
    book_type: Literal["L1_MBP", "L2_MBP", "L3_MBO"] = "L1_MBP"
    default_leverage: Decimal = Decimal(1)
    trade_execution: bool = True
    queue_position: bool = True
    liquidity_consumption: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.starting_balances:
            raise FieldError("SandboxSettings", "starting_balances", 'needs at least one balance, e.g. "10000 USDT"')
        for i, b in enumerate(self.starting_balances):
            amount, _, ccy = b.partition(" ")
            try:
                ok = Decimal(amount) > 0 and ccy.isalnum()
            except InvalidOperation:
                ok = False
            if not ok:
                raise FieldError("SandboxSettings", f"starting_balances[{i}]", f'expected "AMOUNT CURRENCY" (e.g. "10000 USDT"), got {b!r}')
        if not Decimal(self.default_leverage) > 0:
            raise FieldError("SandboxSettings", "default_leverage", f"must be > 0, got {self.default_leverage}")
        try:  # the one place the matching rules are checked
            VenueModelConfig(
                book_type=self.book_type, trade_execution=self.trade_execution,
                queue_position=self.queue_position, liquidity_consumption=self.liquidity_consumption,
            )
        except FieldError as e:
            raise FieldError("SandboxSettings", e.field, e.message) from None


class ExecutionSettings(_Section, frozen=True):
    """Where orders go, and how the node reconciles with the venue on start.

    Parameters
    ----------
    mode : {"venue", "sandbox"}
        ``venue`` (orders go to the exchange account) or ``sandbox`` (paper trading on a local
        simulated exchange fed by the live data).
    reconciliation : bool
        Reconcile open orders, fills and positions with the venue at start-up, so a restart picks
        up the real book instead of assuming it is flat.
    reconciliation_lookback_mins : PositiveInt or None
        How far back to reconcile (``None``: as far as the venue allows).
    open_check_interval_secs : NonNegativeFloat or None
        Poll the venue's open orders this often and reconcile differences; 0 (read as None) or
        None switches it off.
    inflight_check_threshold_ms : PositiveInt
        Query an order's status when no venue answer arrived within this time.
    claim_external_orders : bool
        Give each strategy the venue orders on its instrument found at start-up (e.g. left by a
        previous run), so its kill switch and inventory logic see them.
    sandbox : SandboxSettings
        The paper exchange (``mode = sandbox`` only).
    """

    mode: Literal["venue", "sandbox"] = "venue"
    reconciliation: bool = True
    reconciliation_lookback_mins: PositiveInt | None = None
    open_check_interval_secs: NonNegativeFloat | None = 10.0
    inflight_check_threshold_ms: PositiveInt = 5_000
    claim_external_orders: bool = True
    sandbox: SandboxSettings = msgspec.field(default_factory=SandboxSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.open_check_interval_secs == 0:
            msgspec.structs.force_setattr(self, "open_check_interval_secs", None)


class RiskSettings(_Section, frozen=True):
    """Pre-trade limits of Nautilus' risk engine (every order passes through it).

    Parameters
    ----------
    max_order_submit_rate, max_order_modify_rate : str
        ``"N/HH:MM:SS"``: at most N submits (modifies) per interval; excess is throttled.
    max_notional_per_order : dict of str to PositiveInt
        Instrument id -> largest notional (quote currency) one order may have; larger are denied.
    bypass : bool
        Only ``false``: the risk engine cannot be bypassed on a live node (the field exists so
        that ``bypass = true`` is refused by name rather than as an unknown field).
    """

    max_order_submit_rate: str = "20/00:00:01"
    max_order_modify_rate: str = "20/00:00:01"
    max_notional_per_order: dict[str, PositiveInt] = {}
    bypass: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bypass:
            raise FieldError("RiskSettings", "bypass", "the risk engine cannot be bypassed on a live node")
        for name in ("max_order_submit_rate", "max_order_modify_rate"):
            value = getattr(self, name)
            if not _RATE.match(value) or int(value.split("/")[0]) <= 0:
                raise FieldError("RiskSettings", name, f'expected "N/HH:MM:SS" with N > 0 (e.g. "20/00:00:01"), got {value!r}')


class KillSwitchSettings(_Section, frozen=True):
    """What SIGINT / SIGTERM (or the end of a replay) does before the node stops.

    Parameters
    ----------
    flatten_on_stop : bool
        Also close every open position with market orders after canceling the open orders.
    cancel_timeout_secs : PositiveFloat
        How long to wait for the venue to confirm the cancels (and closes) before stopping anyway.
    """

    flatten_on_stop: bool = False
    cancel_timeout_secs: PositiveFloat = 10.0


class ReplaySettings(_Section, frozen=True):
    """Offline replay of a catalog (``venue.adapter = replay`` or ``amm live --replay``).

    ``start``/``end`` are ISO-8601 text (a TOML datetime is read as such) or UNIX ns; ``speed`` is
    a multiple of real time, 0 = as fast as the event loop allows.
    """

    catalog_path: str | None = None
    start: str | int | None = None
    end: str | int | None = None
    speed: NonNegativeFloat = 1.0
    data_types: tuple[PersistType, ...] | None = None


class ConsoleSettings(_Section, frozen=True):
    """The operator console (:mod:`live.console`): a local web page to watch and stop the node.

    Parameters
    ----------
    enabled : bool
        Serve it (off by default; ``amm live --console`` turns it on).
    host : {"127.0.0.1", "::1", "localhost"}
        Loopback only: the console can kill the node, so it is never exposed on a network
        interface. Reach it remotely through an SSH tunnel or ``kubectl port-forward``.
    port : int
        TCP port (0 = any free port, printed at start).
    token_env : str
        Environment variable holding the access token (at least 16 characters). When it is unset
        a random token is generated and printed once, with the console's address, on stderr.
    sample_secs : PositiveFloat
        How often the equity and inventory curves are sampled.
    history_points : PositiveInt
        How many samples each curve keeps (the oldest are dropped).
    """

    enabled: bool = False
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8780
    token_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "AMM_CONSOLE_TOKEN"
    sample_secs: PositiveFloat = 1.0
    history_points: PositiveInt = 3600


class StrategyTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[strategies]]`` entry: an ``ImportableStrategyConfig``, or ``from_backtest`` = a
    backtest config (or a run's ``config.resolved.toml``) to take the strategy ``name`` from."""

    name: str | None = None
    strategy_path: str | None = None
    config_path: str | None = None
    config: dict[str, Any] = {}
    from_backtest: str | None = None

    def __post_init__(self) -> None:
        for name in ("strategy_path", "config_path"):  # text only: refused before any import
            value = getattr(self, name)
            if value is not None:
                try:
                    check_importable(value, name)
                except ImportRefused as e:
                    raise FieldError("StrategyTable", name, str(e)) from None


class LiveFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The tables of a deployment file, as decoded (strategies not yet resolved)."""

    venue: VenueSettings
    strategies: Annotated[list[StrategyTable], msgspec.Meta(min_length=1)]
    node: NodeSettings = msgspec.field(default_factory=NodeSettings)
    execution: ExecutionSettings = msgspec.field(default_factory=ExecutionSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    kill_switch: KillSwitchSettings = msgspec.field(default_factory=KillSwitchSettings)
    replay: ReplaySettings = msgspec.field(default_factory=ReplaySettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)

    def __post_init__(self) -> None:
        if self.venue.adapter == "replay" and self.execution.mode != "sandbox":
            raise FieldError("LiveFile", "execution.mode", 'a replay can only trade on the sandbox (mode = "sandbox")')
        for iid in self.risk.max_notional_per_order:
            _check_instrument_id("LiveFile", f"risk.max_notional_per_order.{iid}", iid, self.venue.name)


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
    """A whole live deployment file, its strategies resolved and validated."""

    source: Path
    node: NodeSettings
    venue: VenueSettings
    execution: ExecutionSettings
    risk: RiskSettings
    kill_switch: KillSwitchSettings
    replay: ReplaySettings
    strategies: tuple[StrategySpec, ...]
    console: ConsoleSettings = ConsoleSettings()

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        """Every instrument the node needs: configured ones plus the strategies' own."""
        ids = list(self.venue.instrument_ids)
        for s in self.strategies:
            if s.instrument_id and s.instrument_id not in ids:
                ids.append(s.instrument_id)
        return tuple(ids)

    def with_console(self, *, enabled: bool = True, port: int | None = None) -> LiveConfig:
        """Return this deployment with the operator console switched on (``port`` None: the file's)."""
        console = msgspec.structs.replace(self.console, enabled=enabled)
        if port is not None:
            console = msgspec.structs.replace(console, port=port)
        return replace(self, console=console)

    def with_replay(self, replay: ReplaySettings) -> LiveConfig:
        """Return this deployment re-pointed at an offline replay on a sandbox exchange.

        Strategies, risk limits, kill switch and sandbox settings are kept; the venue becomes the
        replay client for the same venue name, orders go to the sandbox, and live-data
        persistence is switched off (the data is already in a catalog).
        """
        return replace(
            self,
            venue=msgspec.structs.replace(self.venue, adapter="replay", account_type="SANDBOX", environment="offline"),
            execution=msgspec.structs.replace(self.execution, mode="sandbox"),
            node=msgspec.structs.replace(self.node, catalog_path=None),
            replay=replay,
        )


# -- strategies ------------------------------------------------------------------------------------


def _resolve_import(source: Path, field: str, path: str) -> Any:
    module, colon, attr = path.partition(":")
    if not colon or not module or not attr:
        raise ConfigError(source, field, f"expected 'package.module:ClassName', got {path!r}")
    try:
        check_importable(path, field.rpartition(".")[2])
    except ImportRefused as e:
        raise ConfigError(source, field, str(e)) from None
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as e:
        raise ConfigError(source, field, f"cannot import {path!r}: module {e.name!r} not found") from None
    except AttributeError:
        raise ConfigError(source, field, f"cannot import {path!r}: {module} has no {attr!r}") from None


def _parse_strategy(table: StrategyTable, source: Path, where: str, venue: str) -> StrategySpec:
    if table.from_backtest is not None:
        spec = _strategy_from_backtest(table, source, where)
    else:
        for name in ("strategy_path", "config_path"):
            if getattr(table, name) is None:
                raise ConfigError(source, f"{where}.{name}", "is required ('package.module:ClassName')")
        spec = StrategySpec(
            name=table.name or table.strategy_path.rpartition(":")[2],
            strategy_path=table.strategy_path,
            config_path=table.config_path,
            config=dict(table.config),
            origin=str(source),
        )
    if spec.instrument_id is not None:
        try:
            _check_instrument_id("StrategySpec", "config.instrument_id", spec.instrument_id, venue)
        except FieldError as e:
            raise ConfigError(source, f"{where}.{e.field}", e.message) from None
    validate_strategy(spec, source, where)
    return spec


def _strategy_from_backtest(table: StrategyTable, source: Path, where: str) -> StrategySpec:
    """Take one strategy from an ``amm backtest`` config (or a run's ``config.resolved.toml``).

    The strategy config is resolved by ``backtests.config`` exactly as the backtest ran it
    (``instrument_id`` and ``book_type`` filled in from its ``[run]`` / ``[venue]``); a ``config``
    table here overrides single fields on top (e.g. ``flatten_on_stop``).
    """
    from backtests.config import load_run_config

    text = table.from_backtest or ""
    path = Path(text)
    if not path.is_absolute() and not path.exists():
        beside = source.parent / path
        path = beside if beside.exists() else path
    if not path.exists():
        raise ConfigError(source, f"{where}.from_backtest", f"{text}: file not found (relative paths: to this file or the current directory)")
    try:
        run = load_run_config(path)
    except ValueError as e:
        raise ConfigError(source, f"{where}.from_backtest", str(e)) from None
    names = [s.name for s in run.strategies]
    wanted = table.name
    if wanted is None:
        if len(names) != 1:
            raise ConfigError(source, f"{where}.name", f"{path} holds {len(names)} strategies; pick one of {', '.join(names)}")
        wanted = names[0]
    if wanted not in names:
        raise ConfigError(source, f"{where}.name", f"no strategy {wanted!r} in {path}; it has {', '.join(names)}")
    chosen = next(s for s in run.strategies if s.name == wanted)
    return StrategySpec(
        name=wanted,
        strategy_path=chosen.strategy_path,
        config_path=chosen.config_path,
        config={**dict(chosen.config), **table.config},
        origin=f"{os.path.normpath(path)}#{wanted}",
    )


def validate_strategy(spec: StrategySpec, source: Path, where: str) -> None:
    """Import the strategy and decode its config into its class, as ``StrategyFactory`` will."""
    from nautilus_trader.trading.strategy import Strategy

    from backtests.config import check_strategy_config, strategy_config_class

    strategy_cls = _resolve_import(source, f"{where}.strategy_path", spec.strategy_path)
    if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, Strategy)):
        raise ConfigError(source, f"{where}.strategy_path", f"{spec.strategy_path!r} is not a nautilus_trader Strategy")
    _resolve_import(source, f"{where}.config_path", spec.config_path)  # names a missing module or class
    config_cls = strategy_config_class(spec.config_path, source=source, where=f"{where}.config_path")
    check_strategy_config(config_cls, spec.config, source=source, where=f"{where}.config")


# -- the file --------------------------------------------------------------------------------------


def load_config(path: Path | str) -> LiveConfig:
    """Read and validate a live deployment file.

    Raises
    ------
    ConfigError
        On the first problem, one line naming the file and the dotted field.
    """
    source = Path(path)
    raw = read_mapping(source)
    literals = find_credential_literals(raw)
    if literals:
        raise ConfigError(
            source,
            literals[0],
            "holds a credential; API keys are read only from environment variables or a mounted "
            f"secret ({SECRETS_PATH_ENV} / node.secrets_path), never from config files",
        )
    f = decode(raw, LiveFile, source=source)
    strategies = tuple(
        _parse_strategy(s, source, f"strategies[{i}]", f.venue.name) for i, s in enumerate(f.strategies)
    )
    return LiveConfig(
        source=source,
        node=f.node,
        venue=f.venue,
        execution=f.execution,
        risk=f.risk,
        kill_switch=f.kill_switch,
        replay=f.replay,
        strategies=strategies,
        console=f.console,
    )


__all__ = [
    "ConfigError",
    "ConsoleSettings",
    "ExecutionSettings",
    "KillSwitchSettings",
    "LiveConfig",
    "NodeSettings",
    "ReplaySettings",
    "RiskSettings",
    "SandboxSettings",
    "StrategySpec",
    "VenueSettings",
    "load_config",
]
