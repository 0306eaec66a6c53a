"""``amm ingest ticks-csv``: generic tick files - bid/ask or trade CSVs, HistData, TrueFX, Parquet.

File kinds, detected per file:

* **HistData ASCII ticks** (no header, ``YYYYMMDD HHMMSSmmm,bid,ask,volume``): HistData.com writes
  Eastern Standard Time *without* daylight saving all year, i.e. fixed UTC-5; times are shifted by
  +5 h to UTC. The volume column is always 0 there and is ignored.
* **bid/ask CSV with a header** - a time column (``timestamp``, ``time``, ``datetime``, ``date``
  or ``ts``), ``bid``, ``ask`` and optionally ``bid_size`` / ``ask_size`` (TrueFX exports are this
  case). Time is ISO-8601 text (naive = UTC) or an epoch number whose unit (s / ms / us / ns) is
  detected from its magnitude, or forced with ``timestamp_unit``.
* **trade CSV with a header** - time column, ``price``, a size column (``size``, ``quantity``,
  ``qty``, ``amount``), optionally ``trade_id`` and ``side`` (buy/sell) or ``buyer_maker``.
* **Parquet** with the same column names (e.g. ``binance/btcusdt-quotes.parquet`` with
  ``timestamp, symbol, bid, ask, bid_size, ask_size``, ``btcusdt-trades.parquet`` with
  ``timestamp, trade_id, price, quantity, buyer_maker``), read in record batches.

Objects are built by NautilusTrader's ``QuoteTickDataWrangler`` / ``TradeTickDataWrangler``; quotes
without sizes get the wrangler's default size of 1,000,000 (FX feeds carry no size). Nautilus'
``CSVTickDataLoader`` / ``ParquetTickDataLoader`` read whole files; here files are read in chunks
(pandas ``chunksize``, pyarrow ``iter_batches``) so memory stays bounded.

Instrument: ``instrument_id`` if given (terms from its spec if ``get_spec`` knows it, else generic);
otherwise a generic ``CurrencyPair`` ``BASE/QUOTE.SIM`` with the pair read from the file name
(``usdjpy-ticks.csv`` -> ``USD/JPY.SIM``, HistData's ``DAT_ASCII_EURUSD_T_202001.csv`` ->
``EUR/USD.SIM``) or a ``symbol`` column. Generic instruments take the price / size precision from
the data (the most decimals seen) and carry zero fees - the report notes say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler, TradeTickDataWrangler

from catalog.instruments import build_instrument
from catalog.loaders.tabular import (
    MAX_PRECISION,
    CheckConfig,
    RowChecker,
    SpecLoader,
    check_files,
    first_line,
    float_decimals,
    generic_note,
    generic_pair,
    merge_streams,
    pair_from_filename,
    parse_time_column,
    read_csv_chunks,
    split_symbol,
    text_decimals,
)
from catalog.quality import DataQualityError, Issue, QualityReport

HISTDATA_UTC_OFFSET_NS = 5 * 3600 * 10**9
"""HistData's EST is UTC-5 all year (no DST): add 5 h to get UTC."""
DEFAULT_QUOTE_SIZE = 1_000_000.0
"""Size given to quotes that carry none (Nautilus' QuoteTickDataWrangler default)."""

_HISTDATA = re.compile(r"^\d{8} \d{9},")
_TIME_COLS = ("timestamp", "time", "datetime", "date", "ts", "ts_event")
_SIZE_COLS = ("size", "quantity", "qty", "amount", "volume")
_ID_COLS = ("trade_id", "id", "tradeid", "tid", "match_id", "agg_trade_id", "aggregate_trade_id", "exec_id")
"""Trade-id columns, by the names exchanges and archives use (Tardis and BitMEX write ``id``)."""
_DEPTH_COLS = ("update_type", "first_update_id", "last_update_id", "update_id")


@dataclass
class _Layout:
    """How to read one file."""

    path: Path
    fmt: str  # "histdata" | "csv" | "parquet"
    kind: str  # "quotes" | "trades"
    time_col: str
    columns: list[str]
    size_col: str | None = None
    has_sizes: bool = False
    id_col: str | None = None


