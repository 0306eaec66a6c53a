"""Summarise what a catalog holds: from file names and Parquet metadata only (no data reads), or
per UTC day, from the ``ts_init`` column alone (8 bytes a row: a year of data reads in seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from nautilus_trader.core.datetime import unix_nanos_to_iso8601

from catalog.window import open_catalog
from catalog.writer import _parse_interval

_INSTRUMENT_CLASSES = {
    "currency_pair", "crypto_perpetual", "crypto_future", "futures_contract", "equity",
    "options_contract", "betting_instrument", "binary_option", "crypto_option", "cfd",
    "commodity", "index_instrument", "synthetic_instrument", "futures_spread", "option_spread",
}


def catalog_info(catalog_path: Path) -> dict[str, Any]:
    """Instruments, and per (data type, instrument): files, rows and time span."""
    root = Path(catalog_path)
    catalog = open_catalog(root)
    instruments = [
        {
            "id": i.id.value,
            "type": type(i).__name__,
            "tick_size": str(i.price_increment),
            "lot_size": str(i.size_increment),
            "multiplier": str(i.multiplier),
            "maker_fee": str(i.maker_fee),
            "taker_fee": str(i.taker_fee),
        }
        for i in catalog.instruments()
    ]
    data = []
    for type_name, identifier, files in _series(root):
        spans = [s for s in (_parse_interval(f) for f in files) if s]
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        start = min(s[0] for s in spans) if spans else None
        end = max(s[1] for s in spans) if spans else None
        data.append({
            "type": type_name,
            "identifier": identifier,
            "files": len(files),
            "rows": rows,
            "start": unix_nanos_to_iso8601(start) if start is not None else None,
            "end": unix_nanos_to_iso8601(end) if end is not None else None,
            "start_ns": start,
            "end_ns": end,
        })
    return {"catalog": str(root.resolve()), "instruments": instruments, "data": data}


def _series(root: Path) -> list[tuple[str, str, list[Path]]]:
    """(data type directory, instrument, its Parquet files) for every data series of a catalog."""
    out = []
    for type_dir in sorted((root / "data").iterdir()):
        if not type_dir.is_dir() or type_dir.name in _INSTRUMENT_CLASSES:
            continue
        for id_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            files = sorted(id_dir.glob("*.parquet"))
            if files:
                out.append((type_dir.name, id_dir.name, files))
    return out


_NS_PER_DAY = 86_400 * 10**9


def catalog_days(catalog_path: Path) -> dict[str, Any]:
    """Rows and time span per (UTC day, data type, instrument): what ``amm catalog info --by-day`` shows.

    A multi-day catalog is used a day (or a window) at a time, so this is the table a user picks
    windows from. UTC days hold a whole US equity session (09:30-16:00 ET is 13:30-20:00 UTC in summer, 14:30-21:00 in winter).
    """
    root = Path(catalog_path)
    open_catalog(root)  # the same checks (a catalog, in 1.231's layout) as every reader
    rows: list[dict[str, Any]] = []
    for type_name, identifier, files in _series(root):
        per_day: dict[int, list[int]] = {}  # day -> [rows, first ts, last ts]
        for f in files:
            ts = pq.read_table(f, columns=["ts_init"]).column("ts_init").to_numpy()
            if len(ts) == 0:
                continue
            days = ts // _NS_PER_DAY
            cuts = np.flatnonzero(np.diff(days)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(ts)], strict=True):
                day = int(days[lo])
                first, last = int(ts[lo:hi].min()), int(ts[lo:hi].max())
                entry = per_day.setdefault(day, [0, first, last])
                entry[0] += int(hi - lo)
                entry[1], entry[2] = min(entry[1], first), max(entry[2], last)
        for day, (n, first, last) in sorted(per_day.items()):
            rows.append({
                "day": unix_nanos_to_iso8601(day * _NS_PER_DAY)[:10],
                "type": type_name,
                "identifier": identifier,
                "rows": n,
                "start": unix_nanos_to_iso8601(first),
                "end": unix_nanos_to_iso8601(last),
                "start_ns": first,
                "end_ns": last,
            })
    rows.sort(key=lambda r: (r["day"], r["identifier"], r["type"]))
    return {"catalog": str(root.resolve()), "days": rows}
