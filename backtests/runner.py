"""Run the strategies of a run config, each in its own engine, and write a run directory.

Each strategy runs in a ``BacktestEngine`` built from a ``BacktestEngineConfig`` whose strategies
and actors are ``ImportableStrategyConfig`` / ``ImportableActorConfig`` (the strategy config is the
one ``TradingNode`` runs live), on the venue of :meth:`VenueModelConfig.add_to_engine` and the data
of :func:`catalog.window.load_window`: exactly the venue and the data the RL environment replays.

Why not ``BacktestNode``: it reads the catalog itself, one ``BacktestDataConfig`` per type, so a
window cut out of an L2 capture would start without the book before it (2,258 levels one second
into a USD-M window where the full replay holds 8,766), and the L1 ``ts_event`` rule of
``load_window`` would not apply. One data path for every consumer is worth more than the node's
config plumbing; the window is read once and shared by all strategies of a run.

Each strategy gets its own engine, built right before it runs: the fill model reseeds Python's
global ``random`` when it is *built*, so one engine per strategy keeps every run reproducible alone.

Run directory (``<out_dir>/<name>__seed<seed>__<UTC time>/``)::

    config.resolved.toml, config.resolved.json   the exact config (re-run it with amm backtest)
    comparison.md / .html / .json                one row per strategy
    equity_comparison.png
    <strategy>/orders.csv fills.csv order_fills.csv positions.csv account.csv
    <strategy>/equity.parquet mid_changes.parquet metrics.json
    <strategy>/equity.png inventory.png quotes.png tearsheet.html

Report CSVs drop Nautilus' random UUID columns (``event_id``...) so that the same config and seed
give byte-identical reports.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from backtests.config import RunSpec, StrategySpec, to_toml
from catalog.window import Window, data_span, load_window, to_ns

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_UUID_RE = re.compile(rf"^{_UUID}$")
_EMBEDDED_UUID_RE = re.compile(_UUID)


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def _uuid_columns(df: pd.DataFrame) -> list[str]:
    """Report columns holding random UUID4s (``event_id``, ``init_id``...): differ run to run."""
    out = []
    for c in _text_columns(df):
        values = df[c].dropna().astype(str)
        if len(values) and values.map(lambda v: bool(_UUID_RE.match(v))).all():
            out.append(c)
    return out


def _number_embedded_uuids(df: pd.DataFrame) -> pd.DataFrame:
    """Replace UUID4s inside text values by ``snapshot-<n>`` in order of first appearance.

    NautilusTrader 1.231 reports a NETTING position that flipped as snapshots whose
    ``position_id`` ends in a random UUID; numbering them keeps reports byte-identical run to run.
    """
    seen: dict[str, str] = {}

    def number(match: re.Match) -> str:
        return seen.setdefault(match.group(0), f"snapshot-{len(seen) + 1}")

    def renumber(values: pd.Series) -> pd.Series:
        return values.map(lambda v: _EMBEDDED_UUID_RE.sub(number, v) if isinstance(v, str) else v)

    df = df.copy()
    if df.index.dtype == object or pd.api.types.is_string_dtype(df.index):  # position_id, ...
        df.index = pd.Index(renumber(df.index.to_series()), name=df.index.name)
    for c in _text_columns(df):
        df[c] = renumber(df[c])
    return df

STRATEGY_FILES = (
    "orders.csv",
    "fills.csv",
    "order_fills.csv",
    "positions.csv",
    "account.csv",
    "equity.parquet",
    "mid_changes.parquet",
    "metrics.json",
)


@dataclass
class StrategyRun:
    """What one strategy's run produced."""

    name: str
    directory: Path
    metrics: dict[str, Any]
    events: int
    wall_s: float


