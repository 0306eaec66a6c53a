"""Build and run a Nautilus ``TradingNode`` from a :class:`live.config.LiveConfig`.

Reads top to bottom like Nautilus' own live examples: node config (engines, risk limits,
reconciliation, streaming persistence) -> venue data and execution clients -> strategies (the same
``ImportableStrategyConfig`` a backtest uses) -> run -> report. Three setups come out of one file:

============  ==========================================  ========================================
mode          market data                                 orders
============  ==========================================  ========================================
``venue``     the venue (Binance / Bybit, testnet or      the venue account (keys from the
              production)                                 environment or a mounted secret)
``paper``     the venue's live feed                       Nautilus' sandbox exchange, in process
``replay``    a Parquet catalog streamed at X times       the sandbox exchange
              real speed (:mod:`live.replay`)
============  ==========================================  ========================================

Operator kill switch
    :class:`AmmTradingNode` replaces the kernel's signal callback. On SIGINT / SIGTERM (or the end
    of a replay) it stops the strategies first, so none of them can re-quote, then cancels every
    open order of every strategy, optionally flattens their positions, waits until the venue has
    confirmed (``kill_switch.cancel_timeout_secs``), and only then stops the node. A restart
    reconciles open orders, fills and positions with the venue (``LiveExecEngineConfig(
    reconciliation=True)``), and each strategy claims the venue orders on its instrument
    (``external_order_claims``), so the book is taken as it is, not assumed flat.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nautilus_trader.config import (
    ImportableActorConfig,
    ImportableStrategyConfig,
    InstrumentProviderConfig,
    LiveDataClientConfig,
    LiveDataEngineConfig,
    LiveExecClientConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    StreamingConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.factories import LiveDataClientFactory, LiveExecClientFactory
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from catalog.config_io import to_builtins
from live.config import ConfigError, KillSwitchSettings, LiveConfig
from live.replay import REPLAY_FINISHED_TOPIC, ReplayDataClientConfig, ReplayLiveDataClientFactory, ReplaySummary
from live.secrets import CredentialSpec, credential_spec

if TYPE_CHECKING:
    from live.console import OperatorConsole

_STREAM_TYPES = {"quotes": [QuoteTick], "trades": [TradeTick], "deltas": [OrderBookDelta, OrderBookDeltas]}


def run_mode(cfg: LiveConfig) -> str:
    """``venue``, ``paper`` (live data, sandbox orders) or ``replay``."""
    if cfg.venue.adapter == "replay":
        return "replay"
    return "paper" if cfg.execution.mode == "sandbox" else "venue"


def credential_specs(cfg: LiveConfig) -> list[CredentialSpec]:
    """The credentials the node's clients read (the venue data feed needs them too, even on paper)."""
    if cfg.venue.adapter == "replay":
        return []
    return [credential_spec(cfg.venue.adapter, cfg.venue.account_type, cfg.venue.environment)]


def health_file_path(cfg: LiveConfig) -> str | None:
    """The heartbeat file: ``node.health_file``, else ``$AMM_HEALTH_FILE`` (set in the Docker image)."""
    from live.health import HEALTH_FILE_ENV

    return cfg.node.health_file or os.environ.get(HEALTH_FILE_ENV) or None


# -- clients -----------------------------------------------------------------------------------------


def _venue_settings(cfg: LiveConfig) -> dict[str, Any]:
    """What the venue adapter's data and execution client configs share.

    The account (Binance) or product (Bybit) type, ``production`` / ``testnet`` / ``demo`` as the
    1.231 adapter's environment enum, and the configured instruments to load at start.
    """
    provider = InstrumentProviderConfig(load_ids=frozenset(InstrumentId.from_str(i) for i in cfg.instrument_ids))
    env = cfg.venue.environment
    if cfg.venue.adapter == "binance":
        from nautilus_trader.adapters.binance import BinanceAccountType
        from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment

        return dict(
            account_type=BinanceAccountType[cfg.venue.account_type],
            environment={"production": BinanceEnvironment.LIVE, "testnet": BinanceEnvironment.TESTNET,
                         "demo": BinanceEnvironment.DEMO}[env],
            instrument_provider=provider,
        )
    from nautilus_trader.adapters.bybit import BybitEnvironment, BybitProductType

    return dict(
        product_types=(getattr(BybitProductType, cfg.venue.account_type.upper()),),
        environment={"production": BybitEnvironment.MAINNET, "testnet": BybitEnvironment.TESTNET,
                     "demo": BybitEnvironment.DEMO}[env],
        instrument_provider=provider,
    )