def _layout(path: Path) -> _Layout:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            columns = pq.ParquetFile(path).schema_arrow.names
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types
            raise DataQualityError(f"{path}: cannot read Parquet: {e}") from e
        return _from_columns(path, "parquet", [c.lower() for c in columns], columns)
    line = first_line(path)
    if not line:
        raise DataQualityError(f"{path}: file is empty")
    if _HISTDATA.match(line):
        return _Layout(path, "histdata", "quotes", "datetime", ["datetime", "bid", "ask", "volume"])
    columns = [c.strip() for c in line.split(",")]
    return _from_columns(path, "csv", [c.lower() for c in columns], columns)


def _from_columns(path: Path, fmt: str, lower: list[str], original: list[str]) -> _Layout:
    time_col = next((original[lower.index(c)] for c in _TIME_COLS if c in lower), None)
    if time_col is None:
        raise DataQualityError(
            f"{path}: no time column (one of {list(_TIME_COLS)}) in {original}",
        )
    depth = [c for c in _DEPTH_COLS if c in lower]
    if depth:
        raise DataQualityError(
            f"{path}: an order-book update file (column {depth[0]!r}), not ticks; ingest it with "
            "`amm ingest binance-csv` (Binance archives) or `tardis` (incremental_book_L2)",
        )
    if "bid" in lower or "ask" in lower:
        missing = [c for c in ("bid", "ask") if c not in lower]
        if missing:
            raise DataQualityError(f"{path}: bid/ask file missing column(s) {missing}")
        sizes = [c for c in ("bid_size", "ask_size") if c in lower]
        if len(sizes) == 1:
            raise DataQualityError(f"{path}: has {sizes[0]} but not the other side's size")
        return _Layout(path, fmt, "quotes", time_col, original, has_sizes=len(sizes) == 2)
    if "price" in lower:
        size_col = next((original[lower.index(c)] for c in _SIZE_COLS if c in lower), None)
        if size_col is None:
            raise DataQualityError(f"{path}: trade file missing a size column (one of {list(_SIZE_COLS)})")
        id_col = next((original[lower.index(c)] for c in _ID_COLS if c in lower), None)
        return _Layout(path, fmt, "trades", time_col, original, size_col=size_col, id_col=id_col)
    raise DataQualityError(
        f"{path}: neither a bid/ask file (columns bid, ask) nor a trade file (price, size); "
        f"columns {original}",
    )