@dataclass
class RunResult:
    """A finished ``amm backtest``: the run directory and one entry per strategy."""

    run_dir: Path
    spec: RunSpec
    strategies: list[StrategyRun] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        from backtests.metrics import flatten_summary

        return {
            "run_dir": str(self.run_dir),
            "name": self.spec.name,
            "instrument_id": self.spec.instrument_id,
            "strategies": {
                s.name: {**flatten_summary(s.metrics), "events": s.events, "wall_s": round(s.wall_s, 3)}
                for s in self.strategies
            },
        }


def _new_run_dir(spec: RunSpec) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = spec.out_dir / f"{spec.name}__seed{spec.venue.seed}__{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def resolve_window(spec: RunSpec) -> tuple[int, int]:
    """The run's ``(start_ns, end_ns)``: the config window, defaulting to the data span."""
    span = data_span(spec.catalog, spec.instrument_id)
    start = to_ns(spec.start, name="start")
    end = to_ns(spec.end, name="end")
    start = span[0] if start is None else start
    end = span[1] if end is None else end
    if end < start:
        raise ValueError(f"window end {spec.end} is before start {spec.start}")
    if end < span[0] or start > span[1]:
        raise ValueError(
            f"window {pd.Timestamp(start, tz='UTC')} .. {pd.Timestamp(end, tz='UTC')} is outside the "
            f"data of {spec.instrument_id} ({pd.Timestamp(span[0], tz='UTC')} .. "
            f"{pd.Timestamp(span[1], tz='UTC')})",
        )
    return start, end


def build_engine_config(
    spec: RunSpec,
    strategy: StrategySpec,
    window_ns: tuple[int, int],
    *,
    progress: bool = False,
):
    """The ``BacktestEngineConfig`` of one strategy's engine: the strategy and the equity sampler."""
    from nautilus_trader.backtest.engine import BacktestEngineConfig
    from nautilus_trader.common.config import ImportableActorConfig
    from nautilus_trader.config import LoggingConfig

    sampler = {
        "component_id": "EquitySampler",
        "instrument_id": spec.instrument_id,
        "interval_ms": spec.equity_interval_ms,
        "subscribe_book": spec.venue.book_type != "L1_MBP",
    }
    if progress:
        sampler["progress_start_ns"] = window_ns[0]
        sampler["progress_end_ns"] = window_ns[1]
        sampler["progress_label"] = strategy.name
    return BacktestEngineConfig(
        trader_id="BACKTESTER-001",
        logging=LoggingConfig(log_level=spec.log_level),
        strategies=[strategy.importable()],
        actors=[
            ImportableActorConfig(
                actor_path="backtests.equity:EquitySampler",
                config_path="backtests.equity:EquitySamplerConfig",
                config=sampler,
            ),
        ],
        run_analysis=False,
    )


def _write_csv(df: pd.DataFrame | None, path: Path) -> None:
    if df is None:
        df = pd.DataFrame()
    df = _number_embedded_uuids(df.drop(columns=_uuid_columns(df)))
    df.to_csv(path)


