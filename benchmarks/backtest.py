"""Backtest throughput: a baseline market maker vs a no-op strategy on the same L2 data.

Data: Binance USD-M BTCUSDT perpetual, ``binance_ws/usdm/btcusdt_20240808.gz`` (about 6 minutes:
445k order book deltas, 21k trades, 66k bookTicker quotes), ingested into a temporary catalog
unless ``--catalog`` points at one that already holds ``BTCUSDT-PERP.BINANCE``.

Both runs use the same ``VenueModelConfig`` (L2_MBP with queue position and liquidity
consumption, 10 ms latency) through the low-level
``BacktestEngine`` so that only ``engine.run()`` is timed (catalog reads and engine builds are
excluded and reported separately). Events = data objects replayed (delta batches, one per
exchange message, + trades + quotes).
The last line of output is one JSON object with the headline figures.

    python benchmarks/backtest.py [--catalog DIR] [--strategy fixed_spread|avellaneda_stoikov|glft]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

INSTRUMENT_ID = "BTCUSDT-PERP.BINANCE"
DATA_FILE = "binance_ws/usdm/btcusdt_20240808.gz"

BASELINES = {
    "fixed_spread": ("strategies.fixed_spread:FixedSpreadMarketMaker",
                     "strategies.fixed_spread:FixedSpreadMarketMakerConfig",
                     {"half_spread_ticks": 2.0}),
    "avellaneda_stoikov": ("strategies.avellaneda_stoikov:AvellanedaStoikovMarketMaker",
                           "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMakerConfig",
                           {"gamma": 0.01}),
    "glft": ("strategies.glft:GLFTMarketMaker", "strategies.glft:GLFTMarketMakerConfig", {"gamma": 0.01}),
}


def _noop_strategy():
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.enums import BookType
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.trading.strategy import Strategy

    class NoOpConfig(StrategyConfig, frozen=True):
        instrument_id: InstrumentId

    class NoOp(Strategy):
        """Subscribes to the same streams as the baseline and does nothing."""

        def on_start(self) -> None:
            self.subscribe_order_book_deltas(self.config.instrument_id, BookType.L2_MBP)
            self.subscribe_trade_ticks(self.config.instrument_id)

    return NoOp(NoOpConfig(instrument_id=InstrumentId.from_str(INSTRUMENT_ID)))


def _baseline(name: str):
    from nautilus_trader.common.config import resolve_config_path, resolve_path

    strategy_path, config_path, extra = BASELINES[name]
    config_cls = resolve_config_path(config_path)
    from nautilus_trader.model.identifiers import InstrumentId

    config = config_cls(
        instrument_id=InstrumentId.from_str(INSTRUMENT_ID),
        order_qty=Decimal("0.002"),
        max_inventory=Decimal("0.010"),
        book_type="L2_MBP",
        quote_interval_ms=100,
        **extra,
    )
    return resolve_path(strategy_path)(config)


def _ensure_catalog(catalog: Path | None) -> Path:
    if catalog is not None:
        return catalog
    from catalog.ingest import ingest_files
    from catalog.settings import data_file

    path = Path(tempfile.mkdtemp(prefix="amm-bench-catalog-"))
    t0 = time.perf_counter()
    ingest_files("binance-ws", [data_file(DATA_FILE)], path)
    print(f"ingested {DATA_FILE} into {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def _run(strategy, window, venue) -> dict:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig

    t0 = time.perf_counter()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    venue.add_to_engine(engine, [window.instrument])
    window.add_to_engine(engine)
    engine.add_strategy(strategy)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.run()
    run_s = time.perf_counter() - t0
    orders = len(engine.cache.orders())
    fills = len(engine.trader.generate_fills_report())
    engine.dispose()
    return {"build_s": build_s, "run_s": run_s, "events_per_s": len(window.data) / run_s, "orders": orders,
            "fills": fills}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=None, help="catalog with BTCUSDT-PERP.BINANCE deltas")
    parser.add_argument("--strategy", choices=sorted(BASELINES), default="fixed_spread")
    args = parser.parse_args(argv)

    from catalog.window import load_window
    from backtests.venue import VenueModelConfig

    catalog = _ensure_catalog(args.catalog)
    venue = VenueModelConfig(book_type="L2_MBP", latency_base_ns=10_000_000)
    t0 = time.perf_counter()
    window = load_window(catalog, INSTRUMENT_ID, None, None, "L2_MBP")
    data = window.data
    load_s = time.perf_counter() - t0
    kinds: dict[str, int] = {}
    for d in data:
        kinds[type(d).__name__] = kinds.get(type(d).__name__, 0) + 1
    print(f"loaded {len(data):,} events {kinds} in {load_s:.2f} s", file=sys.stderr)

    noop = _run(_noop_strategy(), window, venue)
    print(f"no-op:        {noop['run_s']:.2f} s  {noop['events_per_s']:,.0f} events/s", file=sys.stderr)
    base = _run(_baseline(args.strategy), window, venue)
    print(
        f"{args.strategy}: {base['run_s']:.2f} s  {base['events_per_s']:,.0f} events/s  "
        f"({base['orders']:,} orders, {base['fills']:,} fills)",
        file=sys.stderr,
    )
    print(json.dumps({
        "benchmark": "backtest_l2_throughput",
        "data": DATA_FILE,
        "events": len(data),
        "event_kinds": kinds,
        "catalog_load_s": round(load_s, 3),
        "noop_events_per_s": round(noop["events_per_s"]),
        "baseline": args.strategy,
        "baseline_events_per_s": round(base["events_per_s"]),
        "baseline_over_noop": round(base["events_per_s"] / noop["events_per_s"], 3),
        "baseline_orders": base["orders"],
        "baseline_fills": base["fills"],
        "noop_run_s": round(noop["run_s"], 3),
        "baseline_run_s": round(base["run_s"], 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }))


if __name__ == "__main__":
    main()
