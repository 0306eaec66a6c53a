"""``amm ingest databento``: Databento DBN files (``*.dbn`` / ``*.dbn.zst``).

Every schema NautilusTrader's ``DatabentoDataLoader`` decodes is accepted; the ones a market maker
uses: ``mbo`` -> ``OrderBookDelta`` (L3), ``mbp-1`` / ``tbbo`` -> ``QuoteTick``, ``mbp-10`` ->
``OrderBookDepth10``, ``trades`` -> ``TradeTick``, ``definition`` -> instruments. Trades inside
``mbo`` / ``mbp-1`` records are kept as ``TradeTick`` too, unless a ``trades`` file is among the
inputs (then trades come from that file only, so they are not written twice).

Streaming: Nautilus' loader decodes a whole file into one list. To bound memory, data files are
decoded with ``databento_dbn`` in chunks of ``CheckConfig.chunk_rows`` records, each chunk is
re-encoded (same metadata, zstd) to a temporary file and handed to Nautilus' loader, so the
objects are exactly Nautilus' (a test checks chunked == whole-file). Definition files are small
and read whole.

Checks (row = record number in the file): prices <= 0 (Databento's "undefined" price included) on
book adds/updates, quotes and trades; zero-size quote sides and trades; crossed / locked quotes;
``ts_init`` going backwards; outliers (see ``tabular``). ``ts_init`` is Databento's ``ts_recv``.
Trade ids are not checked for duplicates: Databento's ``trade_id`` is the venue sequence number,
which the fills of one CME match event share (90 such repeats in the ESH4 fixture are real fills).

Instruments: from ``definition`` files among the inputs (latest record per id). If the data refers
to an instrument no definition covers, the contract is derived from a definition of the same
product (same underlying, e.g. ``ESM3`` for ``ESH4``): tick, multiplier, currency and exchange are
copied; expiration is the third Friday of the contract month (the CME equity-index rule, at the
template's expiry time of day) and activation the first data timestamp - the report notes it. With
``instrument_id`` (and a spec for it) that spec is used instead.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import FuturesContract, Instrument

from catalog.instruments import build_instrument, get_spec
from catalog.loaders.tabular import CheckConfig, RowChecker, SpecLoader, check_files, merge_streams
from catalog.quality import DataQualityError, QualityReport

_MONTH_CODES = "FGHJKMNQUVXZ"


class DatabentoLoader(SpecLoader):
    """Stream Databento DBN files as Nautilus data, validated record by record.

    Parameters
    ----------
    instrument_id : str, optional
        Override the instrument id of every record (one-instrument files only) and take the
        instrument from its spec (``spec_file``, then ``instruments.toml``) if one exists.
    spec_file : Path, optional
        Instrument spec TOML.
    use_exchange_as_venue : bool
        Nautilus option: venue = actual exchange (``XCME``) instead of the dataset (``GLBX``).
    check : CheckConfig, optional
        Validation thresholds; ``chunk_rows`` = records decoded at a time.
    """

    name = "databento"

    def __init__(
        self,
        *,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        use_exchange_as_venue: bool = False,
        check: CheckConfig | None = None,
    ) -> None:
        super().__init__(instrument_id=instrument_id, spec_file=spec_file, check=check)
        self.use_exchange_as_venue = use_exchange_as_venue
        self._loader = None

    def _nautilus(self):
        if self._loader is None:
            from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

            self._loader = DatabentoDataLoader()
        return self._loader

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        paths = check_files(files, report)
        schemas = {p: self._schema(p) for p in paths}
        definitions: dict[str, Instrument] = {}
        for path in (p for p in paths if schemas[p] == "definition"):
            for inst in self._load(path):
                report.read("databento.definition")
                old = definitions.get(inst.id.value)
                if old is None or inst.ts_init >= old.ts_init:
                    definitions[inst.id.value] = inst
        has_trades_file = any(s == "trades" for s in schemas.values())
        data_paths = [p for p in paths if schemas[p] != "definition"]
        for path in data_paths:
            self._prime_precisions(path, definitions)
        first_ts: dict[str, int] = {}
        streams = [
            self._stream(p, schemas[p], include_trades=not has_trades_file, report=report)
            for p in data_paths
        ]
        for obj in merge_streams(streams):
            iid = obj.instrument_id.value
            first_ts.setdefault(iid, obj.ts_init)
            report.written(type(obj).__name__)
            yield obj
        self._resolve_instruments(definitions, first_ts, report)

    # -- decoding --------------------------------------------------------------------------------

    def _schema(self, path: Path) -> str:
        try:
            schema = self._nautilus()._pyo3_loader.schema_for_file(str(path))
        except Exception as e:  # noqa: BLE001 - pyo3 raises ValueError / OSError variants
            raise DataQualityError(f"{path}: not a readable DBN file: {e}") from e
        if schema is None:
            raise DataQualityError(f"{path}: DBN file with mixed schemas is not supported")
        return str(schema)

    def _prime_precisions(self, path: Path, definitions: dict[str, Instrument]) -> None:
        """Give Nautilus the price precision of every symbol ``path`` holds, before decoding it.

        Why: Nautilus 1.231's loader needs each symbol's precision up front (from a loaded
        definition, or ``set_price_precision``) and fails otherwise; 1.221 guessed it. A symbol
        without a definition among the inputs takes it from its spec (``instrument_id``) or from
        a definition of the same product, as its derived instrument does
        (:meth:`_resolve_instruments`).
        """
        loader = self._nautilus()
        known = loader.get_price_precisions()
        dataset, symbols = _metadata_symbols(path)
        for raw in symbols:
            if raw in known:
                continue
            iid = self.instrument_id or f"{raw}.{dataset.split('.')[0]}"
            spec = self.override_spec()  # the override is every symbol's id
            precision = spec.price_precision if spec is not None else None
            if precision is None:
                template = _template_for(iid, definitions.values())
                if template is None:
                    raise DataQualityError(
                        f"no instrument definition for {iid}: add its Databento 'definition' "
                        f"file to the inputs (or pass --instrument with an --instrument-spec)",
                    )
                precision = template.price_precision
            loader.set_price_precision(raw, precision)

    def _load(self, path: Path, include_trades: bool = False) -> list:
        iid = InstrumentId.from_str(self.instrument_id) if self.instrument_id else None
        try:
            return self._nautilus().from_dbn_file(
                path,
                instrument_id=iid,
                include_trades=include_trades,
                use_exchange_as_venue=self.use_exchange_as_venue,
            )
        except (ValueError, RuntimeError) as e:
            raise DataQualityError(f"{path}: Nautilus' Databento loader failed: {e}") from e

    def _chunks(self, path: Path, include_trades: bool) -> Iterator[list]:
        """Decode ``chunk_rows`` records at a time through Nautilus (see the module docstring)."""
        import databento_dbn
        import zstandard

        decoder = databento_dbn.DBNDecoder()
        metadata: bytes | None = None
        pending: list = []
        raw = open(path, "rb")  # noqa: SIM115 - closed in finally
        try:
            stream = zstandard.ZstdDecompressor().stream_reader(raw) if _is_zstd(path) else raw
            while True:
                block = stream.read(1 << 20)
                if block:
                    decoder.write(block)
                try:
                    records = decoder.decode()
                except Exception as e:  # noqa: BLE001 - dbn raises plain Exception subclasses
                    raise DataQualityError(f"{path}: corrupt DBN data: {e}") from e
                for rec in records:
                    if isinstance(rec, databento_dbn.Metadata):
                        metadata = rec.encode()
                    else:
                        pending.append(bytes(rec))
                while metadata is not None and len(pending) >= self.check.chunk_rows:
                    batch, pending = pending[: self.check.chunk_rows], pending[self.check.chunk_rows :]
                    yield self._decode_batch(path, metadata, batch, include_trades)
                if not block:
                    break
        except (OSError, zstandard.ZstdError) as e:
            raise DataQualityError(f"{path}: cannot read: {e}") from e
        finally:
            raw.close()
        if metadata is None:
            raise DataQualityError(f"{path}: no DBN metadata header")
        if pending:
            yield self._decode_batch(path, metadata, pending, include_trades)

    def _decode_batch(self, path: Path, metadata: bytes, records: list[bytes], include_trades: bool) -> list:
        import zstandard

        fd, name = tempfile.mkstemp(prefix="amm-dbn-", suffix=".dbn.zst")
        try:
            with os.fdopen(fd, "wb") as fh, zstandard.ZstdCompressor(level=1).stream_writer(fh) as out:
                out.write(metadata)
                for rec in records:
                    out.write(rec)
            return self._load(Path(name), include_trades)
        except DataQualityError as e:
            raise DataQualityError(str(e).replace(name, str(path))) from e
        finally:
            Path(name).unlink(missing_ok=True)

    # -- validation ------------------------------------------------------------------------------

    def _stream(self, path: Path, schema: str, *, include_trades: bool, report: QualityReport) -> Iterator[Data]:
        c = RowChecker(report, path, self.check)
        start = 0
        for objs in self._chunks(path, include_trades):
            report.read(f"databento.{schema}", len(objs))
            lines = np.arange(start, start + len(objs), dtype=np.int64) + 1
            start += len(objs)
            keep = self._validate(c, objs, lines)
            for obj, ok in zip(objs, keep, strict=True):
                if ok:
                    yield obj

    def _validate(self, c: RowChecker, objs: list, lines: np.ndarray) -> np.ndarray:
        c.begin(lines)
        n = len(objs)
        ts = np.fromiter((o.ts_init for o in objs), dtype=np.int64, count=n)
        c.timestamps(ts, "ts_recv")
        is_quote = np.fromiter((isinstance(o, QuoteTick) for o in objs), dtype=bool, count=n)
        is_trade = np.fromiter((isinstance(o, TradeTick) for o in objs), dtype=bool, count=n)
        is_delta = np.fromiter((isinstance(o, OrderBookDelta) for o in objs), dtype=bool, count=n)
        nan = np.full(n, np.nan)
        if is_quote.any():
            bid, ask, bsz, asz = (nan.copy() for _ in range(4))
            for i in np.flatnonzero(is_quote):
                q = objs[i]
                bid[i], ask[i] = q.bid_price.as_double(), q.ask_price.as_double()
                bsz[i], asz[i] = q.bid_size.as_double(), q.ask_size.as_double()
            c.prices(np.where(is_quote, bid, 1.0), "bid_px")
            c.prices(np.where(is_quote, ask, 1.0), "ask_px")
            c.sizes(np.where(is_quote, bsz, 1.0), "bid_sz", allow_zero=False)
            c.sizes(np.where(is_quote, asz, 1.0), "ask_sz", allow_zero=False)
            c.spread(np.where(is_quote, bid, 0.0), np.where(is_quote, ask, 1.0), "bid_px/ask_px")
        if is_trade.any():
            px, sz = nan.copy(), nan.copy()
            for i in np.flatnonzero(is_trade):
                px[i], sz[i] = objs[i].price.as_double(), objs[i].size.as_double()
            c.prices(np.where(is_trade, px, 1.0), "price")
            c.sizes(np.where(is_trade, sz, 1.0), "size", allow_zero=False)
        if is_delta.any():
            px = np.ones(n)
            for i in np.flatnonzero(is_delta):
                d = objs[i]
                if d.action in (BookAction.ADD, BookAction.UPDATE):
                    px[i] = d.order.price.as_double()
            c.prices(px, "price")
        c.order(ts, "ts_recv")
        priced = is_quote | is_trade  # outliers: quote mids and trade prices share one median
        if priced.any():
            keep_before = c.keep.copy()
            c.keep &= priced
            c.outliers(np.array([_ref_price(o) for o in objs]), "price")
            c.keep |= keep_before & ~priced
        return c.finish()

    # -- instruments -----------------------------------------------------------------------------

    def _resolve_instruments(
        self,
        definitions: dict[str, Instrument],
        first_ts: dict[str, int],
        report: QualityReport,
    ) -> None:
        self._instruments.update(definitions)
        for iid, ts in first_ts.items():
            if iid in self._instruments:
                continue
            if self.instrument_id:
                try:
                    self._instruments[iid] = build_instrument(get_spec(iid, self.spec_file))
                    continue
                except ValueError:
                    pass
            template = _template_for(iid, definitions.values())
            if template is None:
                raise DataQualityError(
                    f"no instrument definition for {iid}: add its Databento 'definition' file "
                    f"to the inputs (or pass --instrument with an --instrument-spec)",
                )
            self._instruments[iid] = _derive_future(iid, template, ts)
            report.notes.append(
                f"{iid}: no definition record in the inputs: derived from {template.id} (same "
                f"product {template.underlying}): tick {template.price_increment}, multiplier "
                f"{template.multiplier}, {template.quote_currency} copied; expiration assumed the "
                f"third Friday of the contract month; fees 0 (unknown)",
            )


def _ref_price(obj: Data) -> float:
    if isinstance(obj, QuoteTick):
        return (obj.bid_price.as_double() + obj.ask_price.as_double()) / 2
    if isinstance(obj, TradeTick):
        return obj.price.as_double()
    return np.nan


def _metadata_symbols(path: Path) -> tuple[str, list[str]]:
    """``(dataset, raw symbols)`` from a DBN file's metadata header (symbology mappings)."""
    import databento_dbn
    import zstandard

    decoder = databento_dbn.DBNDecoder()
    try:
        with open(path, "rb") as raw:
            stream = zstandard.ZstdDecompressor().stream_reader(raw) if _is_zstd(path) else raw
            while True:
                block = stream.read(1 << 16)
                if block:
                    decoder.write(block)
                for rec in decoder.decode():
                    if isinstance(rec, databento_dbn.Metadata):
                        return rec.dataset, sorted(set(rec.mappings) | set(rec.symbols))
                if not block:
                    break
    except (OSError, zstandard.ZstdError) as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e
    except Exception as e:  # noqa: BLE001 - dbn raises plain Exception subclasses
        raise DataQualityError(f"{path}: corrupt DBN data: {e}") from e
    raise DataQualityError(f"{path}: no DBN metadata header")


