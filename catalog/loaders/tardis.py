"""``amm ingest tardis``: Tardis.dev downloadable CSV files (plain or ``.csv.gz``).

Data types (detected from each file's header, see https://docs.tardis.dev/downloadable-csv-files):
``trades`` -> ``TradeTick``, ``quotes`` -> ``QuoteTick``, ``incremental_book_L2`` ->
``OrderBookDelta``, ``book_snapshot_5`` / ``book_snapshot_25`` -> ``OrderBookDepth10`` (levels past
10 are discarded, as Nautilus does).

Objects are built by NautilusTrader's own ``TardisCSVDataLoader`` (Rust, streamed in chunks), so
instrument ids are the ones its Tardis adapter makes: ``<SYMBOL>.<VENUE>`` with Tardis' exchange
mapped to a Nautilus venue (``binance-futures`` BTCUSDT -> ``BTCUSDT.BINANCE``, ``bitmex`` ->
``XBTUSD.BITMEX``, ``deribit`` -> ``BTC-PERPETUAL.DERIBIT``, ``huobi-dm-swap`` ->
``BTC-USD.HUOBI_DELIVERY``). Note that Binance spot and USD-M futures both map to
``BTCUSDT.BINANCE``; pass ``instrument_id="BTCUSDT-PERP.BINANCE"`` to keep them apart.

Why each file is read twice. Measured on Nautilus 1.221.0, its Tardis loader does not validate:
an empty price becomes 0.0, the text ``NaN`` becomes 17014118346045.9, negative prices pass, and a
row with more decimals than the inferred precision is silently rounded. So pass 1 (pandas, chunked,
every field as text) validates every row (``catalog.loaders.tabular`` lists the rules), reports
drops with their line number, and measures the price / size precision; pass 2 streams the rows
that passed through the Nautilus loader with that explicit precision. If pass 1 dropped rows, pass
2 reads a filtered temporary copy (same lines minus the dropped ones).

Snapshots of an incremental book: Tardis starts a new snapshot after every reconnect. Nautilus
1.231's loader emits a ``CLEAR`` delta (flags ``F_SNAPSHOT``) before each run of
``is_snapshot=true`` rows and closes every batch with ``F_LAST`` (1.221 did neither, and this
loader inserted the ``CLEAR`` itself); pass 1 counts the runs so that pass 2 can check that
Nautilus produced exactly one object per kept row plus one ``CLEAR`` per run.

Ordering: ``ts_init`` = Tardis ``local_timestamp`` (arrival time), ``ts_event`` = ``timestamp``.
Rows whose ``local_timestamp`` goes backwards are dropped (``out_of_order``); files are merged by
``ts_init``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDepth10
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from catalog.instruments import InstrumentSpec, build_instrument, load_specs
from catalog.loaders.tabular import (
    MAX_PRECISION,
    RowChecker,
    SpecLoader,
    check_files,
    first_line,
    generic_note,
    generic_pair,
    merge_streams,
    read_csv_chunks,
    require_columns,
    split_symbol,
    text_decimals,
)
from catalog.quality import DataQualityError, Issue, QualityReport

_BASE_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp")
_US = 1_000  # Tardis timestamps are microseconds


_KIND_COLUMNS = {
    "incremental_book_L2": ("is_snapshot", "side", "price", "amount"),
    "trades": ("id", "side", "price", "amount"),
    "quotes": ("ask_amount", "ask_price", "bid_price", "bid_amount"),
}


def detect_kind(path: Path, columns: Sequence[str]) -> str:
    """Return ``trades``, ``quotes``, ``incremental_book_L2``, ``book_snapshot_5`` or ``_25``."""
    cols = set(columns)
    require_columns(path, columns, _BASE_COLUMNS)
    for kind, need in _KIND_COLUMNS.items():
        if set(need) <= cols:
            return kind
    levels = sum(1 for c in columns if c.startswith("asks[") and c.endswith("].price"))
    if levels:
        levels = 5 if levels <= 5 else 25
        need = [f"{s}[{i}].{f}" for i in range(levels) for s in ("asks", "bids") for f in ("price", "amount")]
        require_columns(path, columns, need)
        return f"book_snapshot_{levels}"
    # name the closest format's missing columns
    kind, need = min(_KIND_COLUMNS.items(), key=lambda kv: len(set(kv[1]) - cols))
    missing = [c for c in need if c not in cols]
    if len(missing) < len(need):
        raise DataQualityError(f"{path}: Tardis {kind} CSV missing column(s) {missing}")
    raise DataQualityError(
        f"{path}: not a Tardis trades / quotes / incremental_book_L2 / book_snapshot_5|25 CSV "
        f"(columns {list(columns)})",
    )


@dataclass
class _FileScan:
    """What pass 1 learned about one file."""

    path: Path
    kind: str
    kept: int = 0
    dropped_lines: set[int] = field(default_factory=set)
    price_decimals: int = 0
    size_decimals: int = 0
    snapshot_runs: int = 0  # runs of is_snapshot rows: Nautilus emits one CLEAR before each
    symbols: set[tuple[str, str]] = field(default_factory=set)


class TardisLoader(SpecLoader):
    """Stream Tardis CSV files as Nautilus data, validated row by row.

    Parameters
    ----------
    instrument_id : str, optional
        Override the instrument id of every row (use only if all files hold one instrument), and
        look its contract terms up with ``catalog.instruments.get_spec`` (``spec_file`` first,
        then the shipped ``instruments.toml``).
    spec_file : Path, optional
        Instrument spec TOML; without ``instrument_id`` each id the data produces is looked up
        in it. Ids without a spec get a generic instrument (see ``tabular.generic_pair``).
    check : CheckConfig, optional
        Validation thresholds and chunk size.
    """

    name = "tardis"

    # -- Loader protocol ---------------------------------------------------------------------------

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        paths = check_files(files, report)
        scans = [self._scan(p, report) for p in paths]
        spec = self.override_spec()  # None: a generic instrument, noted in the report
        if spec is not None:
            price_prec, size_prec = spec.price_precision, spec.size_precision
            data_price = max((s.price_decimals for s in scans), default=0)
            if data_price > price_prec:
                report.notes.append(
                    f"{spec.instrument_id}: data has {data_price} price decimals but the "
                    f"spec tick {spec.tick_size} has {price_prec}: prices are rounded",
                )
        streams = []
        for scan in scans:
            if not scan.kept:
                continue
            if spec is None:
                # one precision per symbol over all files, so each instrument's data agree
                price_prec = max(_symbol_max(scans, sym, "price_decimals") for sym in scan.symbols)
                size_prec = max(_symbol_max(scans, sym, "size_decimals") for sym in scan.symbols)
            streams.append(self._stream(scan, price_prec, size_prec, report))
        seen: dict[str, tuple[str, int, int]] = {}
        for obj in merge_streams(streams):
            iid = obj.instrument_id.value
            if iid not in seen and not _is_clear(obj):
                seen[iid] = (obj.instrument_id.symbol.value, *_precisions(obj))
            report.written(type(obj).__name__)
            yield obj
        self._build_instruments(seen, spec, report)

    # -- pass 1: validate ------------------------------------------------------------------------

    def _scan(self, path: Path, report: QualityReport) -> _FileScan:
        header = first_line(path)
        if not header:
            raise DataQualityError(f"{path}: file is empty")
        kind = detect_kind(path, [c.strip() for c in header.split(",")])
        scan = _FileScan(path=path, kind=kind)
        checker = RowChecker(report, path, self.check)
        prev_snapshot = False
        rows = 0
        for chunk, lines in read_csv_chunks(path, self.check.chunk_rows, header=True):
            rows += len(chunk)
            report.read(f"tardis.{kind}", len(chunk))
            checker.begin(lines)
            ts_event = checker.numeric(chunk["timestamp"], "timestamp")
            ts_init = checker.numeric(chunk["local_timestamp"], "local_timestamp")
            ts_event_ns = np.nan_to_num(ts_event).astype(np.int64) * _US
            ts_init_ns = np.nan_to_num(ts_init).astype(np.int64) * _US
            checker.timestamps(ts_event_ns, "timestamp")
            checker.timestamps(ts_init_ns, "local_timestamp")
            price_cols, size_cols, dup_cols = self._check_kind(kind, chunk, checker)
            checker.order(ts_init_ns, "local_timestamp")
            checker.duplicate_rows([ts_event_ns, ts_init_ns, *dup_cols])
            keep = checker.finish()
            scan.dropped_lines.update(lines[~keep].tolist())
            kept = chunk[keep]
            for col in price_cols:
                scan.price_decimals = max(scan.price_decimals, text_decimals(kept[col]))
            for col in size_cols:
                scan.size_decimals = max(scan.size_decimals, text_decimals(kept[col]))
            if kind == "incremental_book_L2":
                snap = kept["is_snapshot"].str.strip().str.lower().eq("true").to_numpy()
                prev = np.concatenate(([prev_snapshot], snap[:-1])) if len(snap) else snap
                scan.snapshot_runs += int(np.count_nonzero(snap & ~prev))
                if len(snap):
                    prev_snapshot = bool(snap[-1])
            scan.symbols.update(zip(kept["exchange"], kept["symbol"], strict=True))
            scan.kept += int(keep.sum())
        if rows == 0:
            raise DataQualityError(f"{path}: no data rows (header only)")
        return scan

    def _check_kind(
        self,
        kind: str,
        chunk: pd.DataFrame,
        c: RowChecker,
    ) -> tuple[list[str], list[str], list[np.ndarray]]:
        """Field checks of one data type; returns (price cols, size cols, dedup key columns)."""
        if kind == "trades":
            price = c.numeric(chunk["price"], "price")
            size = c.numeric(chunk["amount"], "amount")
            side = chunk["side"].str.strip().str.lower()
            c.drop(~side.isin(["buy", "sell", "unknown"]).to_numpy(), Issue.MALFORMED, "side", "not buy/sell/unknown")
            c.prices(price, "price")
            c.sizes(size, "amount", allow_zero=False)
            c.duplicate_trade_ids(chunk["id"].to_numpy(), "id")
            c.outliers(price, "price")
            return ["price"], ["amount"], [price, size, chunk["id"].to_numpy()]
        if kind == "quotes":
            bid = c.numeric(chunk["bid_price"], "bid_price")
            ask = c.numeric(chunk["ask_price"], "ask_price")
            bid_size = c.numeric(chunk["bid_amount"], "bid_amount")
            ask_size = c.numeric(chunk["ask_amount"], "ask_amount")
            c.prices(bid, "bid_price")
            c.prices(ask, "ask_price")
            c.sizes(bid_size, "bid_amount", allow_zero=False)
            c.sizes(ask_size, "ask_amount", allow_zero=False)
            c.spread(bid, ask)
            c.outliers((bid + ask) / 2, "bid_price/ask_price")
            return ["bid_price", "ask_price"], ["bid_amount", "ask_amount"], [bid, ask, bid_size, ask_size]
        if kind == "incremental_book_L2":
            price = c.numeric(chunk["price"], "price")
            size = c.numeric(chunk["amount"], "amount")
            side = chunk["side"].str.strip().str.lower()
            c.drop(~side.isin(["bid", "ask"]).to_numpy(), Issue.MALFORMED, "side", "not bid/ask")
            snap = chunk["is_snapshot"].str.strip().str.lower()
            c.drop(~snap.isin(["true", "false"]).to_numpy(), Issue.MALFORMED, "is_snapshot", "not true/false")
            c.prices(price, "price")
            c.sizes(size, "amount", allow_zero=True)  # 0 deletes the level
            return ["price"], ["amount"], [price, size, side.to_numpy(), snap.to_numpy()]
        # book_snapshot_5 / _25: validate the 10 levels Nautilus keeps (empty levels are allowed)
        levels = min(int(kind.rsplit("_", 1)[1]), 10)
        price_cols: list[str] = []
        size_cols: list[str] = []
        dedup: list[np.ndarray] = []
        top: dict[str, np.ndarray] = {}
        for i in range(levels):
            for s in ("bids", "asks"):
                pcol, scol = f"{s}[{i}].price", f"{s}[{i}].amount"
                price = c.numeric(chunk[pcol], pcol, required=False)
                size = c.numeric(chunk[scol], scol, required=False)
                c.drop(np.isnan(price) != np.isnan(size), Issue.NAN, scol, "price without amount")
                if i == 0:
                    c.drop(np.isnan(price), Issue.NAN, pcol, "empty top of book")
                    top[s] = price
                c.prices(price, pcol)
                c.sizes(size, scol, allow_zero=False)
                price_cols.append(pcol)
                size_cols.append(scol)
                dedup += [price, size]
        c.spread(top["bids"], top["asks"], "bids[0].price/asks[0].price")
        c.outliers((top["bids"] + top["asks"]) / 2, "bids[0].price/asks[0].price")
        return price_cols, size_cols, dedup

    # -- pass 2: Nautilus ------------------------------------------------------------------------

    def _stream(
        self,
        scan: _FileScan,
        price_prec: int,
        size_prec: int,
        report: QualityReport,
    ) -> Iterator[Data]:
        from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader

        iid = InstrumentId.from_str(self.instrument_id) if self.instrument_id else None
        loader = TardisCSVDataLoader(price_prec, size_prec, iid)
        path, tmp = scan.path, None
        if scan.dropped_lines:
            tmp = _filtered_copy(scan.path, scan.dropped_lines)
            path = tmp
        chunk = self.check.chunk_rows
        try:
            match scan.kind:
                case "trades":
                    chunks = loader.stream_trades(path, chunk_size=chunk)
                case "quotes":
                    chunks = loader.stream_quotes(path, chunk_size=chunk)
                case "incremental_book_L2":
                    chunks = loader.stream_deltas(path, chunk_size=chunk)
                case _:
                    levels = int(scan.kind.rsplit("_", 1)[1])
                    chunks = loader.stream_depth10(path, levels, chunk_size=chunk)
            produced = 0
            depth = scan.kind not in ("trades", "quotes", "incremental_book_L2")
            deltas = scan.kind == "incremental_book_L2"
            pending: OrderBookDelta | None = None
            for objs in _named(chunks, scan.path):
                for obj in objs:
                    produced += 1
                    if depth:
                        yield _pad_depth(obj, price_prec, size_prec)
                    elif deltas:
                        if pending is not None:
                            yield _close_batch(pending) if pending.ts_init != obj.ts_init else pending
                        pending = obj
                    else:
                        yield obj
            if pending is not None:
                yield _close_batch(pending)
            if produced != scan.kept + scan.snapshot_runs:
                raise DataQualityError(
                    f"{scan.path}: Nautilus' Tardis loader produced {produced} objects from "
                    f"{scan.kept} validated rows and {scan.snapshot_runs} snapshot(s)",
                )
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    # -- instruments -----------------------------------------------------------------------------

    def _build_instruments(
        self,
        seen: dict[str, tuple[str, int, int]],
        override: InstrumentSpec | None,
        report: QualityReport,
    ) -> None:
        file_specs = load_specs(self.spec_file) if self.spec_file and not override else {}
        for iid, (symbol, price_prec, size_prec) in seen.items():
            spec = override if override else file_specs.get(iid)
            if spec is not None:
                self._instruments[iid] = build_instrument(spec)
                continue
            base, quote = split_symbol(symbol)
            self._instruments[iid] = generic_pair(iid, base, quote, price_prec, size_prec)
            report.notes.append(generic_note(iid, price_prec, size_prec))


def _symbol_max(scans: list[_FileScan], symbol: tuple[str, str], attr: str) -> int:
    found = [getattr(s, attr) for s in scans if symbol in s.symbols]
    return min(max(found, default=0), MAX_PRECISION)


def _is_clear(obj: Data) -> bool:
    return isinstance(obj, OrderBookDelta) and obj.action == BookAction.CLEAR


def _precisions(obj: Data) -> tuple[int, int]:
    """(price, size) precision of a Tardis-loaded object."""
    if hasattr(obj, "bid_price"):
        return obj.bid_price.precision, obj.bid_size.precision
    if hasattr(obj, "order"):
        return obj.order.price.precision, obj.order.size.precision
    if hasattr(obj, "bids"):
        level = obj.bids[0]
        return level.price.precision, level.size.precision
    return obj.price.precision, obj.size.precision


def _close_batch(delta: OrderBookDelta) -> OrderBookDelta:
    """``delta`` with the ``F_LAST`` bit set: it is the last of its message.

    Why: Nautilus 1.231's ``stream_deltas`` sets ``F_LAST`` on the last row of each timestamp,
    except where a message straddles two of its chunks; without the bit, the ``OrderBookDeltas``
    batches a replay is made of would merge two messages.
    """
    if delta.flags & RecordFlag.F_LAST:
        return delta
    return OrderBookDelta(
        delta.instrument_id, delta.action, delta.order, delta.flags | RecordFlag.F_LAST,
        delta.sequence, delta.ts_event, delta.ts_init,
    )


def _pad_depth(depth: OrderBookDepth10, price_prec: int, size_prec: int) -> OrderBookDepth10:
    """Re-pad a snapshot's empty levels with the instrument's precisions.

    Why: Nautilus 1.231's Tardis loader pads a ``book_snapshot_5`` out to ten levels with null
    orders of precision 0, and its own catalog writer then refuses the row ("Mixed metadata at
    row 0"). The empty levels are rebuilt as null orders at the real precisions; the filled
    levels are kept as they are.
    """
    def pad(orders: list[BookOrder]) -> tuple[list[BookOrder], bool]:
        changed = False
        out = []
        for o in orders:
            if o.side == OrderSide.NO_ORDER_SIDE and (
                o.price.precision != price_prec or o.size.precision != size_prec
            ):
                o = BookOrder(OrderSide.NO_ORDER_SIDE, Price(0, price_prec), Quantity(0, size_prec), 0)
                changed = True
            out.append(o)
        return out, changed

    bids, bids_changed = pad(depth.bids)
    asks, asks_changed = pad(depth.asks)
    if not (bids_changed or asks_changed):
        return depth
    return OrderBookDepth10(
        depth.instrument_id,
        bids,
        asks,
        depth.bid_counts,
        depth.ask_counts,
        depth.flags,
        depth.sequence,
        depth.ts_event,
        depth.ts_init,
    )


def _filtered_copy(path: Path, dropped: set[int]) -> Path:
    """Copy a (possibly gzipped) CSV without the given 1-based line numbers."""
    from catalog.loaders.tabular import open_text

    fd, name = tempfile.mkstemp(prefix="amm-tardis-", suffix=".csv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, open_text(path) as src:
        for lineno, line in enumerate(src, start=1):
            if lineno not in dropped:
                out.write(line)
    return Path(name)


def _named(chunks: Iterator[list], path: Path) -> Iterator[list]:
    """Re-raise Nautilus' decoding errors with the file name."""
    it = iter(chunks)
    while True:
        try:
            objs = next(it)
        except StopIteration:
            return
        except (ValueError, RuntimeError) as e:
            raise DataQualityError(f"{path}: Nautilus' Tardis loader failed: {e}") from e
        yield objs


__all__ = ["TardisLoader", "detect_kind"]

