"""Read one instrument's replay window out of a ``ParquetDataCatalog``.

The book type of the venue decides which data a backtest needs, so both the RL environment and the
backtest runner ask here instead of querying the catalog themselves:

* ``L1_MBP``: ``QuoteTick`` + ``TradeTick`` (top of book; trades touch the L1 book, see
  ``backtests.venue``);
* ``L2_MBP`` / ``L3_MBO``: ``OrderBookDelta`` + ``TradeTick``, plus ``QuoteTick`` when the catalog
  has them (strategies may subscribe to quotes; the matching engine only uses the deltas).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

TimeLike = str | int | datetime | pd.Timestamp | None

INGEST_HINT = (
    "ingest it first, e.g. `amm ingest binance-ws /path/to/btcusdt_20240808.gz --catalog {catalog}` "
    "(see `amm ingest --help`)"
)


class CatalogDataError(ValueError):
    """The catalog lacks the instrument or the data a backtest needs (message says how to ingest)."""


def data_classes(book_type: str) -> tuple[list[type], list[type]]:
    """Return ``(required, optional)`` data classes for a venue book type."""
    if book_type == "L1_MBP":
        return [QuoteTick, TradeTick], []
    if book_type in ("L2_MBP", "L3_MBO"):
        return [OrderBookDelta, TradeTick], [QuoteTick]
    raise ValueError(f"book_type: must be one of L1_MBP, L2_MBP, L3_MBO, got {book_type!r}")


def to_ns(value: TimeLike, *, name: str = "time") -> int | None:
    """Convert an ISO-8601 string, a datetime or UNIX nanoseconds to UNIX nanoseconds (UTC).

    Naive strings are taken as UTC; ``None`` and an empty string mean "no bound".
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a timestamp, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name}: cannot parse timestamp {value!r} (use ISO-8601 or ns)") from e
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def open_catalog(catalog_path: str | Path) -> ParquetDataCatalog:
    path = Path(catalog_path)
    if not (path / "data").is_dir():
        raise CatalogDataError(
            f"{path}: not a data catalog (no data/ directory); "
            + INGEST_HINT.format(catalog=path),
        )
    return ParquetDataCatalog(str(path))


def load_instrument(catalog: ParquetDataCatalog, instrument_id: str) -> Instrument:
    instruments = catalog.instruments(instrument_ids=[instrument_id])
    if not instruments:
        known = sorted(str(i.id) for i in catalog.instruments())
        raise CatalogDataError(
            f"{catalog.path}: instrument {instrument_id} not in catalog (has {known or 'none'}); "
            + INGEST_HINT.format(catalog=catalog.path),
        )
    return instruments[-1]


def _has_files(catalog: ParquetDataCatalog, cls: type, instrument_id: str) -> bool:
    return bool(catalog.get_intervals(cls, instrument_id))


def load_window(
    catalog_path: str | Path,
    instrument_id: str,
    start: TimeLike,
    end: TimeLike,
    book_type: str,
) -> tuple[Instrument, list[Data]]:
    """Return the instrument and the data a ``book_type`` venue needs, sorted by ``ts_init``.

    Parameters
    ----------
    catalog_path : str or Path
        A ``ParquetDataCatalog`` directory.
    instrument_id : str
        E.g. ``BTCUSDT-PERP.BINANCE``.
    start, end : str, int or None
        Inclusive window bounds (ISO-8601, or UNIX ns); None = from the first / to the last event.
    book_type : {"L1_MBP", "L2_MBP", "L3_MBO"}
        Venue book type (see module docstring).

    Raises
    ------
    CatalogDataError
        If the catalog lacks the instrument, a required data type, or any data in the window.
    """
    required, optional = data_classes(book_type)
    catalog = open_catalog(catalog_path)
    instrument = load_instrument(catalog, instrument_id)
    start_ns, end_ns = to_ns(start, name="start"), to_ns(end, name="end")
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        raise ValueError(f"end ({end}) is before start ({start})")
    data: list[Data] = []
    for cls in required + optional:
        if not _has_files(catalog, cls, instrument_id):
            if cls in optional:
                continue
            raise CatalogDataError(
                f"{catalog.path}: no {cls.__name__} data for {instrument_id}, which a {book_type} "
                f"venue needs; " + INGEST_HINT.format(catalog=catalog.path),
            )
        chunk = catalog.query(cls, identifiers=[instrument_id], start=start_ns, end=end_ns)
        if not chunk and cls in required:
            span = data_span(catalog_path, instrument_id)
            raise CatalogDataError(
                f"{catalog.path}: no {cls.__name__} for {instrument_id} between {start} and {end}; "
                f"the catalog covers {_fmt(span[0])} .. {_fmt(span[1])}",
            )
        data.extend(chunk)
    data.sort(key=lambda d: d.ts_init)  # stable: keeps each type's own order at equal ts_init
    return instrument, data


def data_span(catalog_path: str | Path, instrument_id: str) -> tuple[int, int]:
    """Return ``(first_ts_init_ns, last_ts_init_ns)`` over all market data of ``instrument_id``.

    Read from the catalog's file names (``<first>_<last>.parquet``), so it costs no data read.
    """
    catalog = open_catalog(catalog_path)
    intervals = [
        iv
        for cls in (QuoteTick, TradeTick, OrderBookDelta)
        for iv in catalog.get_intervals(cls, instrument_id)
    ]
    if not intervals:
        raise CatalogDataError(
            f"{catalog.path}: no market data for {instrument_id}; "
            + INGEST_HINT.format(catalog=catalog.path),
        )
    return min(iv[0] for iv in intervals), max(iv[1] for iv in intervals)


def _fmt(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def classes_to_load(catalog_path: str | Path, instrument_id: str, book_type: str) -> list[type]:
    """Check the catalog has what a ``book_type`` venue needs; return the data classes to load.

    Same checks and messages as :func:`load_window`, without reading any data (the
    ``BacktestNode`` path reads the catalog itself).
    """
    required, optional = data_classes(book_type)
    catalog = open_catalog(catalog_path)
    load_instrument(catalog, instrument_id)
    out = []
    for cls in required + optional:
        if _has_files(catalog, cls, instrument_id):
            out.append(cls)
        elif cls in required:
            raise CatalogDataError(
                f"{catalog.path}: no {cls.__name__} data for {instrument_id}, which a {book_type} "
                f"venue needs; " + INGEST_HINT.format(catalog=catalog.path),
            )
    return out
