"""Throughput of ``catalog.book.L2Book`` on its two hot paths, against the two books it replaced.

Measures, on the USD-M BTCUSDT capture (``binance_ws/usdm/btcusdt_20240808.gz``, the deltas the
loader emits, batched at ``F_LAST`` as the engine delivers them):

1. the features' book path: every batch applied, and at every 100 ms of data time the summed
   size of the top 5 levels per side (the imbalance), as ``IncrementalFeatures`` does it;
2. the loader's book path: every depth message's levels set in ticks, then the crossed/locked
   check, a snapshot into a fresh book, as ``DepthSync`` does it;
3. end to end: ``IncrementalFeatures.on_book_deltas`` + ``sample_values`` every 100 ms, and the
   whole ``BinanceWsLoader`` (parse, sync, Nautilus objects).

For 1 and 2 the books the project had before (``L2Ladder`` of ``catalog.features.ladder`` and
the heap-based ``L2Book``) are read from git at ``--baseline`` and timed in the same run, in
alternating rounds (best of ``--rounds``), so that both face the same machine load.

Run: ``.venv/bin/python benchmarks/book.py [--rounds 5] [--baseline REV]``. Ends with one JSON
line.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import time
import types
from collections.abc import Callable
from pathlib import Path

from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag

from catalog.book import L2Book
from catalog.features import FeatureConfig, IncrementalFeatures
from catalog.loaders.binance_ws.loader import BinanceWsLoader
from catalog.quality import QualityReport
from catalog.settings import data_file

DATA_FILE = "binance_ws/usdm/btcusdt_20240808.gz"
BASELINE = "f87984e"
"""The last commit with two level books (``L2Ladder`` and the heap ``L2Book``)."""
REPO = Path(__file__).resolve().parents[1]
SAMPLE_NS = 100_000_000
LEVELS = 5
F_LAST = int(RecordFlag.F_LAST)

Message = tuple[bool, list[tuple[bool, int, float]]]
"""A depth message as the loader's book sees it: ``(is_snapshot, [(is_bid, ticks, size)])``."""


