"""Ingest throughput and memory for ``amm ingest binance-ws``.

Measures, in one run:

1. rows/s of ``ingest_files`` on the real spot BTCUSDT session (0808 + 0809 captures), and the
   time of a plain ``ParquetDataCatalog.write_data`` of the very same objects (the floor: no
   parsing, validation or staging), reported as a ratio;
2. peak RSS of ingesting generated Binance-format captures of increasing size (each in a fresh
   subprocess), to show memory stays bounded while rows grow (streaming, chunked writes).

Run: ``.venv/bin/python benchmarks/ingest.py [--rows 2000000]``. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catalog.settings import data_dir


def generate_capture(path: Path, n_messages: int, seed: int = 7) -> None:
    """Write a USD-M-style capture: a REST snapshot, then depth diffs, bookTickers and trades.

    The book random-walks on a 0.1 tick grid; update ids chain with ``pu`` like the real stream.
    """
    rng = random.Random(seed)
    ts_ns = 1_723_161_255_000_000_000
    mid_ticks = 617_000
    last_u = next_id = 1_000_000
    bids = {mid_ticks - i: 1.0 for i in range(1, 21)}
    asks = {mid_ticks + i: 1.0 for i in range(1, 21)}
    with gzip.open(path, "wt", compresslevel=1) as f:
        snap = {
            "lastUpdateId": last_u + 1, "E": ts_ns // 10**6, "T": ts_ns // 10**6,
            "bids": [[f"{p / 10:.1f}", "1.000"] for p in sorted(bids, reverse=True)],
            "asks": [[f"{p / 10:.1f}", "1.000"] for p in sorted(asks)],
        }
        f.write(f"{ts_ns} {json.dumps(snap)}\n")
        trade_id = 1
        for i in range(n_messages):
            ts_ns += rng.randint(1_000_000, 20_000_000)
            ms = ts_ns // 10**6 + 1300
            kind = rng.random() if i else 0.0  # the first diff straddles the snapshot id
            if kind < 0.4:
                step = rng.choice((-1, 0, 0, 1))
                mid_ticks += step
                best_bid = mid_ticks - 1
                best_ask = mid_ticks + 1
                b = [[f"{(best_bid - i) / 10:.1f}", f"{rng.uniform(0.001, 3):.3f}"] for i in range(3)]
                a = [[f"{(best_ask + i) / 10:.1f}", f"{rng.uniform(0.001, 3):.3f}"] for i in range(3)]
                # levels that crossed the new mid are removed
                b.append([f"{(best_ask) / 10:.1f}", "0.000"])
                a.append([f"{(best_bid) / 10:.1f}", "0.000"])
                first = next_id + 1
                last = first + rng.randint(0, 5)
                msg = {"stream": "btcusdt@depth@0ms", "data": {
                    "e": "depthUpdate", "E": ms, "T": ms, "s": "BTCUSDT",
                    "U": first, "u": last, "pu": last_u, "b": b, "a": a}}
                last_u = next_id = last
            elif kind < 0.8:
                next_id += 1  # futures: pu chains depth events; ids in between are skipped
                msg = {"stream": "btcusdt@bookTicker", "data": {
                    "e": "bookTicker", "u": next_id, "s": "BTCUSDT", "E": ms, "T": ms,
                    "b": f"{(mid_ticks - 1) / 10:.1f}", "B": f"{rng.uniform(0.001, 3):.3f}",
                    "a": f"{(mid_ticks + 1) / 10:.1f}", "A": f"{rng.uniform(0.001, 3):.3f}"}}
            else:
                buyer_maker = rng.random() < 0.5
                px = mid_ticks - 1 if buyer_maker else mid_ticks + 1
                msg = {"stream": "btcusdt@trade", "data": {
                    "e": "trade", "E": ms, "T": ms, "s": "BTCUSDT", "t": trade_id,
                    "p": f"{px / 10:.1f}", "q": f"{rng.uniform(0.001, 1):.3f}", "m": buyer_maker}}
                trade_id += 1
            f.write(f"{ts_ns} {json.dumps(msg, separators=(',', ':'))}\n")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ingest(capture: str) -> None:
    """Subprocess body: ingest one capture, print JSON with rows, seconds and peak RSS."""
    from catalog.ingest import ingest_files

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = ingest_files("binance-ws", [Path(capture)], Path(tmp) / "catalog")
        seconds = time.perf_counter() - started
    print(json.dumps({
        "rows_read": result.report.total_read,
        "rows_written": result.report.total_written,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }))


def real_data_throughput() -> dict:
    """Ingest the spot BTCUSDT session, then write the same objects with plain write_data."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from catalog.ingest import ingest_files
    from catalog.loaders.binance_ws import BinanceWsLoader
    from catalog.quality import QualityReport

    files = [data_dir() / "binance_ws/spot/btcusdt_20240808.gz", data_dir() / "binance_ws/spot/btcusdt_20240809.gz"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = ingest_files("binance-ws", files, Path(tmp) / "ours")
        ingest_s = time.perf_counter() - t0
        loader = BinanceWsLoader()
        t0 = time.perf_counter()
        objects = list(loader.iter_data(files, QualityReport("binance-ws")))
        parse_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = ParquetDataCatalog(str(Path(tmp) / "plain"))
        plain.write_data(objects)
        plain.write_data(loader.instruments())
        write_s = time.perf_counter() - t0
    rows = result.report.total_written
    return {
        "real_rows_written": rows,
        "real_ingest_s": round(ingest_s, 3),
        "real_rows_per_s": round(rows / ingest_s),
        "parse_only_s": round(parse_s, 3),
        "plain_write_data_s": round(write_s, 3),
        "ingest_vs_plain_write_ratio": round(ingest_s / write_s, 2),
        "ingest_vs_parse_plus_write_ratio": round(ingest_s / (parse_s + write_s), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="messages in the largest generated capture")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_ingest(args.child)
        return

    from rich.console import Console

    console = Console(stderr=True)
    console.print("[bold]1. real data: binance_ws/spot/btcusdt_20240808+09[/bold]")
    real = real_data_throughput()
    console.print(real)

    console.print("[bold]2. memory vs size: generated captures, one subprocess each[/bold]")
    sizes = sorted({max(args.rows // 8, 10_000), max(args.rows // 2, 10_000), args.rows})
    scaling = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            capture = Path(tmp) / f"gen_{n}.gz"
            t0 = time.perf_counter()
            generate_capture(capture, n)
            console.print(f"generated {n:,} messages in {time.perf_counter() - t0:.1f} s ({capture.stat().st_size / 1e6:.0f} MB gz)")
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(capture)],
                check=True, capture_output=True, text=True,
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["messages"] = n
            figures["rows_per_s"] = round(figures["rows_written"] / figures["seconds"])
            console.print(figures)
            scaling.append(figures)
            capture.unlink()
    headline = {
        "benchmark": "ingest",
        **real,
        "generated_messages": [s["messages"] for s in scaling],
        "generated_rows_written": [s["rows_written"] for s in scaling],
        "generated_rows_per_s": [s["rows_per_s"] for s in scaling],
        "generated_peak_rss_mb": [round(s["peak_rss_mb"]) for s in scaling],
        "peak_rss_growth_ratio": round(scaling[-1]["peak_rss_mb"] / scaling[0]["peak_rss_mb"], 2),
        "rows_growth_ratio": round(scaling[-1]["rows_written"] / scaling[0]["rows_written"], 2),
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