def data_client(cfg: LiveConfig) -> tuple[str, LiveDataClientConfig, type[LiveDataClientFactory]]:
    """Return ``(name, config, factory)`` of the node's market-data client."""
    name = cfg.venue.name
    if cfg.venue.adapter == "replay":
        r = cfg.replay
        if not r.catalog_path:
            raise ConfigError(cfg.source, "replay.catalog_path", "is required for a replay (or pass --replay CATALOG)")
        _check_replay_instruments(r.catalog_path, cfg.instrument_ids)
        return name, ReplayDataClientConfig(
            catalog_path=r.catalog_path,
            venue=name,
            instrument_ids=list(cfg.instrument_ids) or None,
            start=r.start,
            end=r.end,
            speed=r.speed,
            data_types=list(r.data_types or _replay_types(cfg.execution.sandbox.book_type)),
            book_type=cfg.execution.sandbox.book_type,
        ), ReplayLiveDataClientFactory
    if cfg.venue.adapter == "binance":
        from nautilus_trader.adapters.binance import BinanceDataClientConfig, BinanceLiveDataClientFactory

        return name, BinanceDataClientConfig(**_venue_settings(cfg)), BinanceLiveDataClientFactory
    from nautilus_trader.adapters.bybit import BybitDataClientConfig, BybitLiveDataClientFactory

    return name, BybitDataClientConfig(**_venue_settings(cfg)), BybitLiveDataClientFactory


def _check_replay_instruments(catalog_path: str, instrument_ids: tuple[str, ...]) -> None:
    """Refuse a replay whose catalog lacks an instrument the node trades, before the node starts
    (inside the running node the data client's error was only logged, and the strategies waited
    for data that never came)."""
    from catalog.window import open_catalog

    held = sorted(str(i.id) for i in open_catalog(catalog_path).instruments())
    missing = [i for i in instrument_ids if i not in held]
    if missing:
        raise ValueError(f"{catalog_path}: the replay catalog has no {', '.join(missing)} "
                         f"(it holds: {', '.join(held) or 'no instruments'}); ingest it, or --replay the catalog that has it")


def _replay_types(book_type: str) -> tuple[str, ...]:
    """What a replay streams by default: what the sandbox's book type matches on (as a backtest).

    L1 quotes and trades; for L2/L3 the deltas and trades, plus quotes when the catalog has them
    (strategies may subscribe to them). An L1 book fed deltas would not be an L1 book.
    """
    return ("quotes", "trades") if book_type == "L1_MBP" else ("deltas", "trades", "quotes")


def exec_client(cfg: LiveConfig) -> tuple[str, LiveExecClientConfig, type[LiveExecClientFactory]]:
    """Return ``(name, config, factory)`` of the node's execution client."""
    name = cfg.venue.name
    if cfg.execution.mode == "sandbox":
        from live.sandbox import QueueAwareSandboxConfig, SandboxLiveExecClientFactory

        from backtests.venue import VenueModelConfig

        sb = cfg.execution.sandbox
        # resolved and checked where every venue's matching rules are (liquidity consumption
        # None = by book type, also for a SandboxSettings built in code rather than parsed)
        rules = VenueModelConfig(
            book_type=sb.book_type, trade_execution=sb.trade_execution,
            queue_position=sb.queue_position, liquidity_consumption=sb.liquidity_consumption,
        ).matching_rules()
        return name, QueueAwareSandboxConfig(
            venue=name,
            starting_balances=list(sb.starting_balances),
            oms_type=sb.oms_type,
            account_type=sb.account_type,
            book_type=sb.book_type,
            default_leverage=sb.default_leverage,
            trade_execution=rules["trade_execution"],
            queue_position=rules["queue_position"],
            liquidity_consumption=rules["liquidity_consumption"],
        ), SandboxLiveExecClientFactory
    retries = dict(max_retries=3, retry_delay_initial_ms=1_000, retry_delay_max_ms=10_000)
    if cfg.venue.adapter == "binance":
        from nautilus_trader.adapters.binance import BinanceExecClientConfig, BinanceLiveExecClientFactory

        return name, BinanceExecClientConfig(**_venue_settings(cfg), **retries), BinanceLiveExecClientFactory
    from nautilus_trader.adapters.bybit import BybitExecClientConfig, BybitLiveExecClientFactory

    return name, BybitExecClientConfig(**_venue_settings(cfg), **retries), BybitLiveExecClientFactory


