"""``amm ingest binance-csv``: Binance historical CSV files (data.binance.vision and the depth API).

Four file kinds, detected per file from the header row (or, in files without one, from the
``SYMBOL-<kind>-DATE`` file name and the field types), read plain or zipped (``.zip`` holding one
CSV, as the archive ships them; a ``.gz`` is read too):

* **depth** (``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu``):
  Binance's historical order-book files, ``update_type`` ``snap`` (snapshot level) or ``set`` (new
  absolute quantity at a level; 0 deletes it). -> ``OrderBookDelta``.
* **trades** (``id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]``): spot files have no
  header and end with ``is_best_match``; USD-M files have a header and no ``is_best_match``; COIN-M
  files have ``base_qty`` where USD-M has ``quote_qty`` (``qty`` is then in contracts). The
  quote/base column is not used. -> ``TradeTick``, trade id = ``id``.
* **aggTrades** (``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
  is_buyer_maker[,is_best_match]``, same header/``is_best_match`` rules as trades): trades of one
  taker order at one price, aggregated. -> ``TradeTick``, trade id = ``agg_trade_id``. Do not put
  trades and aggTrades of one market in one catalog: they are the same executions twice.
* **bookTicker** (``update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,
  transaction_time,event_time``; the archive has them for USD-M and COIN-M futures only, until
  2024-03). -> ``QuoteTick`` with ``ts_event`` = ``transaction_time`` (when the book changed) and
  ``ts_init`` = ``event_time`` (when Binance published it: the earliest a subscriber could act).
  A row whose ``update_id`` is below one already kept is dropped as ``out_of_order``, as the
  WebSocket loader does with the live stream.

Timestamps are ms, or, in spot files from 2025-01-01 on, us: the unit is detected per file from
the magnitude. For trades ``is_buyer_maker`` true means the seller was the aggressor.

Deltas follow NautilusTrader's ``BinanceOrderBookDeltaDataLoader`` mapping exactly (``snap`` ->
``ADD`` with ``F_SNAPSHOT``, ``qty == 0`` -> ``DELETE``, else ``UPDATE``; ``sequence`` =
``last_update_id``; ``b``/``a`` -> BUY/SELL) and are built by its ``OrderBookDeltaDataWrangler``,
which puts a ``CLEAR`` before each snapshot. That loader reads the whole file and maps rows with a
row-wise ``DataFrame.apply``; here the same mapping is vectorised over bounded chunks (a test
checks both give identical deltas on the fixture). Added: ``F_LAST`` on the last delta of each
update (same ``timestamp`` and ``last_update_id``), which Nautilus' batching needs (NOTES §1).

Sequence checks follow Binance's rules: a USD-M / COIN-M diff's ``pu`` must equal the previous
diff's ``last_update_id``; a spot diff's ``first_update_id`` must be the previous
``last_update_id + 1``. A break is marked ``sequence_gap`` (rows kept; the book is unreliable until
the next snapshot) and diffs older than the last snapshot are dropped as ``stale_update``.

Instrument: ``instrument_id`` if given, else ``<symbol>.BINANCE`` (symbol from the depth file's
``symbol`` column or a ``BTCUSDT-trades-...`` file name, default BTCUSDT) - Binance spot ids - except
that a COIN-M ``BTCUSD_PERP`` symbol becomes ``BTCUSD-PERP.BINANCE`` (the Binance adapter's rule; a
``_PERP`` symbol is never spot). The contract terms come from ``catalog.instruments.get_spec``
(``spec_file`` first, then the shipped ``instruments.toml``). A depth file with a ``pu`` column, a
bookTicker file and a trades/aggTrades file without ``is_best_match`` are from a futures market:
pass ``instrument_id="BTCUSDT-PERP.BINANCE"`` for them (the report notes it when it was not given;
``amm download binance`` passes the right id for the market it downloaded).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler, TradeTickDataWrangler

from catalog.instruments import build_instrument, get_spec
from catalog.loaders.tabular import (
    RowChecker,
    SpecLoader,
    check_files,
    detect_unit,
    first_line,
    merge_streams,
    parse_time_column,
    read_csv_chunks,
    require_columns,
)
from catalog.quality import DataQualityError, Issue, QualityReport

DEPTH_COLUMNS = (
    "symbol",
    "timestamp",
    "first_update_id",
    "last_update_id",
    "side",
    "update_type",
    "price",
    "qty",
)
TRADE_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match")
"""Spot trades (no header); USD-M files stop before ``is_best_match``, COIN-M say ``base_qty``."""
AGG_TRADE_COLUMNS = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
    "is_best_match",
)
"""Spot aggTrades (no header); futures files have a header and stop before ``is_best_match``."""
BOOK_TICKER_COLUMNS = (
    "update_id",
    "best_bid_price",
    "best_bid_qty",
    "best_ask_price",
    "best_ask_qty",
    "transaction_time",
    "event_time",
)
"""Futures bookTicker (USD-M and COIN-M; the archive has none for spot)."""

_REQUIRED = {
    "trades": ("id", "price", "qty", "time", "is_buyer_maker"),
    "aggTrades": ("agg_trade_id", "price", "quantity", "transact_time", "is_buyer_maker"),
    "bookTicker": BOOK_TICKER_COLUMNS,
}
_TRADE_FIELDS = {  # kind -> (trade id, size, time) columns
    "trades": ("id", "qty", "time"),
    "aggTrades": ("agg_trade_id", "quantity", "transact_time"),
}
_CANONICAL = {
    name.replace("_", ""): name
    for name in (*TRADE_COLUMNS, "base_qty", *AGG_TRADE_COLUMNS, *BOOK_TICKER_COLUMNS, "symbol")
}
"""Header spellings seen in the wild (``quoteQty``, ``is_buyer_maker``) -> the names used here."""
_MS = 1_000_000
_FILE_SYMBOL = re.compile(r"^([A-Z0-9_]+)-(?:trades|aggTrades|bookTicker|bookDepth)", re.IGNORECASE)


@dataclass(frozen=True)
class FileLayout:
    """What one file holds, as found from its first line.

    Parameters
    ----------
    kind : str
        ``depth``, ``trades``, ``aggTrades`` or ``bookTicker``.
    header : bool
        Whether the first line names the columns (futures files do, spot files do not).
    columns : tuple[str, ...]
        The column names used to read the file (a header's names made canonical, or the
        archive's documented order for a file without one).
    """

    kind: str
    header: bool
    columns: tuple[str, ...]

    @property
    def futures(self) -> bool:
        """True for the futures layouts: bookTicker, or trades without ``is_best_match``."""
        if self.kind == "bookTicker":
            return True
        return self.kind in _TRADE_FIELDS and "is_best_match" not in self.columns


def default_instrument_id(symbol: str) -> str:
    """``<SYMBOL>.BINANCE`` (spot), except ``X_PERP`` (COIN-M) -> ``X-PERP.BINANCE``."""
    s = symbol.strip().upper()
    if s.endswith("_PERP"):
        return f"{s[: -len('_PERP')]}-PERP.BINANCE"
    return f"{s}.BINANCE"


def read_first_line(path: Path) -> str:
    """The first non-empty line of a plain, gzipped or zipped (one member) CSV; '' if none."""
    if path.suffix.lower() != ".zip":
        return first_line(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise DataQualityError(
                    f"{path}: a Binance archive zip holds one CSV; this one holds {len(members)} files",
                )
            with zf.open(members[0]) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
                for line in fh:
                    if line.strip():
                        return line.strip()
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e
    return ""


def _is_bool(field: str) -> bool:
    return field.lower() in ("true", "false")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def detect_layout(path: Path) -> FileLayout:
    """Find the kind and columns of a Binance CSV from its first line.

    With a header the names decide; without one the field types do: trades have booleans in
    fields 6 (and 7), aggTrades an integer time in field 6 and booleans from field 7, bookTicker
    seven numbers.
    """
    line = read_first_line(path)
    if not line:
        raise DataQualityError(f"{path}: file is empty")
    fields = [f.strip() for f in line.split(",")]
    if "update_type" in fields or "first_update_id" in fields:
        require_columns(path, fields, DEPTH_COLUMNS)
        return FileLayout("depth", True, tuple(fields))
    if not _is_number(fields[0]):
        columns = tuple(_CANONICAL.get(f.lower().replace("_", ""), f) for f in fields)
        if "best_bid_price" in columns:
            kind = "bookTicker"
        elif "agg_trade_id" in columns or "first_trade_id" in columns:
            kind = "aggTrades"
        elif columns[0] == "id":
            kind = "trades"
        else:
            raise DataQualityError(_unknown(path, line))
        require_columns(path, columns, _REQUIRED[kind])
        return FileLayout(kind, True, columns)
    n = len(fields)
    if n in (6, 7) and _is_bool(fields[5]) and (n == 6 or _is_bool(fields[6])):
        return FileLayout("trades", False, TRADE_COLUMNS[:n])
    if n in (7, 8) and fields[5].isdigit() and _is_bool(fields[6]) and (n == 7 or _is_bool(fields[7])):
        return FileLayout("aggTrades", False, AGG_TRADE_COLUMNS[:n])
    if n == 7 and all(_is_number(f) for f in fields):
        return FileLayout("bookTicker", False, BOOK_TICKER_COLUMNS)
    raise DataQualityError(_unknown(path, line))


def _unknown(path: Path, line: str) -> str:
    return (
        f"{path}: not a Binance depth, trades ({','.join(TRADE_COLUMNS[:6])}[,is_best_match]), "
        f"aggTrades ({','.join(AGG_TRADE_COLUMNS[:7])}[,is_best_match]) or bookTicker "
        f"({','.join(BOOK_TICKER_COLUMNS)}) CSV; first line: {line[:120]!r}"
    )


def detect_kind(path: Path) -> tuple[str, bool]:
    """Return (``depth`` | ``trades`` | ``aggTrades`` | ``bookTicker``, has_header)."""
    layout = detect_layout(path)
    return layout.kind, layout.header


class BinanceCsvLoader(SpecLoader):
    """Stream Binance historical depth / trades / aggTrades / bookTicker CSV files as Nautilus data.

    Parameters
    ----------
    instrument_id : str, optional
        Nautilus id of the data's instrument (default ``<symbol>.BINANCE``, spot; see the
        module docstring for COIN-M symbols and futures files).
    spec_file : Path, optional
        Instrument spec TOML consulted before the shipped ``catalog/instruments.toml``.
    check : CheckConfig, optional
        Validation thresholds and chunk size.
    """

    name = "binance-csv"

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        paths = check_files(files, report)
        streams = []
        for path in paths:
            layout = detect_layout(path)
            if layout.kind == "depth":
                streams.append(self._depth(path, report))
            elif layout.kind == "bookTicker":
                streams.append(self._book_ticker(path, layout, report))
            else:
                streams.append(self._trades(path, layout, report))
        for obj in merge_streams(streams):
            report.written(type(obj).__name__)
            yield obj

    # -- instruments -----------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        self._native_ids.add(default_instrument_id(symbol))
        iid = self.instrument_id or default_instrument_id(symbol)
        if iid not in self._instruments:
            try:
                spec = get_spec(iid, self.spec_file)
            except ValueError as e:
                raise DataQualityError(str(e)) from e
            self._instruments[iid] = build_instrument(spec)
        return self._instruments[iid]

    def _file_instrument(self, path: Path, layout: FileLayout, report: QualityReport) -> Instrument:
        """The instrument of a trades / aggTrades / bookTicker file (symbol from its name)."""
        m = _FILE_SYMBOL.match(path.name)
        instrument = self._instrument(m.group(1) if m else "BTCUSDT")
        iid = instrument.id.value
        if layout.futures and not self.instrument_id and not iid.endswith("-PERP.BINANCE"):
            perp = iid.replace(".BINANCE", "-PERP.BINANCE")
            report.notes.append(
                f"{path}: a {layout.kind} file in a futures layout (no is_best_match column, or "
                f"bookTicker) but no instrument was given: written as {iid} (spot id); pass "
                f"--instrument {perp} for the perpetual",
            )
        return instrument

    def _chunks(self, path: Path, layout: FileLayout) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """CSV chunks with the layout's column names (a header's spellings made canonical)."""
        names = None if layout.header else list(layout.columns)
        try:
            for chunk, lines in read_csv_chunks(path, self.check.chunk_rows, header=layout.header, names=names):
                if layout.header:
                    chunk.columns = list(layout.columns)
                yield chunk, lines
        except zipfile.BadZipFile as e:  # a CRC error mid-file surfaces here, not at open
            raise DataQualityError(f"{path}: cannot read: {e}") from e

    # -- depth -----------------------------------------------------------------------------------

    def _depth(self, path: Path, report: QualityReport) -> Iterator[Data]:
        checker = RowChecker(report, path, self.check)
        state = {"last_u": None, "snapshot_u": None, "noted_pu": False}
        carry: pd.DataFrame | None = None
        carry_lines = np.zeros(0, dtype=np.int64)
        wrangler: OrderBookDeltaDataWrangler | None = None
        rows = 0
        for chunk, lines in read_csv_chunks(path, self.check.chunk_rows, header=True):
            rows += len(chunk)
            report.read("binance.depth", len(chunk))
            if len(chunk) == 0:
                continue
            if carry is not None:
                chunk = pd.concat([carry, chunk], ignore_index=True)
                lines = np.concatenate([carry_lines, lines])
            # hold back the last update (same timestamp + last_update_id): it may continue
            key = chunk["timestamp"].astype(str) + "|" + chunk["last_update_id"].astype(str)
            tail = key.eq(key.iloc[-1]).to_numpy()
            tail_start = len(chunk) - int(np.argmin(tail[::-1])) if not tail.all() else 0
            if tail_start == 0:  # the whole chunk is one update: keep reading
                carry, carry_lines = chunk, lines
                continue
            else:
                carry, carry_lines = chunk.iloc[tail_start:], lines[tail_start:]
                chunk, lines = chunk.iloc[:tail_start].reset_index(drop=True), lines[:tail_start]
            frame = self._depth_frame(path, chunk, lines, checker, state, report)
            if frame is None:
                continue
            if wrangler is None:
                wrangler = OrderBookDeltaDataWrangler(self._instrument(str(frame.attrs["symbol"])))
            yield from _wrangle_deltas(wrangler, frame)
        if carry is not None and len(carry):
            frame = self._depth_frame(path, carry.reset_index(drop=True), carry_lines, checker, state, report)
            if frame is not None:
                if wrangler is None:
                    wrangler = OrderBookDeltaDataWrangler(self._instrument(str(frame.attrs["symbol"])))
                yield from _wrangle_deltas(wrangler, frame)
        if rows == 0:
            raise DataQualityError(f"{path}: no data rows (header only)")

    def _depth_frame(
        self,
        path: Path,
        chunk: pd.DataFrame,
        lines: np.ndarray,
        c: RowChecker,
        state: dict,
        report: QualityReport,
    ) -> pd.DataFrame | None:
        """Validate one chunk of depth rows; return the wrangler's input frame (or None)."""
        c.begin(lines)
        ts_ms = c.numeric(chunk["timestamp"], "timestamp")
        first_u = c.numeric(chunk["first_update_id"], "first_update_id")
        last_u = c.numeric(chunk["last_update_id"], "last_update_id")
        price = c.numeric(chunk["price"], "price")
        qty = c.numeric(chunk["qty"], "qty")
        side = chunk["side"].str.strip().str.lower()
        utype = chunk["update_type"].str.strip().str.lower()
        c.drop(~side.isin(["b", "a"]).to_numpy(), Issue.MALFORMED, "side", "not b/a")
        c.drop(~utype.isin(["snap", "set"]).to_numpy(), Issue.MALFORMED, "update_type", "not snap/set")
        ts_ns = np.nan_to_num(ts_ms).astype(np.int64) * _MS
        c.timestamps(ts_ns, "timestamp")
        c.prices(price, "price")
        is_snap = utype.eq("snap").to_numpy()
        c.sizes(qty, "qty", allow_zero=True)
        c.drop(is_snap & (qty == 0), Issue.ZERO_SIZE, "qty", "snapshot level with qty 0")
        # diffs older than the last snapshot: Binance says discard them
        if state["snapshot_u"] is not None:
            c.drop(~is_snap & (last_u <= state["snapshot_u"]), Issue.STALE_UPDATE, "last_update_id",
                   "diff older than the snapshot")
        has_pu = "pu" in chunk.columns
        pu_all = c.numeric(chunk["pu"], "pu", required=False) if has_pu else None
        c.order(ts_ns, "timestamp")
        c.duplicate_rows([ts_ns, last_u, side.to_numpy(), utype.to_numpy(), price, qty])
        keep = c.finish()
        if not keep.any():
            return None
        sym = chunk["symbol"][keep].str.strip()
        if has_pu and not state["noted_pu"] and not self.instrument_id:
            report.notes.append(
                f"{path}: has a 'pu' column (USD-M/COIN-M futures depth) but no instrument was "
                f"given: written as {sym.iloc[0]}.BINANCE (spot id); pass --instrument "
                f"{sym.iloc[0]}-PERP.BINANCE for the perpetual",
            )
            state["noted_pu"] = True
        pu = pu_all[keep] if pu_all is not None else None
        df = pd.DataFrame(
            {
                "ts": ts_ns[keep],
                "first_u": first_u[keep].astype(np.int64),
                "last_u": last_u[keep].astype(np.int64),
                "snap": is_snap[keep],
                "side": side[keep].map({"b": "BUY", "a": "SELL"}).to_numpy(),
                "price": price[keep],
                "size": qty[keep],
                "line": lines[keep],
            },
        )
        self._mark_gaps(path, df, pu, state, report)
        # Nautilus' BinanceOrderBookDeltaDataLoader mapping, vectorised
        action = np.where(df["snap"], "ADD", np.where(df["size"] == 0, "DELETE", "UPDATE"))
        flags = np.where(df["snap"], RecordFlag.F_SNAPSHOT.value, 0)
        group = df["ts"].astype(str) + "|" + df["last_u"].astype(str)
        last_of_group = group.ne(group.shift(-1)).to_numpy()
        flags = flags | np.where(last_of_group, RecordFlag.F_LAST.value, 0)
        out = pd.DataFrame(
            {
                "action": action,
                "side": df["side"].to_numpy(),
                "price": df["price"].to_numpy(),
                "size": df["size"].to_numpy(),
                "order_id": 0,
                "flags": flags.astype(np.uint8),
                "sequence": df["last_u"].to_numpy(),
            },
            index=pd.to_datetime(df["ts"].to_numpy(), unit="ns", utc=True),
        )
        # each snapshot (one update id) starts a segment, so the wrangler CLEARs the book first
        new_group = np.concatenate(([True], group.to_numpy()[1:] != group.to_numpy()[:-1]))
        out["segment"] = np.cumsum(df["snap"].to_numpy() & new_group)
        out.attrs["symbol"] = sym.iloc[0]
        return out

    def _mark_gaps(
        self,
        path: Path,
        df: pd.DataFrame,
        pu: np.ndarray | None,
        state: dict,
        report: QualityReport,
    ) -> None:
        """Mark update-id breaks between consecutive diffs (rows are kept)."""
        groups = df.drop_duplicates(["ts", "last_u"], keep="first")
        prev_u = state["last_u"]
        pu_by_row = pu
        for pos, row in zip(groups.index, groups.itertuples(index=False), strict=True):
            if row.snap:
                state["snapshot_u"] = row.last_u
                prev_u = row.last_u
                continue
            if prev_u is not None:
                if pu_by_row is not None and not np.isnan(pu_by_row[pos]) and pu_by_row[pos] >= 0:
                    ok = int(pu_by_row[pos]) == prev_u
                else:
                    ok = row.first_u <= prev_u + 1
                if not ok:
                    report.problem(
                        Issue.SEQUENCE_GAP,
                        file=path,
                        line=int(row.line),
                        field_name="pu" if pu_by_row is not None else "first_update_id",
                        detail=f"update ids jump from {prev_u} to {row.first_u}: book unreliable "
                        f"until the next snapshot",
                        handling="marked",
                    )
            prev_u = row.last_u
        state["last_u"] = prev_u

    # -- trades and aggTrades --------------------------------------------------------------------

    def _trades(self, path: Path, layout: FileLayout, report: QualityReport) -> Iterator[Data]:
        instrument = self._file_instrument(path, layout, report)
        wrangler = TradeTickDataWrangler(instrument)
        id_col, qty_col, time_col = _TRADE_FIELDS[layout.kind]
        c = RowChecker(report, path, self.check)
        unit: str | None = None
        rows = 0
        for chunk, lines in self._chunks(path, layout):
            rows += len(chunk)
            report.read(f"binance.{layout.kind}", len(chunk))
            c.begin(lines)
            price = c.numeric(chunk["price"], "price")
            qty = c.numeric(chunk[qty_col], qty_col)
            time_raw = chunk[time_col]
            tnum = c.numeric(time_raw, time_col)
            if unit is None and np.isfinite(tnum).any():
                unit = detect_unit(tnum[np.isfinite(tnum)])
            ts_ns = parse_time_column(time_raw.where(c.keep, "0"), unit or "ms")
            maker = chunk["is_buyer_maker"].str.strip().str.lower()
            c.drop(~maker.isin(["true", "false"]).to_numpy(), Issue.MALFORMED, "is_buyer_maker", "not true/false")
            c.timestamps(ts_ns, time_col)
            c.prices(price, "price")
            c.sizes(qty, qty_col, allow_zero=False, precision=instrument.size_precision)
            c.order(ts_ns, time_col)
            ids = chunk[id_col].str.strip().to_numpy()
            c.duplicate_trade_ids(ids, id_col)
            c.outliers(price, "price")
            keep = c.finish()
            if not keep.any():
                continue
            df = pd.DataFrame(
                {
                    "price": price[keep],
                    "quantity": qty[keep],
                    "trade_id": ids[keep],
                    "buyer_maker": [v == "true" for v in maker[keep]],
                },
                index=pd.to_datetime(ts_ns[keep], unit="ns", utc=True),
            )
            yield from wrangler.process(df)
        if rows == 0:
            raise DataQualityError(f"{path}: no data rows")

    # -- bookTicker ------------------------------------------------------------------------------

    def _book_ticker(self, path: Path, layout: FileLayout, report: QualityReport) -> Iterator[Data]:
        instrument = self._file_instrument(path, layout, report)
        iid, price_prec, size_prec = instrument.id, instrument.price_precision, instrument.size_precision
        c = RowChecker(report, path, self.check)
        unit: str | None = None
        max_update_id = -np.inf
        rows = 0
        for chunk, lines in self._chunks(path, layout):
            rows += len(chunk)
            report.read("binance.bookTicker", len(chunk))
            c.begin(lines)
            update_id = c.numeric(chunk["update_id"], "update_id")
            bid = c.numeric(chunk["best_bid_price"], "best_bid_price")
            bid_qty = c.numeric(chunk["best_bid_qty"], "best_bid_qty")
            ask = c.numeric(chunk["best_ask_price"], "best_ask_price")
            ask_qty = c.numeric(chunk["best_ask_qty"], "best_ask_qty")
            c.numeric(chunk["transaction_time"], "transaction_time")
            ev = c.numeric(chunk["event_time"], "event_time")
            if unit is None and np.isfinite(ev).any():
                unit = detect_unit(ev[np.isfinite(ev)])
            ts_event = parse_time_column(chunk["transaction_time"].where(c.keep, "0"), unit or "ms")
            ts_init = parse_time_column(chunk["event_time"].where(c.keep, "0"), unit or "ms")
            c.timestamps(ts_event, "transaction_time")
            c.timestamps(ts_init, "event_time")
            c.prices(bid, "best_bid_price")
            c.prices(ask, "best_ask_price")
            c.sizes(bid_qty, "best_bid_qty", allow_zero=False, precision=size_prec)
            c.sizes(ask_qty, "best_ask_qty", allow_zero=False, precision=size_prec)
            c.spread(bid, ask, "best_bid_price/best_ask_price")
            max_update_id = _drop_update_id_backwards(c, update_id, max_update_id)
            c.order(ts_init, "event_time")
            c.duplicate_rows([update_id, bid, bid_qty, ask, ask_qty])
            c.outliers((bid + ask) / 2, "best_bid_price/best_ask_price")
            keep = c.finish()
            if not keep.any():
                continue
            yield from QuoteTick.from_raw_arrays_to_list(
                iid,
                price_prec,
                size_prec,
                bid[keep],
                ask[keep],
                bid_qty[keep],
                ask_qty[keep],
                ts_event[keep].astype(np.uint64),
                ts_init[keep].astype(np.uint64),
            )
        if rows == 0:
            raise DataQualityError(f"{path}: no data rows")


def _drop_update_id_backwards(c: RowChecker, update_id: np.ndarray, max_before: float) -> float:
    """Drop rows whose ``update_id`` is below one already kept (``out_of_order``); return the new max.

    Binance's book update ids only grow per symbol, so such a row is an older book state
    delivered late (the WebSocket loader applies the same rule to the live stream).
    """
    kept = np.where(c.keep, update_id, -np.inf)
    running = np.maximum.accumulate(kept) if len(kept) else kept
    before = np.concatenate(([max_before], np.maximum(running[:-1], max_before))) if len(kept) else kept
    c.drop(update_id < before, Issue.OUT_OF_ORDER, "update_id", "book update id goes backwards")
    if c.keep.any():
        max_before = max(max_before, float(update_id[c.keep].max()))
    return max_before


def _wrangle_deltas(wrangler: OrderBookDeltaDataWrangler, frame: pd.DataFrame) -> Iterator[Data]:
    """Build deltas segment by segment so the wrangler puts a CLEAR before every snapshot."""
    for _, part in frame.groupby("segment", sort=False):
        yield from wrangler.process(part.drop(columns="segment"))