def _is_zstd(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x28\xb5\x2f\xfd"


def _root_and_month(symbol: str) -> tuple[str, int, int] | None:
    """``ESH4`` -> ("ES", 3, 4): root, month, last year digit(s)."""
    for k in (2, 1):
        head, code, year = symbol[: -1 - k], symbol[-1 - k], symbol[-k:]
        if head and year.isdigit() and code in _MONTH_CODES:
            return head, _MONTH_CODES.index(code) + 1, int(year)
    return None


def _template_for(iid: str, definitions) -> FuturesContract | None:
    parsed = _root_and_month(InstrumentId.from_str(iid).symbol.value)
    if parsed is None:
        return None
    venue = InstrumentId.from_str(iid).venue
    for inst in definitions:
        if isinstance(inst, FuturesContract) and inst.id.venue == venue and inst.underlying == parsed[0]:
            return inst
    return None


def _third_friday(year: int, month: int) -> dt.date:
    fridays = [d for d in calendar.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == 4]
    return fridays[2]


def _derive_future(iid: str, template: FuturesContract, first_ts: int) -> FuturesContract:
    root, month, year_digits = _root_and_month(InstrumentId.from_str(iid).symbol.value)
    seen_year = dt.datetime.fromtimestamp(first_ts / 1e9, tz=dt.UTC).year
    modulus = 10 ** len(str(year_digits)) if year_digits >= 10 else 10
    year = seen_year - seen_year % modulus + year_digits
    if year < seen_year:
        year += modulus
    tmpl_exp = dt.datetime.fromtimestamp(template.expiration_ns / 1e9, tz=dt.UTC)
    expiry = dt.datetime.combine(_third_friday(year, month), tmpl_exp.time(), tzinfo=dt.UTC)
    expiration_ns = int(expiry.timestamp()) * 10**9
    return FuturesContract(
        instrument_id=InstrumentId.from_str(iid),
        raw_symbol=Symbol(InstrumentId.from_str(iid).symbol.value),
        asset_class=template.asset_class,
        currency=template.quote_currency,
        price_precision=template.price_precision,
        price_increment=template.price_increment,
        multiplier=template.multiplier,
        lot_size=template.lot_size,
        underlying=root,
        activation_ns=min(first_ts, expiration_ns - 1),
        expiration_ns=expiration_ns,
        ts_event=first_ts,
        ts_init=first_ts,
        exchange=template.exchange,
    )


__all__ = ["DatabentoLoader"]