def strategy_configs(cfg: LiveConfig) -> list[ImportableStrategyConfig]:
    """The strategies exactly as configured, plus (opt-out) claims on venue orders found at start."""
    out = []
    for spec in cfg.strategies:
        config = dict(spec.config)
        if cfg.execution.claim_external_orders and spec.instrument_id and "external_order_claims" not in config:
            config["external_order_claims"] = [spec.instrument_id]
        out.append(ImportableStrategyConfig(strategy_path=spec.strategy_path, config_path=spec.config_path, config=config))
    return out


def node_config(
    cfg: LiveConfig,
    *,
    log_level: str | None = None,
    colors: bool = False,
    dry_run: bool = False,
) -> TradingNodeConfig:
    """Translate a :class:`LiveConfig` into Nautilus' ``TradingNodeConfig`` (no credentials in it).

    ``dry_run`` leaves out what writes files on construction (the stream writer and the heartbeat).
    """
    n, ex, rk = cfg.node, cfg.execution, cfg.risk
    data_name, data_cfg, _ = data_client(cfg)
    exec_name, exec_cfg, _ = exec_client(cfg)
    sandbox = ex.mode == "sandbox"
    streaming = None
    if n.catalog_path and not dry_run:
        types = [cls for name in n.persist_types for cls in _STREAM_TYPES[name]]
        streaming = StreamingConfig(catalog_path=n.catalog_path, include_types=types, flush_interval_ms=n.flush_interval_ms)
    actors = []
    health_file = health_file_path(cfg)
    if health_file and not dry_run:
        actors.append(ImportableActorConfig(
            actor_path="live.heartbeat:HeartbeatActor",
            config_path="live.heartbeat:HeartbeatActorConfig",
            config={"path": health_file, "interval_secs": n.heartbeat_secs},
        ))
    return TradingNodeConfig(
        trader_id=n.trader_id,
        logging=LoggingConfig(log_level=log_level or n.log_level, log_colors=colors),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=LiveRiskEngineConfig(
            max_order_submit_rate=rk.max_order_submit_rate,
            max_order_modify_rate=rk.max_order_modify_rate,
            max_notional_per_order=dict(rk.max_notional_per_order),
            graceful_shutdown_on_exception=True,
        ),
        exec_engine=LiveExecEngineConfig(
            reconciliation=ex.reconciliation,
            reconciliation_lookback_mins=ex.reconciliation_lookback_mins,
            # The sandbox reports no venue state, so periodic checks would "resolve" live orders.
            open_check_interval_secs=None if sandbox else ex.open_check_interval_secs,
            inflight_check_threshold_ms=ex.inflight_check_threshold_ms,
            inflight_check_interval_ms=min(2_000, ex.inflight_check_threshold_ms),
            graceful_shutdown_on_exception=True,
        ),
        streaming=streaming,
        data_clients={data_name: data_cfg},
        exec_clients={exec_name: exec_cfg},
        strategies=strategy_configs(cfg),
        actors=actors,
        timeout_connection=n.timeout_connection_secs,
        timeout_reconciliation=n.timeout_reconciliation_secs,
        timeout_portfolio=n.timeout_portfolio_secs,
        timeout_disconnection=n.timeout_disconnection_secs,
        timeout_post_stop=1.0,
    )


# -- the node ----------------------------------------------------------------------------------------


