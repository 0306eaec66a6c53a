"""The same backtests run one after the other and as Ray tasks: wall times and the speed-up.

Issue 13's target: 8 backtests on 2 cores through Ray at least 1.7x faster than serially. Each
backtest is an ordinary ``backtests.runner.run_backtest`` of the fixed-spread baseline with its own
``half_spread_ticks`` (0.5 to 4 ticks) on a window of the bundled USD-M capture
(``binance_ws/usdm/btcusdt_20240808.gz``, L2 with queue position), ingested into a temporary
catalog unless ``--catalog`` names one. Ray's start is timed apart (``ray_init_s``): a sweep or a
walk-forward grid pays it once. The two runs must give identical metrics (``identical``): the same
backtest is deterministic wherever it runs.

    python benchmarks/ray_scaling.py [--runs 8] [--cpus 2] [--window-s 240] [--catalog DIR]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

INSTRUMENT_ID = "BTCUSDT-PERP.BINANCE"
DATA_FILE = "binance_ws/usdm/btcusdt_20240808.gz"
START = "2024-08-08T23:55:00Z"
TARGET = 1.7


def specs(catalog: Path, runs: int, window_s: int, out: Path) -> list:
    """``runs`` run specs: the fixed-spread baseline at half-spreads spread over 0.5..4 ticks."""
    import pandas as pd

    from backtests.config import RunSpec, StrategySpec
    from backtests.venue import VenueModelConfig

    end = (pd.Timestamp(START) + pd.Timedelta(seconds=window_s)).isoformat()
    out_specs = []
    for i in range(runs):
        half = 0.5 + 3.5 * i / max(1, runs - 1)
        strategy = StrategySpec(
            "fixed_spread", "strategies.fixed_spread:FixedSpreadMarketMaker",
            "strategies.fixed_spread:FixedSpreadMarketMakerConfig",
            {"instrument_id": INSTRUMENT_ID, "order_qty": "0.002", "max_inventory": "0.010",
             "book_type": "L2_MBP", "half_spread_ticks": half},
        )
        out_specs.append(RunSpec(
            name=f"run{i}", catalog=catalog, instrument_id=INSTRUMENT_ID,
            venue=VenueModelConfig(book_type="L2_MBP", seed=42), strategies=(strategy,),
            start=START, end=end, out_dir=out,
        ))
    return out_specs


def run_one(spec, run_dir: str) -> dict:
    """One backtest; its metrics (what a grid aggregates)."""
    from backtests.runner import run_backtest

    result = run_backtest(spec, progress=False, run_dir=Path(run_dir), tearsheets=False)
    m = result.strategies[0].metrics
    return {k: m[k] for k in ("total_pnl", "fills", "sharpe", "max_drawdown")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--window-s", type=int, default=240)
    args = parser.parse_args(argv)

    import ray

    from backtests.ray_session import ray_session

    tmp = tempfile.TemporaryDirectory(prefix="amm-bench-ray-")
    root = Path(tmp.name)
    catalog = args.catalog
    if catalog is None:
        from catalog.ingest import ingest_files
        from catalog.settings import data_file

        print(f"building catalog from {DATA_FILE} ...", file=sys.stderr)
        catalog = root / "catalog"
        ingest_files("binance-ws", [data_file(DATA_FILE)], catalog)
    catalog = Path(catalog).resolve()
    runs = specs(catalog, args.runs, args.window_s, root)

    t0 = time.perf_counter()
    serial = [run_one(spec, str(root / "serial" / spec.name)) for spec in runs]
    serial_s = time.perf_counter() - t0
    print(f"serial: {args.runs} backtests in {serial_s:.1f} s", file=sys.stderr)

    t0 = time.perf_counter()
    with ray_session(None, args.cpus):  # a local Ray of its own, as amm sweep / walkforward start
        ray_init_s = time.perf_counter() - t0
        task = ray.remote(num_cpus=1)(run_one)
        t0 = time.perf_counter()
        parallel = ray.get([task.remote(spec, str(root / "ray" / spec.name)) for spec in runs])
        ray_s = time.perf_counter() - t0
    speedup = serial_s / ray_s
    print(f"ray ({args.cpus} CPUs): {args.runs} backtests in {ray_s:.1f} s (+{ray_init_s:.1f} s to start Ray); "
          f"speed-up {speedup:.2f}x (target {TARGET}x)", file=sys.stderr)
    out = {
        "benchmark": "ray_scaling",
        "runs": args.runs,
        "cpus": args.cpus,
        "window_s": args.window_s,
        "serial_s": round(serial_s, 2),
        "ray_s": round(ray_s, 2),
        "ray_init_s": round(ray_init_s, 2),
        "speedup": round(speedup, 3),
        "identical": serial == parallel,
        "target": TARGET,
        "target_met": speedup >= TARGET,
    }
    print(json.dumps(out))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
