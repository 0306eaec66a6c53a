"""Summarise what a catalog holds, from file names and Parquet metadata only (no data reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from nautilus_trader.core.datetime import unix_nanos_to_iso8601
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.migrate import check_layout
from catalog.writer import _parse_interval

_INSTRUMENT_CLASSES = {
    "currency_pair", "crypto_perpetual", "crypto_future", "futures_contract", "equity",
    "options_contract", "betting_instrument", "binary_option", "crypto_option", "cfd",
    "commodity", "index_instrument", "synthetic_instrument", "futures_spread", "option_spread",
}


def catalog_info(catalog_path: Path) -> dict[str, Any]:
    """Instruments, and per (data type, instrument): files, rows and time span."""
    root = Path(catalog_path)
    if not (root / "data").is_dir():
        raise FileNotFoundError(f"{root}: not a catalog (no data/ directory); run `amm ingest` first")
    check_layout(root)
    catalog = ParquetDataCatalog(str(root))
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
    for type_dir in sorted((root / "data").iterdir()):
        if not type_dir.is_dir() or type_dir.name in _INSTRUMENT_CLASSES:
            continue
        for id_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            files = sorted(id_dir.glob("*.parquet"))
            if not files:
                continue
            spans = [s for s in (_parse_interval(f) for f in files) if s]
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            start = min(s[0] for s in spans) if spans else None
            end = max(s[1] for s in spans) if spans else None
            data.append({
                "type": type_dir.name,
                "identifier": id_dir.name,
                "files": len(files),
                "rows": rows,
                "start": unix_nanos_to_iso8601(start) if start is not None else None,
                "end": unix_nanos_to_iso8601(end) if end is not None else None,
                "start_ns": start,
                "end_ns": end,
            })
    return {"catalog": str(root.resolve()), "instruments": instruments, "data": data}