class AmmTradingNode(TradingNode):
    """A ``TradingNode`` whose signal handler is the operator kill switch (see module docstring).

    Parameters
    ----------
    config : TradingNodeConfig
        The node configuration.
    kill_switch : KillSwitchSettings
        Flatten or not, and how long to wait for cancel confirmations.
    loop : asyncio.AbstractEventLoop, optional
        The event loop. By default a new one, set as the thread's current loop: a node closes
        its loop on dispose, and ``asyncio.get_event_loop()`` would hand the next node that
        closed loop.
    health_file : str, optional
        The heartbeat file (:mod:`live.heartbeat`): rewritten ``STOPPED`` with the final open
        orders and positions once the kill switch has finished.

    """

    def __init__(
        self,
        config: TradingNodeConfig,
        kill_switch: KillSwitchSettings,
        loop: asyncio.AbstractEventLoop | None = None,
        health_file: str | None = None,
    ) -> None:
        self._kill_switch = kill_switch
        self._health_file = health_file
        self.shutdown_reason: str | None = None
        self.kill_switch_clean: bool | None = None
        self.replay_summary: ReplaySummary | None = None
        self._shutdown_task: asyncio.Task | None = None
        if loop is None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        super().__init__(config=config, loop=loop)
        self.kernel.msgbus.subscribe(REPLAY_FINISHED_TOPIC, self._on_replay_finished)

    def _loop_sig_handler(self, sig: Any) -> None:
        # Installed by NautilusKernel for SIGINT, SIGTERM and SIGABRT (a second signal kills).
        self.shutdown(f"received {sig.name}")

    def _on_replay_finished(self, summary: ReplaySummary) -> None:
        self.replay_summary = summary
        self.shutdown("replay finished")

    def shutdown(self, reason: str) -> None:
        """Engage the kill switch: stop strategies, cancel (and flatten), then stop the node."""
        if self.shutdown_reason is not None:
            return
        self.shutdown_reason = reason
        self.kernel.logger.warning(
            f"Kill switch ({reason}): stopping strategies, canceling all open orders"
            + (", flattening positions" if self._kill_switch.flatten_on_stop else ""),
        )
        loop = self.kernel.loop
        if loop.is_running():
            self._shutdown_task = loop.create_task(self._shutdown_async())
        else:
            loop.run_until_complete(self._shutdown_async())

    async def _shutdown_async(self) -> None:
        trader, cache = self.kernel.trader, self.kernel.cache
        if trader.is_running:
            trader.stop()  # no strategy can re-quote from here on
        deadline = time.monotonic() + self._kill_switch.cancel_timeout_secs
        # Repeat until clear: an order a strategy submitted just before it stopped is still in the
        # risk engine's queue now, and only becomes cancelable once the venue has it.
        while True:
            self._cancel_and_flatten()
            clean = self._book_clear()
            if clean or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        self.kill_switch_clean = clean
        if self._health_file:
            from live.heartbeat import write_heartbeat

            write_heartbeat(Path(self._health_file), "STOPPED", str(self.kernel.trader_id), cache,
                            reason=self.shutdown_reason, kill_switch_clean=clean)
        if clean:
            self.kernel.logger.info("Kill switch: no open orders remain")
        else:
            self.kernel.logger.error(
                f"Kill switch: {cache.orders_open_count()} open / {cache.orders_inflight_count()} in-flight orders "
                f"and {cache.positions_open_count()} positions remain after {self._kill_switch.cancel_timeout_secs:g} s",
            )
        await self.stop_async()

    def _cancel_and_flatten(self) -> None:
        """One idempotent pass: cancel what is working and not yet canceling; close what is open."""
        cache = self.kernel.cache
        for strategy in self.kernel.trader.strategies():
            for order in cache.orders_open(strategy_id=strategy.id) + cache.orders_inflight(strategy_id=strategy.id):
                if not order.is_pending_cancel:  # e.g. canceled by the strategy's own on_stop
                    strategy.cancel_order(order)
            if not self._kill_switch.flatten_on_stop:
                continue
            # A working reduce-only order is a close already on its way (the strategy's own
            # flatten, or ours from a previous pass): a second one would over-close or be rejected.
            closing = {o.instrument_id for o in cache.orders(strategy_id=strategy.id) if not o.is_closed and o.is_reduce_only}
            for iid in {p.instrument_id for p in cache.positions_open(strategy_id=strategy.id)} - closing:
                strategy.close_all_positions(iid)

    def _book_clear(self) -> bool:
        cache = self.kernel.cache
        if cache.orders_open_count() or cache.orders_inflight_count():
            return False
        return not (self._kill_switch.flatten_on_stop and cache.positions_open_count())