def _legacy(rev: str, path: str) -> types.ModuleType | None:
    """The module at ``path`` as of ``rev`` (None outside a git checkout that has it)."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType(f"legacy_{Path(path).stem}")
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def load() -> tuple[list[OrderBookDeltas], list[list[int]], list[Message], int]:
    """The capture's delta batches, the sample times due after each batch, the depth messages,
    and how many objects the loader yields in all."""
    batches, messages = [], []
    pending: list[OrderBookDelta] = []
    rows = 0
    for ev in BinanceWsLoader().iter_data([data_file(DATA_FILE)], QualityReport("binance-ws")):
        rows += 1
        if not isinstance(ev, OrderBookDelta):
            continue
        pending.append(ev)
        if ev.flags & F_LAST:
            batches.append(OrderBookDeltas(ev.instrument_id, pending))
            pending = []
    for batch in batches:
        snapshot, levels = False, []
        for d in batch.deltas:
            if d.action == BookAction.CLEAR:
                snapshot = True
                continue
            price = d.order.price
            levels.append((d.order.side == OrderSide.BUY, price.raw // 10 ** (16 - price.precision),
                           0.0 if d.action == BookAction.DELETE else d.order.size.as_double()))
        messages.append((snapshot, levels))
    # samples[i]: sample times between batch i and batch i + 1 (all events with ts_init <= t fed)
    samples: list[list[int]] = [[] for _ in batches]
    t = (batches[0].ts_init // SAMPLE_NS + 1) * SAMPLE_NS
    for i, batch in enumerate(batches):
        nxt = batches[i + 1].ts_init if i + 1 < len(batches) else batch.ts_init + 1
        while t < nxt:
            if t >= batch.ts_init:
                samples[i].append(t)
            t += SAMPLE_NS
    return batches, samples, messages, rows


def features_path_legacy(ladder_cls: type, batches: list, samples: list) -> float:
    ladder = ladder_cls()
    t0 = time.perf_counter()
    for batch, times in zip(batches, samples, strict=True):
        for d in batch.deltas:
            ladder.apply(d)
        if times:
            ladder.side_totals(LEVELS)
    return time.perf_counter() - t0


def features_path(batches: list, samples: list) -> float:
    book = L2Book()
    t0 = time.perf_counter()
    for batch, times in zip(batches, samples, strict=True):
        book.apply_deltas(batch.deltas)
        if times:
            book.side_totals(LEVELS)
    return time.perf_counter() - t0


def loader_path(book_cls: type, messages: list[Message]) -> float:
    book = book_cls()
    t0 = time.perf_counter()
    for snapshot, levels in messages:
        if snapshot:
            book = book_cls()
        for is_bid, ticks, size in levels:
            book.set_level(is_bid, ticks, size)
        book.crossed_or_locked()
    return time.perf_counter() - t0


def features_end_to_end(batches: list, samples: list) -> float:
    features = IncrementalFeatures(FeatureConfig(tick_size=0.1, book_levels=LEVELS))
    t0 = time.perf_counter()
    for batch, times in zip(batches, samples, strict=True):
        features.on_book_deltas(batch)
        for t in times:
            features.sample_values(t)
    return time.perf_counter() - t0


def loader_end_to_end() -> float:
    t0 = time.perf_counter()
    for _ in BinanceWsLoader().iter_data([data_file(DATA_FILE)], QualityReport("binance-ws")):
        pass
    return time.perf_counter() - t0


def best_of(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Seconds of each run, best of ``rounds``, the runs alternating within a round.

    The cyclic garbage collector is off while a run is timed (as in ``timeit``): otherwise a run
    pays for the garbage of the one before it.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            gc.disable()
            try:
                best[name] = min(best[name], run())
            finally:
                gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the best is kept")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the books replaced")
    args = parser.parse_args()

    batches, samples, messages, rows = load()
    n_deltas = sum(len(levels) + snapshot for snapshot, levels in messages)
    n_levels = sum(len(levels) for _, levels in messages)
    print(f"{DATA_FILE}: {n_deltas:,} deltas in {len(batches):,} batches, "
          f"{sum(map(len, samples)):,} samples every {SAMPLE_NS // 1_000_000} ms")

    runs: dict[str, Callable[[], float]] = {
        "features": lambda: features_path(batches, samples),
        "loader": lambda: loader_path(L2Book, messages),
    }
    old_ladder = _legacy(args.baseline, "catalog/features/ladder.py")
    old_book = _legacy(args.baseline, "catalog/book.py")
    if old_ladder is not None and old_book is not None:
        runs["features_baseline"] = lambda: features_path_legacy(old_ladder.L2Ladder, batches, samples)
        runs["loader_baseline"] = lambda: loader_path(old_book.L2Book, messages)
    else:
        print(f"baseline {args.baseline}: not readable from git here, comparison skipped")
    runs["features_end_to_end"] = lambda: features_end_to_end(batches, samples)
    runs["loader_end_to_end"] = loader_end_to_end
    seconds = best_of(args.rounds, runs)

    def rate(name: str, n: int) -> float | None:
        return round(n / seconds[name]) if name in seconds else None

    result = {
        "data": DATA_FILE,
        "deltas": n_deltas,
        "features_deltas_per_s": rate("features", n_deltas),
        "features_baseline_deltas_per_s": rate("features_baseline", n_deltas),
        "loader_levels_per_s": rate("loader", n_levels),
        "loader_baseline_levels_per_s": rate("loader_baseline", n_levels),
        "features_end_to_end_deltas_per_s": rate("features_end_to_end", n_deltas),
        "loader_end_to_end_rows_per_s": rate("loader_end_to_end", rows),
        "baseline": args.baseline if "features_baseline" in seconds else None,
        "rounds": args.rounds,
    }
    print(f"{'path':<22}{'this book':>14}{'baseline':>14}{'ratio':>8}")
    for path, unit in (("features", "deltas/s"), ("loader", "levels/s")):
        key = "deltas" if path == "features" else "levels"
        new, old = result[f"{path}_{key}_per_s"], result[f"{path}_baseline_{key}_per_s"]
        ratio = f"{new / old:.2f}" if old else "-"
        print(f"{path + ' (' + unit + ')':<22}{new:>14,}{old or 0:>14,}{ratio:>8}")
    print(f"features end to end: {result['features_end_to_end_deltas_per_s']:,} deltas/s; "
          f"loader end to end: {result['loader_end_to_end_rows_per_s']:,} rows/s ({rows:,} rows)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
