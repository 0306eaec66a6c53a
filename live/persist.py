"""Move the market data a live node streamed to disk into its Parquet catalog.

With ``node.catalog_path`` set, the node runs Nautilus' streaming persistence
(``StreamingConfig``): every quote, trade and book delta published on the message bus is appended
to Arrow stream (feather) files under ``<catalog>/live/<instance_id>/``. Those files are the
crash-safe journal; the queryable catalog is Parquet. :func:`persist_live_runs` converts each run
with ``ParquetDataCatalog.convert_stream_to_data`` and deletes the feather files it converted, so
after a node stops, ``amm backtest`` / ``amm train`` read the recent data from the same catalog.
The node calls it on shutdown; ``amm live-persist`` does it for runs that ended in a crash.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nautilus_trader.model.data import OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename

PERSISTED_CLASSES = {"quotes": QuoteTick, "trades": TradeTick, "deltas": OrderBookDelta}


def live_runs(catalog_path: Path | str) -> list[str]:
    """Instance ids of the live runs whose streamed data has not been converted yet."""
    root = Path(catalog_path) / "live"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.rglob("*.feather")))


def persist_live_run(
    catalog_path: Path | str,
    instance_id: str,
    keep_stream: bool = False,
    instruments: list[Instrument] | None = None,
) -> dict[str, int]:
    """Convert one run's streamed market data into Parquet; return rows per data type.

    Parameters
    ----------
    catalog_path : Path or str
        The node's ``catalog_path``.
    instance_id : str
        The run (the node's instance id, a directory under ``<catalog>/live/``).
    keep_stream : bool, default False
        Keep the feather files after conversion (default: delete them, the Parquet copy is the record).
    instruments : list[Instrument], optional
        Instrument definitions to write beside the data (the node's, as the venue sent them);
        the stream holds market data only, and a catalog without them cannot be backtested.

    """
    catalog = ParquetDataCatalog(str(catalog_path))
    run_dir = Path(catalog_path) / "live" / instance_id
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no streamed data for run {instance_id}")
    before = _row_counts(catalog)
    if instruments:
        catalog.write_data(instruments, skip_disjoint_check=True)
    for cls in PERSISTED_CLASSES.values():
        if (run_dir / class_to_filename(cls)).is_dir():
            catalog.convert_stream_to_data(instance_id, cls, subdirectory="live")
    after = _row_counts(catalog)
    if not keep_stream:
        shutil.rmtree(run_dir)
    return {name: after.get(name, 0) - before.get(name, 0) for name in PERSISTED_CLASSES}


def persist_live_runs(catalog_path: Path | str, keep_stream: bool = False) -> dict[str, dict[str, int]]:
    """Convert every pending live run in the catalog; return rows per run and data type."""
    return {run: persist_live_run(catalog_path, run, keep_stream) for run in live_runs(catalog_path)}


def _row_counts(catalog: ParquetDataCatalog) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    root = Path(catalog.path) / "data"
    for name, cls in PERSISTED_CLASSES.items():
        table_dir = root / class_to_filename(cls)
        if table_dir.is_dir():
            counts[name] = sum(pq.ParquetFile(f).metadata.num_rows for f in table_dir.rglob("*.parquet"))
    return counts