def build_node(
    cfg: LiveConfig,
    *,
    log_level: str | None = None,
    colors: bool = False,
    dry_run: bool = False,
) -> AmmTradingNode:
    """Construct the node, register the client factories and build the clients (nothing connects)."""
    config = node_config(cfg, log_level=log_level, colors=colors, dry_run=dry_run)
    node = AmmTradingNode(config, kill_switch=cfg.kill_switch, health_file=None if dry_run else health_file_path(cfg))
    data_name, _, data_factory = data_client(cfg)
    exec_name, _, exec_factory = exec_client(cfg)
    node.add_data_client_factory(data_name, data_factory)
    node.add_exec_client_factory(exec_name, exec_factory)
    node.build()
    return node


def preflight_strategies(node: TradingNode) -> list[str]:
    """Do now what each strategy would do first on start, so a dry run catches it.

    A strategy with a ``preflight()`` method has it called. A policy strategy (its config names a
    ``policy_loader``) has its model hash checked against the model's manifest (``strategies.model_store``,
    when the model has one) and is loaded through its loader, exactly as ``on_start`` will.
    Returns one note per strategy for the dry-run plan.
    """
    notes = []
    for strategy in node.trader.strategies():
        hook: Callable[[], Any] | None = getattr(strategy, "preflight", None)
        config = strategy.config
        if callable(hook):
            result = hook()
            notes.append(f"{strategy.id}: {result if result is not None else 'ok'}")
        elif getattr(config, "policy_loader", None):
            notes.append(f"{strategy.id}: {_preflight_policy(config)}")
    return notes


def _preflight_policy(config: Any) -> str:
    from strategies.model_store import manifest_path, verify
    from strategies.policy import load_policy

    model_path = getattr(config, "model_path", None)
    checked = "no manifest"
    if model_path and manifest_path(model_path).exists():
        verify(model_path)  # raises ModelIntegrityError on a hash mismatch
        checked = "sha256 matches manifest"
    policy = load_policy(config.policy_loader, model_path, **(config.policy_kwargs or {}))
    return f"policy {type(policy).__name__} loaded from {model_path} ({checked})"


def describe_plan(cfg: LiveConfig, node: TradingNode, credentials: list[str], preflight: list[str]) -> dict[str, Any]:
    """What ``amm live`` would run, as a JSON-able dict (no secret values, only their sources)."""
    data_name, data_cfg, _ = data_client(cfg)
    exec_name, exec_cfg, _ = exec_client(cfg)
    ex = cfg.execution
    return {
        "config": str(cfg.source),
        "mode": run_mode(cfg),
        "trader_id": cfg.node.trader_id,
        "venue": {
            "adapter": cfg.venue.adapter,
            "name": cfg.venue.name,
            "account_type": cfg.venue.account_type,
            "environment": cfg.venue.environment,
        },
        "data_client": {"name": data_name, "config": type(data_cfg).__name__},
        "exec_client": {"name": exec_name, "config": type(exec_cfg).__name__},
        "instruments": list(cfg.instrument_ids),
        "strategies": [
            {"id": str(s.id), "class": type(s).__qualname__, "module": type(s).__module__, "from": spec.origin}
            for s, spec in zip(node.trader.strategies(), cfg.strategies, strict=True)
        ],
        "risk": to_builtins(cfg.risk),
        "kill_switch": to_builtins(cfg.kill_switch),
        "reconciliation": {
            "enabled": ex.reconciliation,
            "lookback_mins": ex.reconciliation_lookback_mins,
            "claim_external_orders": ex.claim_external_orders,
        },
        "sandbox": to_builtins(ex.sandbox) if ex.mode == "sandbox" else None,
        "replay": to_builtins(cfg.replay) if cfg.venue.adapter == "replay" else None,
        "persistence": {"catalog_path": cfg.node.catalog_path, "types": list(cfg.node.persist_types)}
        if cfg.node.catalog_path
        else None,
        "health_file": health_file_path(cfg),
        "log_file": cfg.node.log_file,
        "console": {"host": cfg.console.host, "port": cfg.console.port, "token": f"${cfg.console.token_env} (or generated at start)"}
        if cfg.console.enabled
        else None,
        "credentials": credentials,
        "preflight": preflight,
    }