def run_strategy(
    spec: RunSpec,
    strategy: StrategySpec,
    run_dir: Path,
    window: Window,
    window_ns: tuple[int, int],
    *,
    progress: bool = False,
) -> StrategyRun:
    """Run one strategy in its own ``BacktestEngine`` and write its artefacts under ``run_dir``."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.model.identifiers import InstrumentId, Venue

    from backtests.equity import EquitySampler
    from backtests.metrics import (
        MetricsConfig,
        compute_metrics,
        fills_from_report,
        order_counts_from_report,
    )
    from backtests.plots import plot_strategy

    out = run_dir / strategy.name
    out.mkdir(parents=True, exist_ok=True)
    engine = BacktestEngine(build_engine_config(spec, strategy, window_ns, progress=progress))
    try:
        spec.venue.add_to_engine(engine, [window.instrument])  # builds the fill model: reseeds
        window.add_to_engine(engine)
        t0 = time.perf_counter()
        # The clock starts at the window's start, not at its first event: a strategy's decision
        # clock (and an agent's warm-up) then runs on the same grid as in the RL environment.
        engine.run(start=window_ns[0], end=window_ns[1])
        wall_s = time.perf_counter() - t0
        trader = engine.trader
        samplers = [a for a in trader.actors() if isinstance(a, EquitySampler)]
        if not samplers:
            raise RuntimeError(f"strategy {strategy.name}: equity sampler missing")
        equity = samplers[0].samples()
        mids = samplers[0].mid_changes()
        ledger_check = check_ledger(engine, spec, equity)
        orders = trader.generate_orders_report()
        fills_report = trader.generate_fills_report()
        _write_csv(orders, out / "orders.csv")
        _write_csv(fills_report, out / "fills.csv")
        _write_csv(trader.generate_order_fills_report(), out / "order_fills.csv")
        _write_csv(trader.generate_positions_report(), out / "positions.csv")
        _write_csv(trader.generate_account_report(Venue(spec.venue.venue)), out / "account.csv")
        equity.to_parquet(out / "equity.parquet")
        mids.to_parquet(out / "mid_changes.parquet")
        instrument = engine.cache.instrument(InstrumentId.from_str(spec.instrument_id))
        multiplier = float(instrument.multiplier) if instrument is not None else 1.0
        max_inv = strategy.config.get("max_inventory")
        submitted, filled = order_counts_from_report(orders)
        fills = fills_from_report(fills_report)
        metrics = compute_metrics(
            equity,
            fills,
            config=MetricsConfig(
                interval_s=spec.equity_interval_ms / 1000,
                max_inventory=float(max_inv) if max_inv is not None else None,
                multiplier=multiplier,
            ),
            orders_submitted=submitted,
            orders_filled=filled,
            mid_changes=mids,
        )
        events = int(engine.get_result().iterations)
        metrics["strategy"] = strategy.name
        metrics["instrument_id"] = spec.instrument_id
        metrics["valuation_currency"] = _valuation_currency(instrument)
        metrics["multiplier"] = multiplier
        metrics["is_inverse"] = bool(instrument.is_inverse) if instrument is not None else False
        metrics["price_increment"] = float(instrument.price_increment) if instrument is not None else None
        metrics["trading_hours_per_year"] = _trading_hours_per_year(instrument)
        metrics["events"] = events
        if ledger_check is not None:
            metrics["ledger_pnl"], metrics["account_pnl"] = ledger_check
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        plot_strategy(
            out,
            equity,
            fills,
            title=f"{strategy.name} on {spec.instrument_id}",
            max_inventory=metrics.get("max_inventory"),
            currency=metrics["valuation_currency"] or "",
        )
    finally:
        engine.dispose()
    return StrategyRun(strategy.name, out, metrics, events, wall_s)


def ledger_tolerance(fill_count: int, currency_precision: int, notional: float) -> float:
    """Largest accepted gap between the ledger's and the account's PnL.

    The venue books each fill's realised PnL and commission in whole currency units (cents for
    USD), the ledger exactly: up to half a unit per fill apart, plus float noise on the notional.
    """
    return fill_count * 0.5 * 10.0**-currency_precision + 1e-9 * notional


def check_ledger(engine, spec: RunSpec, equity: pd.DataFrame) -> tuple[float, float] | None:
    """Check a market maker's ledger against the venue account at the end of its run.

    Every strategy of a run has its engine, hence its account, to itself, so the account's PnL
    (the change of the balances since the start, valued at the last mid, plus the open
    positions' unrealised PnL there: the equity sampler's closing sample minus the starting
    balances) must equal the PnL the strategy's :class:`strategies.ledger.FillLedger` reports at
    the same mid: the PnL its reward, kill switch and reports used. A gap means one of them books
    a fill or a fee differently, and a report built on it would be silently wrong, so the run
    fails. Returns ``(ledger_pnl, account_pnl)``, or None for a strategy without a ledger.
    """
    from nautilus_trader.model.objects import Money

    strategies = [s for s in engine.trader.strategies() if getattr(s, "ledger", None) is not None]
    if len(strategies) != 1 or equity.empty:
        return None
    strategy = strategies[0]
    last = equity.iloc[-1]
    mid = float(last["mid"])
    if not mid == mid:
        return None
    start = 0.0
    for text in spec.venue.starting_balances:
        money = Money.from_str(text)
        if money.currency == strategy.ledger.currency:
            start += money.as_double()
        elif money.currency == strategy.instrument.get_base_currency():
            start += money.as_double() * mid
    account_pnl = float(last["equity"]) - start
    ledger_pnl = strategy.ledger.equity(mid)
    ledger = strategy.ledger
    notional = ledger.traded_qty * float(strategy.instrument.multiplier) * mid
    if abs(ledger_pnl - account_pnl) > ledger_tolerance(ledger.fill_count, ledger.currency.precision, notional):
        raise RuntimeError(
            f"strategy {strategy.id}: ledger PnL {ledger_pnl:.8f} differs from the account's "
            f"{account_pnl:.8f} {strategy.ledger.currency} at the end of the run",
        )
    return ledger_pnl, account_pnl


def _trading_hours_per_year(instrument) -> float:
    """252 sessions of 6.5 h for equities (the LOBSTER NASDAQ days), 24/7 for everything else."""
    from nautilus_trader.model.enums import AssetClass

    from backtests.tearsheet import HOURS_24_7, HOURS_EXCHANGE_SESSION

    if instrument is not None and instrument.asset_class == AssetClass.EQUITY:
        return HOURS_EXCHANGE_SESSION
    return float(HOURS_24_7)


def _valuation_currency(instrument) -> str | None:
    if instrument is None:
        return None
    ccy = getattr(instrument, "settlement_currency", None) or instrument.quote_currency
    return ccy.code


def run_backtest(
    spec: RunSpec,
    *,
    progress: bool = True,
    run_dir: Path | None = None,
    tearsheets: bool = True,
) -> RunResult:
    """Run every strategy of ``spec`` on the same data and venue, then write the comparison.

    Parameters
    ----------
    spec : RunSpec
        The resolved run config.
    progress : bool
        Show a progress bar of simulated time per strategy on stderr.
    run_dir : Path, optional
        Write here instead of a new ``<out_dir>/<name>__seed<seed>__<time>`` directory.
    tearsheets : bool
        Write the HTML reports: the QuantStats tearsheets (about a second each) and the
        market-making report (a few MB with plotly.js inline; sweeps and walk-forwards skip both).
    """
    from backtests.tearsheet import COMPLETE, write_reports

    window = resolve_window(spec)
    if run_dir is None:
        run_dir = _new_run_dir(spec)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.resolved.toml").write_text(to_toml(spec))
    resolved = spec.to_dict()
    resolved["run"]["window_ns"] = list(window)
    resolved["source"] = spec.source
    (run_dir / "config.resolved.json").write_text(json.dumps(resolved, indent=2) + "\n")
    result = RunResult(run_dir=run_dir, spec=spec)
    data = load_window(spec.catalog, spec.instrument_id, window[0], window[1], spec.venue.book_type)
    for strategy in spec.strategies:
        result.strategies.append(run_strategy(spec, strategy, run_dir, data, window, progress=progress))
    # Complete once every strategy has its results; the reports below are derived from them
    # (amm report re-makes them).
    mark = {"strategies": [s.name for s in result.strategies], "finished_utc": datetime.now(UTC).isoformat()}
    (run_dir / f".{COMPLETE}.tmp").write_text(json.dumps(mark) + "\n")
    os.replace(run_dir / f".{COMPLETE}.tmp", run_dir / COMPLETE)
    write_reports([run_dir], out_dir=run_dir, benchmark=spec.benchmark, tearsheets=tearsheets)
    return result