class TicksCsvLoader(SpecLoader):
    """Stream generic tick files (see the module docstring) as quotes / trades.

    Parameters
    ----------
    instrument_id : str, optional
        Nautilus id of the data (all files). Default: ``BASE/QUOTE.SIM`` from file name / symbol.
    spec_file : Path, optional
        Instrument spec TOML consulted (before the shipped one) when ``instrument_id`` is given.
    timestamp_unit : str, optional
        Force the unit of numeric timestamps (``s``, ``ms``, ``us``, ``ns``); default: detected.
    check : CheckConfig, optional
        Validation thresholds and chunk size.
    """

    name = "ticks-csv"

    def __init__(
        self,
        *,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        timestamp_unit: str | None = None,
        check: CheckConfig | None = None,
    ) -> None:
        if timestamp_unit not in (None, "s", "ms", "us", "ns"):
            raise ValueError(f"timestamp_unit must be s, ms, us or ns, got {timestamp_unit!r}")
        super().__init__(instrument_id=instrument_id, spec_file=spec_file, check=check)
        self.timestamp_unit = timestamp_unit

    # -- Loader protocol ---------------------------------------------------------------------------

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        paths = check_files(files, report)
        layouts = [_layout(p) for p in paths]
        ids = [self._instrument_id(lay) for lay in layouts]
        spec = self.override_spec()
        if spec is not None:
            self._instruments[spec.instrument_id] = build_instrument(spec)
        else:
            # pass 1: precision per instrument over all its files
            precision: dict[str, tuple[int, int]] = {}
            for lay, iid in zip(layouts, ids, strict=True):
                p, s = self._scan_precision(lay)
                old = precision.get(iid, (0, 0))
                precision[iid] = (max(old[0], p), max(old[1], s))
            for iid, (p, s) in precision.items():
                base, quote = split_symbol(InstrumentId.from_str(iid).symbol.value)
                self._instruments[iid] = generic_pair(iid, base, quote, p, s)
                report.notes.append(generic_note(iid, p, s))
        streams = [self._stream(lay, self._instruments[iid], report) for lay, iid in zip(layouts, ids, strict=True)]
        for obj in merge_streams(streams):
            report.written(type(obj).__name__)
            yield obj

    # -- helpers ---------------------------------------------------------------------------------

    def _instrument_id(self, lay: _Layout) -> str:
        if self.instrument_id:
            return self.instrument_id
        pair = None
        if "symbol" in [c.lower() for c in lay.columns]:
            symbol = self._first_symbol(lay)
            if symbol:
                pair = split_symbol(symbol)
        if pair is None:
            pair = pair_from_filename(lay.path)
        if pair is None:
            raise DataQualityError(
                f"{lay.path}: cannot tell the instrument (no currency pair in the file name, no "
                f"symbol column): pass --instrument, e.g. EUR/USD.SIM",
            )
        return f"{pair[0]}/{pair[1]}.SIM"

    def _first_symbol(self, lay: _Layout) -> str | None:
        col = lay.columns[[c.lower() for c in lay.columns].index("symbol")]
        for frame, _ in self._frames(lay):
            values = frame[col].dropna().astype(str)
            if len(values):
                return values.iloc[0]
        return None

    def _frames(self, lay: _Layout) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Chunks as text (CSV) or native (Parquet) frames, with 1-based line / row numbers."""
        if lay.fmt == "parquet":
            import pyarrow.parquet as pq

            start = 0
            try:
                pf = pq.ParquetFile(lay.path)
                for batch in pf.iter_batches(batch_size=self.check.chunk_rows):
                    frame = batch.to_pandas()
                    rows = np.arange(start, start + len(frame), dtype=np.int64) + 1
                    start += len(frame)
                    yield frame, rows
            except (OSError, ValueError) as e:
                raise DataQualityError(f"{lay.path}: cannot read Parquet: {e}") from e
            return
        header = lay.fmt != "histdata"
        names = lay.columns if not header else None
        yield from read_csv_chunks(lay.path, self.check.chunk_rows, header=header, names=names)

    def _col(self, lay: _Layout, name: str) -> str:
        return lay.columns[[c.lower() for c in lay.columns].index(name)]

    def _scan_precision(self, lay: _Layout) -> tuple[int, int]:
        if lay.kind == "quotes":
            price_cols = [self._col(lay, "bid"), self._col(lay, "ask")]
            size_cols = [self._col(lay, "bid_size"), self._col(lay, "ask_size")] if lay.has_sizes else []
        else:
            price_cols, size_cols = [self._col(lay, "price")], [lay.size_col]
        p = s = 0
        for frame, _ in self._frames(lay):
            for col in price_cols:
                p = max(p, _decimals(frame[col]))
            for col in size_cols:
                s = max(s, _decimals(frame[col]))
        return min(p, MAX_PRECISION), min(s, MAX_PRECISION)

    def _times(self, lay: _Layout, raw: pd.Series) -> np.ndarray:
        if lay.fmt == "histdata":
            parsed = pd.to_datetime(raw.str.strip(), format="%Y%m%d %H%M%S%f", errors="coerce")
            ns = parsed.to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
            ok = ns != np.iinfo(np.int64).min
            ns[ok] += HISTDATA_UTC_OFFSET_NS
            return ns
        if pd.api.types.is_datetime64_any_dtype(raw):
            series = raw.dt.tz_convert("UTC") if getattr(raw.dt, "tz", None) else raw
            series = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) else series
            return series.to_numpy(dtype="datetime64[ns]").view(np.int64)
        return parse_time_column(raw.astype("string"), self.timestamp_unit)

    def _numbers(self, c: RowChecker, frame: pd.DataFrame, col: str) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(frame[col]):
            return c.floats(frame[col].to_numpy(dtype=np.float64, na_value=np.nan), col)
        return c.numeric(frame[col], col)

    # -- pass 2 ----------------------------------------------------------------------------------

    def _stream(self, lay: _Layout, instrument: Instrument, report: QualityReport) -> Iterator[Data]:
        c = RowChecker(report, lay.path, self.check)
        quotes = QuoteTickDataWrangler(instrument)
        trades = TradeTickDataWrangler(instrument)
        rows = 0
        for frame, lines in self._frames(lay):
            rows += len(frame)
            report.read(f"{lay.fmt}.{lay.kind}", len(frame))
            c.begin(lines)
            ts = self._times(lay, frame[lay.time_col])
            c.drop(ts == np.iinfo(np.int64).min, Issue.MALFORMED, lay.time_col, "unparsable time")
            c.timestamps(ts, lay.time_col)
            if lay.kind == "quotes":
                df = self._quotes(lay, frame, ts, c, instrument)
                if df is not None:
                    yield from quotes.process(df, default_volume=DEFAULT_QUOTE_SIZE)
            else:
                df = self._trades(lay, frame, ts, c, instrument)
                if df is not None:
                    yield from trades.process(df)
        if rows == 0:
            raise DataQualityError(f"{lay.path}: no data rows")

    def _quotes(
        self,
        lay: _Layout,
        frame: pd.DataFrame,
        ts: np.ndarray,
        c: RowChecker,
        instrument: Instrument,
    ) -> pd.DataFrame | None:
        bid = self._numbers(c, frame, self._col(lay, "bid"))
        ask = self._numbers(c, frame, self._col(lay, "ask"))
        cols = {"bid_price": bid, "ask_price": ask}
        c.prices(bid, "bid")
        c.prices(ask, "ask")
        if lay.has_sizes:
            for side in ("bid_size", "ask_size"):
                size = self._numbers(c, frame, self._col(lay, side))
                c.sizes(size, side, allow_zero=False, precision=instrument.size_precision)
                cols[side] = size
        c.spread(bid, ask)
        c.order(ts, lay.time_col)
        c.duplicate_rows([ts, *cols.values()])
        c.outliers((bid + ask) / 2, "bid/ask")
        keep = c.finish()
        if not keep.any():
            return None
        return pd.DataFrame(
            {k: v[keep] for k, v in cols.items()},
            index=pd.to_datetime(ts[keep], unit="ns", utc=True),
        )

    def _trades(
        self,
        lay: _Layout,
        frame: pd.DataFrame,
        ts: np.ndarray,
        c: RowChecker,
        instrument: Instrument,
    ) -> pd.DataFrame | None:
        price = self._numbers(c, frame, self._col(lay, "price"))
        size = self._numbers(c, frame, lay.size_col)
        lower = [x.lower() for x in lay.columns]
        c.prices(price, "price")
        c.sizes(size, lay.size_col, allow_zero=False, precision=instrument.size_precision)
        c.order(ts, lay.time_col)
        if lay.id_col is not None:
            ids = frame[lay.id_col].astype(str).str.strip().to_numpy()
            c.drop(ids == "", Issue.NAN, lay.id_col, "empty trade id")
            c.duplicate_trade_ids(ids, lay.id_col)
        else:
            # No id in the source: a stable synthetic one (file row number), unique per file. Rows
            # alike in time, price and size are kept: one aggressor filling several resting orders
            # prints exactly that, and without an id nothing tells them from a repeated line
            # (a re-ingest of the file is deduplicated by the catalog, ids included).
            ids = np.array([f"{lay.path.stem}-{n}" for n in c.lines], dtype=object)
        c.outliers(price, "price")
        out = {"price": price, "quantity": size, "trade_id": ids}
        if "side" in lower:
            side = frame[self._col(lay, "side")].astype(str).str.strip().str.lower()
            c.drop(~side.isin(["buy", "sell"]).to_numpy(), Issue.MALFORMED, "side", "not buy/sell")
            out["side"] = side.str.upper().to_numpy()
        elif "buyer_maker" in lower:
            raw = frame[self._col(lay, "buyer_maker")].astype(str).str.strip().str.lower()
            c.drop(~raw.isin(["true", "false"]).to_numpy(), Issue.MALFORMED, "buyer_maker", "not true/false")
            out["buyer_maker"] = (raw == "true").to_numpy()
        keep = c.finish()
        if not keep.any():
            return None
        df = pd.DataFrame({k: v[keep] for k, v in out.items()}, index=pd.to_datetime(ts[keep], unit="ns", utc=True))
        if "buyer_maker" in df:
            # the wrangler tests `x is True`: hand it Python bools, not numpy.bool_
            df["buyer_maker"] = pd.Series([bool(x) for x in df["buyer_maker"]], index=df.index, dtype=object)
        return df


def _decimals(col: pd.Series) -> int:
    if pd.api.types.is_numeric_dtype(col):
        return float_decimals(col.to_numpy(dtype=np.float64, na_value=np.nan))
    return text_decimals(col)