# -- running -------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a node run left behind: the kill switch's result, fills and PnL per instrument."""

    reason: str | None
    kill_switch_clean: bool | None
    open_orders: list[str]
    open_positions: list[str]
    orders: int
    fills: int
    order_status: dict[str, int] = field(default_factory=dict)
    pnl: dict[str, dict[str, Any]] = field(default_factory=dict)
    replay: dict[str, Any] | None = None
    persisted: dict[str, dict[str, int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_report(node: AmmTradingNode) -> RunReport:
    """Summarise the node's cache after it stopped.

    PnL per instrument comes from the fills (``strategies.ledger.FillLedger``: cash flow + position
    marked to the last mid - fees), the accounting the strategies' kill switches and the
    backtest metrics use, so a live report reads like a backtest's.
    """
    from nautilus_trader.model.events import OrderFilled

    from strategies.ledger import FillLedger

    cache = node.kernel.cache
    fills = sorted(
        (e for o in cache.orders() for e in o.events if isinstance(e, OrderFilled)),
        key=lambda f: f.ts_event,
    )
    pnl = {}
    for iid in sorted({f.instrument_id for f in fills}, key=str):
        instrument = cache.instrument(iid)
        if instrument is None:
            continue
        ledger = FillLedger(instrument)
        mine = [f for f in fills if f.instrument_id == iid]
        for f in mine:
            ledger.on_fill(f)
        mark = mark_price(cache, iid) or mine[-1].last_px.as_double()
        pnl[str(iid)] = {
            "fills": len(mine),
            "position": ledger.position,
            "fees": ledger.fees,
            "mark": mark,
            "equity": ledger.equity(mark),
            "currency": str(ledger.currency),
        }
    replay = None
    if node.replay_summary is not None:
        s = node.replay_summary
        replay = {"counts": s.counts, "wall_secs": round(s.wall_secs, 3), "data_secs": round(s.data_secs, 3)}
    return RunReport(
        reason=node.shutdown_reason,
        kill_switch_clean=node.kill_switch_clean,
        open_orders=[repr(o) for o in cache.orders_open()],
        open_positions=[repr(p) for p in cache.positions_open()],
        orders=len(cache.orders()),
        fills=len(fills),
        order_status=dict(Counter(o.status_string() for o in cache.orders())),
        pnl=pnl,
        replay=replay,
    )


def mark_price(cache: Any, iid: InstrumentId) -> float | None:
    """The mark of PnL on a live node: last mid from the quotes, else from the order book (L2 feeds carry no quotes)."""
    quote = cache.quote_tick(iid)
    if quote is not None:
        return (quote.bid_price.as_double() + quote.ask_price.as_double()) / 2
    book = cache.order_book(iid)
    if book is not None and book.best_bid_price() is not None and book.best_ask_price() is not None:
        return (book.best_bid_price().as_double() + book.best_ask_price().as_double()) / 2
    return None


def run_node(node: AmmTradingNode, cfg: LiveConfig, *, console: OperatorConsole | None = None) -> RunReport:
    """Run until the kill switch (signal, operator console or end of replay) stops the node; then
    report and persist. ``console`` (started on the node's loop, :func:`live.console.open_console`)
    is closed once the node has stopped."""
    try:
        node.run()
    finally:
        if console is not None:
            node.kernel.loop.run_until_complete(console.stop())
        if node.shutdown_reason is None:
            node.shutdown_reason = "node stopped (start-up failed or engines exited)"
        report = collect_report(node)
        instruments = list(node.kernel.cache.instruments())
        node.dispose()
    if cfg.node.catalog_path and Path(cfg.node.catalog_path, "live", str(node.instance_id)).is_dir():
        from live.persist import persist_live_run

        rows = persist_live_run(cfg.node.catalog_path, str(node.instance_id), instruments=instruments)
        report.persisted = {str(node.instance_id): rows}
    return report
