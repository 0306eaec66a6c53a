"""``amm ingest binance-csv``: Binance historical CSV files (data.binance.vision and the depth API).

Two file kinds, detected per file:

* **depth** (``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu``):
  Binance's historical order-book files, ``update_type`` ``snap`` (snapshot level) or ``set`` (new
  absolute quantity at a level; 0 deletes it). -> ``OrderBookDelta``.
* **trades** (``id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]``, with or without a
  header, ``time`` in ms or, for spot files from 2025 on, us - detected from the magnitude).
  -> ``TradeTick`` (``is_buyer_maker`` true means the seller was the aggressor).

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
``symbol`` column or a ``BTCUSDT-trades-...`` file name, default BTCUSDT) - Binance spot ids. The
contract terms come from ``catalog.instruments.get_spec`` (``spec_file`` first, then the shipped
``instruments.toml``); a depth file with a ``pu`` column is from a futures market, so pass
``instrument_id="BTCUSDT-PERP.BINANCE"`` for it (the report notes this).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler, TradeTickDataWrangler

from catalog.instruments import build_instrument, get_spec
from catalog.loaders.tabular import (
    RowChecker,
    SpecLoader,
    check_file,
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
_MS = 1_000_000
_FILE_SYMBOL = re.compile(r"^([A-Z0-9]+)-(?:trades|aggTrades|bookDepth)", re.IGNORECASE)


def detect_kind(path: Path) -> tuple[str, bool]:
    """Return (``depth`` | ``trades``, has_header)."""
    line = first_line(path)
    if not line:
        raise DataQualityError(f"{path}: file is empty")
    fields = [f.strip() for f in line.split(",")]
    if "update_type" in fields or "first_update_id" in fields:
        require_columns(path, fields, DEPTH_COLUMNS)
        return "depth", True
    if fields[0].lower() == "id":
        require_columns(path, fields, TRADE_COLUMNS[:6])
        return "trades", True
    if fields[0].isdigit() and len(fields) in (6, 7):
        return "trades", False
    raise DataQualityError(
        f"{path}: not a Binance depth CSV (columns {list(DEPTH_COLUMNS)}) nor a trades CSV "
        f"({','.join(TRADE_COLUMNS[:6])}[,is_best_match]); first line: {line[:120]!r}",
    )


class BinanceCsvLoader(SpecLoader):
    """Stream Binance historical depth / trades CSV files as Nautilus data.

    Parameters
    ----------
    instrument_id : str, optional
        Nautilus id of the data's instrument (default ``<symbol>.BINANCE``, spot).
    spec_file : Path, optional
        Instrument spec TOML consulted before the shipped ``catalog/instruments.toml``.
    check : CheckConfig, optional
        Validation thresholds and chunk size.
    """

    name = "binance-csv"

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        paths = [check_file(Path(f)) for f in files]
        report.files.extend(str(p) for p in paths)
        streams = []
        for path in paths:
            kind, header = detect_kind(path)
            if kind == "depth":
                streams.append(self._depth(path, report))
            else:
                streams.append(self._trades(path, header, report))
        for obj in merge_streams(streams):
            report.written(type(obj).__name__)
            yield obj

    # -- instruments -----------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        iid = self.instrument_id or f"{symbol.upper()}.BINANCE"
        if iid not in self._instruments:
            try:
                spec = get_spec(iid, self.spec_file)
            except ValueError as e:
                raise DataQualityError(str(e)) from e
            self._instruments[iid] = build_instrument(spec)
        return self._instruments[iid]

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

    # -- trades ----------------------------------------------------------------------------------

    def _trades(self, path: Path, header: bool, report: QualityReport) -> Iterator[Data]:
        m = _FILE_SYMBOL.match(path.name)
        instrument = self._instrument(m.group(1) if m else "BTCUSDT")
        wrangler = TradeTickDataWrangler(instrument)
        c = RowChecker(report, path, self.check)
        names = None if header else list(TRADE_COLUMNS)
        unit: str | None = None
        rows = 0
        for chunk, lines in read_csv_chunks(path, self.check.chunk_rows, header=header, names=names):
            rows += len(chunk)
            report.read("binance.trades", len(chunk))
            if not header and chunk.shape[1] > len(TRADE_COLUMNS):
                raise DataQualityError(f"{path}: more than {len(TRADE_COLUMNS)} columns")
            c.begin(lines)
            price = c.numeric(chunk["price"], "price")
            qty = c.numeric(chunk["qty"], "qty")
            time_raw = chunk["time"]
            tnum = c.numeric(time_raw, "time")
            if unit is None and np.isfinite(tnum).any():
                from catalog.loaders.tabular import detect_unit

                unit = detect_unit(tnum[np.isfinite(tnum)])
            ts_ns = parse_time_column(time_raw.where(c.keep, "0"), unit or "ms")
            maker = chunk["is_buyer_maker"].str.strip().str.lower()
            c.drop(~maker.isin(["true", "false"]).to_numpy(), Issue.MALFORMED, "is_buyer_maker", "not true/false")
            c.timestamps(ts_ns, "time")
            c.prices(price, "price")
            c.sizes(qty, "qty", allow_zero=False, precision=instrument.size_precision)
            c.order(ts_ns, "time")
            ids = chunk["id"].str.strip().to_numpy()
            c.duplicate_trade_ids(ids, "id")
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


def _wrangle_deltas(wrangler: OrderBookDeltaDataWrangler, frame: pd.DataFrame) -> Iterator[Data]:
    """Build deltas segment by segment so the wrangler puts a CLEAR before every snapshot."""
    for _, part in frame.groupby("segment", sort=False):
        yield from wrangler.process(part.drop(columns="segment"))
