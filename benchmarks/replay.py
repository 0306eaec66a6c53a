"""A live ``TradingNode`` replaying a capture vs a backtest of the same window and strategy.

What: the fixed-spread baseline of ``live/configs/replay.toml`` (0.002 BTC, |q| <= 0.010,
half spread 2 ticks, a decision on every quote) on 30 s of ``binance_ws/usdm/btcusdt_20240808.gz``
(from 5 s after the first quote), L2 depth + trades + quotes. Once in a ``BacktestEngine`` on the
sandbox's matching rules (``VenueModelConfig``: L2, queue position, trade execution, liquidity
consumption, instrument fees, zero latency), then through ``amm live --replay``'s node at several
speeds (the paper exchange of ``live.sandbox``). Risk rate limits are raised to 10,000/s: they
count wall-clock time, and at 10x the shipped 100/s would deny orders the backtest keeps.

Why: the strategy code is the same; the plumbing is not (three asynchronous queues between the
strategy and the paper exchange, a wall clock). The table shows what that costs in fills and
PnL. Replays are not deterministic (asyncio scheduling): figures move by a few fills run to run.

    python benchmarks/replay.py [--catalog DIR] [--speeds 1 2 10 0] [--window-s 30]

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import msgspec

INSTRUMENT_ID = "BTCUSDT-PERP.BINANCE"
DATA_FILE = "binance_ws/usdm/btcusdt_20240808.gz"
REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "live" / "configs" / "replay.toml"


def _catalog(path: Path | None) -> Path:
    if path is not None:
        return path
    from catalog.ingest import ingest_files
    from catalog.settings import data_file

    out = Path(tempfile.mkdtemp(prefix="amm-bench-replay-")) / "catalog"
    ingest_files("binance-ws", [data_file(DATA_FILE)], out)
    return out


def _summary(orders: list, instrument, mark: float) -> dict:
    from nautilus_trader.model.enums import OrderStatus
    from nautilus_trader.model.events import OrderFilled

    from strategies.ledger import FillLedger

    fills = sorted((e for o in orders for e in o.events if isinstance(e, OrderFilled)), key=lambda f: f.ts_event)
    ledger = FillLedger(instrument)
    for f in fills:
        ledger.on_fill(f)
    traded = ledger.traded_qty
    pnl = ledger.equity(mark)
    return {
        "orders": len(orders),
        "fills": len(fills),
        "traded_btc": round(traded, 6),
        "fees_usdt": round(ledger.fees, 4),
        "pnl_usdt": round(pnl, 4),
        "pnl_per_btc": round(pnl / traded, 2) if traded else None,
        "post_only_rejects": sum(1 for o in orders if o.status == OrderStatus.REJECTED),
    }


def run_backtest(cfg, catalog: Path, start: int, end: int, mark: float) -> dict:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig

    from catalog.window import load_window
    from backtests.venue import VenueModelConfig
    from live.node import strategy_configs
    from nautilus_trader.config import StrategyFactory

    sb = cfg.execution.sandbox
    venue = VenueModelConfig(
        book_type=sb.book_type, trade_execution=sb.trade_execution, queue_position=sb.queue_position,
        liquidity_consumption=sb.liquidity_consumption, latency_base_ns=0,
        starting_balances=tuple(sb.starting_balances), default_leverage=float(sb.default_leverage),
    )
    window = load_window(catalog, INSTRUMENT_ID, start, end, venue.book_type)
    engine = BacktestEngine(BacktestEngineConfig(
        trader_id="BACKTESTER-001", logging=LoggingConfig(bypass_logging=True), risk_engine=RiskEngineConfig(),
    ))
    try:
        venue.add_to_engine(engine, [window.instrument])
        window.add_to_engine(engine)
        strategy = next(s for s in strategy_configs(cfg) if "fixed_spread" in s.strategy_path)
        engine.add_strategy(StrategyFactory.create(strategy))
        t0 = time.perf_counter()
        engine.run()
        wall = time.perf_counter() - t0
        return {"run": "backtest", "speed": None, "wall_s": round(wall, 2),
                **_summary(list(engine.cache.orders()), window.instrument, mark)}
    finally:
        engine.dispose()


def run_replay(cfg, speed: float) -> dict:
    from live.node import build_node

    node = build_node(cfg, log_level="ERROR")
    try:
        t0 = time.perf_counter()
        node.run()
        wall = time.perf_counter() - t0
        from nautilus_trader.model.identifiers import InstrumentId

        instrument = node.cache.instrument(InstrumentId.from_str(INSTRUMENT_ID))
        orders = list(node.cache.orders())
    finally:
        node.dispose()
    return {"run": f"replay {speed:g}x" if speed else "replay unthrottled", "speed": speed,
            "wall_s": round(wall, 2), "orders_list": orders, "instrument": instrument}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=None, help="catalog holding BTCUSDT-PERP.BINANCE")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 2.0, 10.0, 0.0])
    parser.add_argument("--window-s", type=float, default=30.0)
    args = parser.parse_args(argv)

    import pandas as pd
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from live.config import ReplaySettings, load_config

    catalog = _catalog(args.catalog)
    quotes = ParquetDataCatalog(str(catalog)).query(QuoteTick, identifiers=[INSTRUMENT_ID])
    start = quotes[0].ts_init + 5_000_000_000
    end = start + int(args.window_s * 1e9)
    mark_quote = [q for q in quotes if q.ts_init <= end][-1]
    mark = (mark_quote.bid_price.as_double() + mark_quote.ask_price.as_double()) / 2
    base = load_config(CONFIG)
    base = replace(base, risk=msgspec.structs.replace(base.risk, max_order_submit_rate="10000/00:00:01",
                                      max_order_modify_rate="10000/00:00:01"))
    iso = lambda ns: pd.Timestamp(ns, tz="UTC").isoformat()  # noqa: E731
    rows = [run_backtest(base, catalog, start, end, mark)]
    for speed in args.speeds:
        cfg = base.with_replay(ReplaySettings(catalog_path=str(catalog), start=iso(start), end=iso(end), speed=speed))
        got = run_replay(cfg, speed)
        rows.append({"run": got["run"], "speed": speed, "wall_s": got["wall_s"],
                     **_summary(got["orders_list"], got["instrument"], mark)})
    cols = ("run", "wall_s", "orders", "fills", "traded_btc", "fees_usdt", "pnl_usdt", "pnl_per_btc", "post_only_rejects")
    print(" | ".join(cols), file=sys.stderr)
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols), file=sys.stderr)
    print(json.dumps({"benchmark": "replay_vs_backtest", "data": DATA_FILE, "window": [iso(start), iso(end)],
                      "book_type": base.execution.sandbox.book_type, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
