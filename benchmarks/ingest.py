"""Ingest throughput and memory for ``amm ingest binance-ws`` and ``amm ingest lobster``.

Measures, in one run:

1. rows/s of ``ingest_files`` on the real spot BTCUSDT session (0808 + 0809 captures), and the
   time of a plain ``ParquetDataCatalog.write_data`` of the very same objects (the floor: no
   parsing, validation or staging), reported as a ratio;
2. peak RSS of ingesting generated Binance-format captures of increasing size (each in a fresh
   subprocess), to show memory stays bounded while rows grow (streaming, chunked writes).

3. rows/s and peak RSS of ingesting a full LOBSTER day (``lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip``,
   147,916 messages), and peak RSS of generated multi-day LOBSTER inputs (the real day re-dated
   onto consecutive weekdays, ``catalog.loaders.lobster.redate_archive``) of 1, n/2 and n days,
   each in a fresh subprocess: memory must stay flat as days are added.

Run: ``.venv/bin/python benchmarks/ingest.py [--rows 2000000] [--lobster-days 6]``. Ends with one
JSON line.
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


def child_ingest(fmt: str, inputs: str) -> None:
    """Subprocess body: ingest comma-separated files, print JSON with rows, seconds and peak RSS."""
    from catalog.ingest import ingest_files

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = ingest_files(fmt, [Path(f) for f in inputs.split(",")], Path(tmp) / "catalog")
        seconds = time.perf_counter() - started
    print(json.dumps({
        "rows_read": result.report.total_read,
        "rows_written": result.report.total_written,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }))


LOBSTER_DAY = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


def _ingest_in_subprocess(fmt: str, files: list[Path]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", fmt, ",".join(str(f) for f in files)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def lobster_scaling(day_zip: Path, max_days: int, console) -> dict:  # noqa: ANN001 - rich Console
    """One real LOBSTER day, then 1, n/2 and n re-dated copies of it, each ingested in a subprocess."""
    import datetime as dt

    from catalog.loaders.lobster import find_days, redate_archive

    real = _ingest_in_subprocess("lobster", [day_zip])
    real["rows_per_s"] = round(real["rows_written"] / real["seconds"])
    console.print({"lobster_day": day_zip.name, **real})
    first = find_days([day_zip])[0].date
    weekdays = [first + dt.timedelta(days=k) for k in range(3 * max_days) if (first + dt.timedelta(days=k)).weekday() < 5]
    sizes = sorted({1, max(max_days // 2, 1), max_days})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = [redate_archive(day_zip, d, Path(tmp)) for d in weekdays[:max_days]]
        for n in sizes:
            figures = _ingest_in_subprocess("lobster", copies[:n])
            figures["days"] = n
            console.print(figures)
            rows.append(figures)
    return {
        "lobster_rows_read": real["rows_read"],
        "lobster_rows_written": real["rows_written"],
        "lobster_seconds": round(real["seconds"], 2),
        "lobster_rows_per_s": real["rows_per_s"],
        "lobster_peak_rss_mb": round(real["peak_rss_mb"]),
        "lobster_generated_days": [r["days"] for r in rows],
        "lobster_generated_rows_written": [r["rows_written"] for r in rows],
        "lobster_generated_peak_rss_mb": [round(r["peak_rss_mb"]) for r in rows],
        "lobster_peak_rss_growth_ratio": round(rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"], 2),
        "lobster_rows_growth_ratio": round(rows[-1]["rows_written"] / rows[0]["rows_written"], 2),
    }


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
    parser.add_argument("--lobster-days", type=int, default=6, help="days in the largest generated LOBSTER input")
    parser.add_argument("--lobster-file", default=LOBSTER_DAY, help="LOBSTER zip (relative to the data directory)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_ingest(*args.child)
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
            figures = _ingest_in_subprocess("binance-ws", [capture])
            figures["messages"] = n
            figures["rows_per_s"] = round(figures["rows_written"] / figures["seconds"])
            console.print(figures)
            scaling.append(figures)
            capture.unlink()
    console.print(f"[bold]3. LOBSTER: {args.lobster_file}, then 1..{args.lobster_days} generated days[/bold]")
    lobster = lobster_scaling(data_dir() / args.lobster_file, args.lobster_days, console)
    headline = {
        "benchmark": "ingest",
        **real,
        **lobster,
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
