"""Binance raw WebSocket captures -> Nautilus ``OrderBookDelta`` / ``QuoteTick`` / ``TradeTick``.

Input: gzip text, one message per line, ``<local_receive_ts_ns> <json>``, where the JSON is a
combined-stream envelope ``{"stream": "<sym>@depth@100ms" | "<sym>@bookTicker" | "<sym>@trade",
"data": {...}}`` or a REST depth snapshot ``{"lastUpdateId": N, "bids": [...], "asks": [...]}``
(the format hftbacktest's collector writes; see ``PROVENANCE.md`` of the data directory).

Design decisions (each one is visible in the quality report):

Market and instrument
    The market is read from the messages, not from directory names: a depth diff carrying ``pu``
    (or a bookTicker with ``E``, or a trade with ``X``) is futures; a ``ps`` field or a ``_PERP``
    symbol is COIN-M. Ids follow NautilusTrader's Binance adapter: spot ``BTCUSDT.BINANCE``,
    USD-M ``BTCUSDT-PERP.BINANCE``, COIN-M ``BTCUSD_PERP`` -> ``BTCUSD-PERP.BINANCE``.

Depth synchronisation (Binance "How to manage a local order book correctly")
    Diffs that arrive while there is no valid book are buffered (bounded). When a snapshot
    arrives it is emitted as CLEAR + ADD deltas, then the buffer is replayed: diffs older than the
    snapshot are dropped as ``STALE_UPDATE`` (spot: ``u <= lastUpdateId``; futures:
    ``u < lastUpdateId``), the first applied diff must straddle the snapshot (spot:
    ``U <= lastUpdateId + 1 <= u``; futures: ``U <= lastUpdateId <= u`` or ``pu ==
    lastUpdateId``), and from then on spot needs ``U == previous u + 1`` and futures ``pu ==
    previous u``. Replayed diffs get the snapshot's ``ts_init``: that is the first moment the book
    they update existed. A break is a ``SEQUENCE_GAP`` event: no deltas are emitted until the
    next snapshot (which begins with CLEAR), and the diffs skipped meanwhile are ``UNSYNCED``.
    A diff that would leave the book crossed or locked is dropped and invalidates the book the
    same way (exchange books never cross, so the stream is corrupt at that point).

Deltas and flags
    A snapshot is ``CLEAR`` (F_SNAPSHOT) + one ``ADD`` per level (F_SNAPSHOT), the last one
    ``F_SNAPSHOT | F_LAST``: ``OrderBookDeltas.batch`` (used by ``ParquetDataCatalog.
    order_book_deltas(batched=True)`` and the ``OrderBookDeltas`` query) closes a batch on the
    ``F_LAST`` bit (1.221 needed ``flags == F_LAST`` exactly, 1.231 tests the bit). A diff gives one
    delta per level: ``DELETE`` for quantity 0, else ``UPDATE`` (an upsert in Nautilus' L2_MBP
    book, as in the Binance adapter), the last one ``F_LAST``; all deltas of a message share
    ``ts_event`` and ``ts_init`` and carry the message's final update id as ``sequence``.

Timestamps
    ``ts_init`` is the local receive time; ``ts_event`` the exchange time (``T`` when present,
    as the Binance adapter does, else ``E``, else the local time: spot bookTicker and spot
    snapshots carry no exchange time). If the local clock steps backwards, ``ts_init`` is clamped
    to the previous value (the row is kept, so the depth sequence is not broken) and the row is
    counted as a marked ``OUT_OF_ORDER`` event. A pause longer than ``time_gap_threshold_s``
    between consecutive lines is marked ``TIME_GAP``.

Validation
    Prices must be positive, finite and on the instrument's tick grid (off-grid is
    ``MALFORMED``, naming the JSON field, e.g. ``b`` or ``bids[3][0]``); sizes must be finite and not negative, and positive where a
    size is required (quotes, trades). Sizes off the lot grid (a few far-away spot depth levels
    aggregate old, finer-lot orders) are rounded to the size precision and counted in
    ``stats.sizes_rounded`` and a report note. Quotes that are crossed/locked, repeat the
    previous bookTicker update id, or lie more than ``outlier_threshold_bps`` from the last good
    mid are dropped; trades with an id already seen are dropped as ``DUPLICATE``. The outlier
    reference is the last accepted bookTicker mid (the last accepted trade price until a quote
    arrives) and is reset after a ``TIME_GAP``. Depth levels are not outlier-checked (a
    1,000-level book legitimately spans several percent).
    File-level damage (empty file, not gzip, truncated gzip) always raises ``DataQualityError``.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path

import msgspec
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from catalog.book import L2Book
from catalog.instruments import build_instrument, get_spec
from catalog.quality import DataQualityError, Issue, QualityReport

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
_UPDATE, _DELETE = BookAction.UPDATE, BookAction.DELETE
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL

_MAX_PENDING_DIFFS = 10_000
"""Depth diffs buffered while waiting for a snapshot; older ones are dropped as UNSYNCED."""
_PROBE_MAX_LINES = 10_000
"""Lines read at the start of a file to find its first timestamp and its symbol/market."""
_CACHE_MAX = 500_000
"""Distinct price/size strings cached before the caches are reset (bounds memory)."""


class Market(str, Enum):
    """Binance market a capture comes from (decides id convention and depth sync rules)."""

    SPOT = "spot"
    USDM = "usdm"
    COINM = "coinm"

    @property
    def is_futures(self) -> bool:
        return self is not Market.SPOT


def binance_instrument_id(symbol: str, market: Market) -> str:
    """Instrument id of the NautilusTrader Binance adapter (1.221 and 1.231) for ``symbol`` on ``market``.

    Spot keeps the symbol; USD-M perpetuals add ``-PERP``; COIN-M perpetuals turn ``_PERP`` into
    ``-PERP``; dated futures (``BTCUSD_240927``) keep their symbol.
    """
    symbol = symbol.upper()
    if market is Market.SPOT:
        return f"{symbol}.BINANCE"
    if symbol.endswith("_PERP"):
        return f"{symbol[:-5]}-PERP.BINANCE"
    if "_" in symbol:
        return f"{symbol}.BINANCE"
    return f"{symbol}-PERP.BINANCE"


@dataclass(frozen=True)
class BinanceWsLoaderConfig:
    """Options of ``BinanceWsLoader``.

    Parameters
    ----------
    instrument_id : str or None
        Override the instrument id derived from the stream (must exist in the spec).
    spec_file : Path or None
        Instrument spec TOML; defaults to ``catalog/instruments.toml``.
    time_gap_threshold_s : float
        A pause between consecutive lines longer than this is marked ``TIME_GAP``.
    outlier_threshold_bps : float
        Quotes/trades further than this from the last good mid are dropped as ``OUTLIER``.
    """

    instrument_id: str | None = None
    spec_file: Path | None = None
    time_gap_threshold_s: float = 30.0
    outlier_threshold_bps: float = 500.0

    def __post_init__(self) -> None:
        if not self.time_gap_threshold_s > 0:
            raise ValueError(f"time_gap_threshold_s must be > 0, got {self.time_gap_threshold_s}")
        if not self.outlier_threshold_bps > 0:
            raise ValueError(f"outlier_threshold_bps must be > 0, got {self.outlier_threshold_bps}")


@dataclass
class BinanceWsStats:
    """What one ``iter_data`` run did, per input kind (complements the ``QualityReport``).

    ``kept[kind] + dropped[kind] == report.rows_read[kind]`` for every kind once the stream is
    consumed; ``kept['depth']`` counts applied diffs, ``delta_batches`` the ``F_LAST``-closed
    batches emitted (snapshots included).
    """

    market: Market | None = None
    symbol: str | None = None
    files_in_order: list[str] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    snapshots_applied: int = 0
    delta_batches: int = 0
    sequence_gaps: int = 0
    ts_clamped: int = 0
    sizes_rounded: int = 0


# --- wire schemas (msgspec validates types and required fields while decoding) ---------------


class _Envelope(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)  # empty if absent
    lastUpdateId: int | None = None  # noqa: N815 - Binance field name


class _Snapshot(msgspec.Struct):
    lastUpdateId: int  # noqa: N815
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None


class _Depth(msgspec.Struct):
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None
    pu: int | None = None


class _BookTicker(msgspec.Struct):
    u: int
    b: str
    B: str
    a: str
    A: str
    E: int | None = None
    T: int | None = None


class _Trade(msgspec.Struct):
    t: int
    p: str
    q: str
    m: bool
    T: int | None = None
    E: int | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_SNAPSHOT = msgspec.json.Decoder(_Snapshot)
_DEPTH = msgspec.json.Decoder(_Depth)
_BOOK_TICKER = msgspec.json.Decoder(_BookTicker)
_TRADE = msgspec.json.Decoder(_Trade)
_FIELD_RE = re.compile(r"`\$?\.?([^`]*)`")


def _msgspec_field(error: Exception) -> str | None:
    """Best-effort field name out of a msgspec error ("... field `u` - at `$.data`")."""
    names = _FIELD_RE.findall(str(error))
    return names[0] if names else None


class _Reject(Exception):
    """Internal: a row fails validation with ``issue`` in ``field``."""

    def __init__(self, issue: Issue, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.issue = issue
        self.field_name = field_name
        self.detail = detail


@dataclass
class _PendingDiff:
    file: str
    line: int
    ts_event: int
    first_id: int
    final_id: int
    prev_final_id: int | None
    levels: list[tuple[bool, Price, int, Quantity, float]]
    after_gap: bool


@dataclass(frozen=True)
class _FileHead:
    path: Path
    first_ts: int
    symbol: str | None
    market: Market | None


def _gzip_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` of a gzip text file, streaming.

    Decompression errors become ``DataQualityError`` naming the file and the last good line.
    """
    lineno = 0
    try:
        with gzip.open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 - lineno used in except
                yield lineno, raw
    except EOFError as e:
        raise DataQualityError(
            f"{path}:{lineno + 1}: truncated gzip (file ends mid-stream after line {lineno}): {e}",
        ) from e
    except (gzip.BadGzipFile, zlib.error) as e:
        where = f"{path}:{lineno + 1}" if lineno else str(path)
        raise DataQualityError(f"{where}: not a valid gzip file: {e}") from e
    except OSError as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e


def _market_from(kind: str, symbol: str, data: dict) -> Market | None:
    """Tell the market from one decoded message, or None if this message does not say."""
    coin = "ps" in data or symbol.upper().endswith("_PERP")
    if kind == "depth":
        if "pu" in data:
            return Market.COINM if coin else Market.USDM
        return Market.SPOT if not coin else Market.COINM
    if kind == "bookTicker":
        if "E" in data or "e" in data:
            return Market.COINM if coin else Market.USDM
        return Market.SPOT
    if kind == "trade":
        if "X" in data:
            return Market.COINM if coin else Market.USDM
        if "M" in data:
            return Market.SPOT
    return None


def _stream_kind(suffix: str) -> str | None:
    """Map the part of a stream name after ``<symbol>@`` to an input kind."""
    if suffix == "bookTicker":
        return "bookTicker"
    if suffix == "trade":
        return "trade"
    if suffix == "depth" or suffix.startswith("depth@"):
        return "depth"
    return None  # depth5/10/20 partial books, aggTrade, kline... are not handled


def _probe(path: Path) -> _FileHead:
    """First local timestamp, symbol and market of a file; raise if it holds no data."""
    first_ts: int | None = None
    symbol: str | None = None
    market: Market | None = None
    n_lines = 0
    for lineno, raw in _gzip_lines(path):
        n_lines = lineno
        ts_bytes, _, payload = raw.partition(b" ")
        if first_ts is None:
            try:
                first_ts = int(ts_bytes)
            except ValueError:
                pass
        if market is None:
            try:
                msg = msgspec.json.decode(payload)
                stream = msg.get("stream") if isinstance(msg, dict) else None
                if isinstance(stream, str) and "@" in stream and isinstance(msg.get("data"), dict):
                    sym, _, suffix = stream.partition("@")
                    kind = _stream_kind(suffix)
                    if kind is not None:
                        symbol = symbol or sym.upper()
                        market = _market_from(kind, sym, msg["data"])
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
        if (first_ts is not None and market is not None) or lineno >= _PROBE_MAX_LINES:
            break
    if n_lines == 0:
        raise DataQualityError(f"{path}: empty file (no lines)")
    if first_ts is None:
        raise DataQualityError(
            f"{path}: no line starting with a local timestamp in the first {n_lines} lines; "
            f"expected '<local_receive_ts_ns> <json>'",
        )
    return _FileHead(path, first_ts, symbol, market)


class BinanceWsLoader:
    """Stream Binance raw WebSocket captures (``binance_ws/*.gz``) into Nautilus data.

    Several files are one continuous capture: they are ordered by their first local timestamp
    and the depth synchronisation state carries over from one file to the next (the
    ``*_20240808.gz`` snapshot seeds the book that ``*_20240809.gz`` keeps updating). See the
    module docstring for the synchronisation, timestamp and validation rules.

    Parameters
    ----------
    instrument_id : str or None
        Override the instrument id derived from the stream (e.g. ``BTCUSDT-PERP.BINANCE``).
    spec_file : Path or None
        Instrument spec TOML with tick/lot sizes; defaults to the shipped specs.
    time_gap_threshold_s : float, default 30.0
        Pauses longer than this between consecutive lines are marked ``TIME_GAP``.
    outlier_threshold_bps : float, default 500.0
        Quotes and trades further than this from the last good mid are dropped as ``OUTLIER``.
    """

    name = "binance-ws"

    def __init__(
        self,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        time_gap_threshold_s: float = 30.0,
        outlier_threshold_bps: float = 500.0,
    ) -> None:
        self.config = BinanceWsLoaderConfig(
            instrument_id=instrument_id,
            spec_file=Path(spec_file) if spec_file is not None else None,
            time_gap_threshold_s=time_gap_threshold_s,
            outlier_threshold_bps=outlier_threshold_bps,
        )
        self.stats = BinanceWsStats()
        self._instrument: Instrument | None = None

    def instruments(self) -> list[Instrument]:
        """The instrument of the last stream (empty before ``iter_data`` has started)."""
        return [self._instrument] if self._instrument is not None else []

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        """Yield deltas, quotes and trades of ``files`` (one capture) in ``ts_init`` order.

        Raises
        ------
        DataQualityError
            For a file that is empty, not gzip or truncated; for files mixing symbols or markets;
            and, in strict mode, for the first data problem (file:line: issue in field).
        """
        paths = [Path(f) for f in files]
        if not paths:
            raise DataQualityError("binance-ws: no input files given")
        report.files.extend(str(p) for p in paths)
        heads = sorted((_probe(p) for p in paths), key=lambda h: h.first_ts)
        symbol, market = self._identify(heads)
        iid = self.config.instrument_id or binance_instrument_id(symbol, market)
        spec = get_spec(iid, self.config.spec_file)
        self._instrument = build_instrument(spec, ts_init=heads[0].first_ts)
        self.stats = BinanceWsStats(
            market=market, symbol=symbol, files_in_order=[str(h.path) for h in heads],
        )
        session = _Session(self._instrument, market, symbol, self.config, report, self.stats)
        for head in heads:
            yield from session.run_file(head.path)
        session.finish()

    @staticmethod
    def _identify(heads: list[_FileHead]) -> tuple[str, Market]:
        symbol: str | None = None
        market: Market | None = None
        for head in heads:
            if head.symbol is None:
                continue
            if symbol is not None and head.symbol != symbol:
                raise DataQualityError(
                    f"{head.path}: stream symbol {head.symbol} differs from {symbol} in "
                    f"{heads[0].path}; ingest one instrument per call",
                )
            if market is not None and head.market is not None and head.market is not market:
                raise DataQualityError(
                    f"{head.path}: looks like Binance {head.market.value} data but earlier files "
                    f"are {market.value}; ingest one market per call",
                )
            symbol = head.symbol
            market = market or head.market
        if symbol is None or market is None:
            raise DataQualityError(
                f"{heads[0].path}: no bookTicker/trade/depth stream message found to tell the "
                f"symbol and market (expected lines '<ts_ns> {{\"stream\": ..., \"data\": ...}}')",
            )
        return symbol, market


class _Session:
    """State of one ``iter_data`` run: depth sync, last quote/trade, caches, clock."""

    def __init__(
        self,
        instrument: Instrument,
        market: Market,
        symbol: str,
        config: BinanceWsLoaderConfig,
        report: QualityReport,
        stats: BinanceWsStats,
    ) -> None:
        self.instrument = instrument
        self.iid = instrument.id
        self.futures = market.is_futures
        self.stream_prefix = symbol.lower() + "@"
        self.report = report
        self.stats = stats
        self.gap_ns = int(config.time_gap_threshold_s * 1e9)
        self.outlier_frac = config.outlier_threshold_bps / 1e4
        self.price_precision = instrument.price_precision
        self.size_precision = instrument.size_precision
        self.tick = Decimal(str(instrument.price_increment))
        self.lot = Decimal(str(instrument.size_increment))
        self.min_qty = instrument.make_qty(self.lot)
        self.zero_qty = Quantity.zero(self.size_precision)
        self._prices: dict[str, tuple[Price, int]] = {}
        self._sizes: dict[str, tuple[Quantity, float, bool]] = {}
        # clock
        self.last_ts = 0
        # depth sync: "none" (no snapshot yet), "gap" (book invalid), "await" (snapshot applied,
        # waiting for the straddling diff), "synced"
        self.state = "none"
        self.snapshot_id = 0
        self.last_final_id = 0
        self.pending: deque[_PendingDiff] = deque()
        self.book = L2Book()
        # quotes / trades
        self.last_quote_u: int | None = None
        self.ref_mid: float | None = None  # last good mid (or trade price before any quote)
        self.ref_from_quote = False
        self.max_trade_id: int | None = None
        self.recent_trade_ids: set[int] = set()
        self.recent_trade_order: deque[int] = deque()

    # --- accounting ----------------------------------------------------------------------

    def drop(
        self, kind: str, issue: Issue, file: str, line: int | None, field_name: str | None,
        detail: str, handling: str = "dropped",
    ) -> None:
        self.report.problem(
            issue, file=file, line=line, field_name=field_name, detail=detail, handling=handling,
        )
        self.stats.dropped[kind] += 1

    def mark(self, issue: Issue, file: str, line: int | None, detail: str, handling: str) -> None:
        self.report.problem(issue, file=file, line=line, detail=detail, handling=handling)

    def mark_clamped(self, file: str, line: int, detail: str) -> None:
        """Count a clamped local timestamp as a marked (not dropped) OUT_OF_ORDER event."""
        self.stats.ts_clamped += 1
        self.report.problem(
            Issue.OUT_OF_ORDER, file=file, line=line, field_name="local_ts", detail=detail,
            handling="ts_init clamped to previous line", kept=True,
        )

    # --- value parsing (cached: prices and sizes repeat a lot) ---------------------------

    def price(self, text: str, field_name: str) -> tuple[Price, int]:
        hit = self._prices.get(text)
        if hit is not None:
            return hit
        try:
            value = float(text)
        except ValueError:
            raise _Reject(Issue.MALFORMED, field_name, f"price {text!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise _Reject(Issue.NAN, field_name, f"price {text!r} is not finite")
        if value <= 0:
            raise _Reject(Issue.NON_POSITIVE_PRICE, field_name, f"price {text} <= 0")
        try:
            ticks_dec = Decimal(text) / self.tick
        except InvalidOperation:
            raise _Reject(Issue.MALFORMED, field_name, f"price {text!r} is not a number") from None
        if ticks_dec != ticks_dec.to_integral_value():
            raise _Reject(
                Issue.MALFORMED, field_name,
                f"price {text} is not on the tick grid ({self.tick}) of {self.iid}",
            )
        out = (self.instrument.make_price(value), int(ticks_dec))
        if len(self._prices) >= _CACHE_MAX:
            self._prices.clear()
        self._prices[text] = out
        return out

    def size(self, text: str, field_name: str, allow_zero: bool) -> tuple[Quantity, float]:
        hit = self._sizes.get(text)
        if hit is None:
            hit = self._parse_size(text, field_name)
            if len(self._sizes) >= _CACHE_MAX:
                self._sizes.clear()
            self._sizes[text] = hit
        qty, value, rounded = hit
        if value == 0.0 and not allow_zero:
            raise _Reject(Issue.ZERO_SIZE, field_name, f"size {text} is zero")
        if rounded:
            self.stats.sizes_rounded += 1
        return qty, value

    def _parse_size(self, text: str, field_name: str) -> tuple[Quantity, float, bool]:
        try:
            value = float(text)
            dec = Decimal(text)
        except (ValueError, InvalidOperation):
            raise _Reject(Issue.MALFORMED, field_name, f"size {text!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise _Reject(Issue.NAN, field_name, f"size {text!r} is not finite")
        if value < 0:
            raise _Reject(Issue.NEGATIVE_SIZE, field_name, f"size {text} < 0")
        if value == 0:
            return self.zero_qty, 0.0, False
        lots = dec / self.lot
        if lots == lots.to_integral_value():
            return self.instrument.make_qty(value), value, False
        # Off the lot grid: round to the size precision, never to zero for a level that exists.
        if lots < 1:
            return self.min_qty, value, True
        return self.instrument.make_qty(value), value, True

    # --- main loop -----------------------------------------------------------------------

    def run_file(self, path: Path) -> Iterator[Data]:
        file = str(path)
        report = self.report
        prefix = self.stream_prefix
        plen = len(prefix)
        for lineno, raw in _gzip_lines(path):
            ts_bytes, sep, payload = raw.partition(b" ")
            if not sep:
                if raw.strip():
                    report.read("malformed")
                    self.drop("malformed", Issue.MALFORMED, file, lineno, "line",
                              "expected '<local_receive_ts_ns> <json>'")
                continue
            try:
                ts_local = int(ts_bytes)
            except ValueError:
                report.read("malformed")
                self.drop("malformed", Issue.MALFORMED, file, lineno, "local_ts",
                          f"local timestamp {ts_bytes[:40]!r} is not an integer")
                continue
            try:
                env = _ENVELOPE.decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                report.read("malformed")
                self.drop("malformed", Issue.MALFORMED, file, lineno, _msgspec_field(e),
                          f"invalid JSON message: {e}")
                continue

            # clock: clamp backwards steps, mark long pauses
            last = self.last_ts
            if ts_local < last:
                self.mark_clamped(file, lineno,
                                  f"local ts {ts_local} < previous {last} by {last - ts_local} ns")
                ts_local = last
            elif last and ts_local - last > self.gap_ns:
                self.mark(Issue.TIME_GAP, file, lineno,
                          f"{(ts_local - last) / 1e9:.3f} s without data",
                          "marked; rows kept; outlier reference reset")
                self.ref_mid = None  # the price may legitimately have moved meanwhile
                self.ref_from_quote = False
            self.last_ts = ts_local

            stream = env.stream
            if stream is not None and env.data:
                kind = _stream_kind(stream[plen:]) if stream.startswith(prefix) else None
                if kind is None:
                    report.read("unknown")
                    self.drop("unknown", Issue.UNKNOWN_STREAM, file, lineno, "stream",
                              f"stream {stream!r} is not {prefix}bookTicker|trade|depth")
                    continue
                report.read(kind)
                if kind == "bookTicker":
                    quote = self.on_book_ticker(env.data, file, lineno, ts_local)
                    if quote is not None:
                        yield quote
                elif kind == "trade":
                    trade = self.on_trade(env.data, file, lineno, ts_local)
                    if trade is not None:
                        yield trade
                else:
                    yield from self.on_depth(env.data, file, lineno, ts_local)
            elif env.lastUpdateId is not None:
                report.read("snapshot")
                yield from self.on_snapshot(payload, file, lineno, ts_local)
            else:
                report.read("malformed")
                self.drop("malformed", Issue.MALFORMED, file, lineno, "stream",
                          "neither a stream message nor a depth snapshot")

    def finish(self) -> None:
        """End of the capture: diffs still waiting for a snapshot are UNSYNCED; add notes."""
        while self.pending:
            d = self.pending.popleft()
            self.drop("depth", Issue.UNSYNCED, d.file, d.line, "u",
                      f"depth diff u={d.final_id} never matched a snapshot before the end",
                      "dropped; no valid book")
        s = self.stats
        self.report.notes.append(
            f"binance-ws {s.symbol} ({s.market.value if s.market else '?'}) -> {self.iid}: "
            f"{s.snapshots_applied} snapshot(s), {s.kept['depth']} depth diffs applied, "
            f"{s.delta_batches} delta batches, {s.sequence_gaps} sequence gap(s)",
        )
        if s.sizes_rounded:
            self.report.notes.append(
                f"{s.sizes_rounded} sizes off the lot grid ({self.lot}) rounded to "
                f"{self.size_precision} decimals (kept, not dropped)",
            )
        if s.ts_clamped:
            self.report.notes.append(
                f"{s.ts_clamped} rows had a local timestamp going backwards: ts_init clamped",
            )

    # --- quotes and trades ---------------------------------------------------------------

    def check_outlier(self, price: float, field_name: str) -> None:
        ref = self.ref_mid
        if ref is not None and abs(price - ref) > self.outlier_frac * ref:
            raise _Reject(
                Issue.OUTLIER, field_name,
                f"price {price} is {abs(price / ref - 1) * 1e4:.0f} bps from the last good mid {ref}",
            )

    def on_book_ticker(self, raw: msgspec.Raw, file: str, line: int, ts_local: int) -> QuoteTick | None:
        try:
            m = _BOOK_TICKER.decode(raw)
            bid_px, bid_ticks = self.price(m.b, "b")
            ask_px, ask_ticks = self.price(m.a, "a")
            bid_sz, _ = self.size(m.B, "B", allow_zero=False)
            ask_sz, _ = self.size(m.A, "A", allow_zero=False)
            if bid_ticks >= ask_ticks:
                issue = Issue.CROSSED_BOOK if bid_ticks > ask_ticks else Issue.LOCKED_BOOK
                raise _Reject(issue, "b", f"bid {m.b} >= ask {m.a}")
            if self.last_quote_u is not None and m.u <= self.last_quote_u:
                issue = Issue.DUPLICATE if m.u == self.last_quote_u else Issue.OUT_OF_ORDER
                raise _Reject(issue, "u", f"bookTicker update id {m.u} after {self.last_quote_u}")
            bid_f = bid_px.as_double()
            ask_f = ask_px.as_double()
            self.check_outlier(bid_f, "b")
            self.check_outlier(ask_f, "a")
        except _Reject as r:
            self.drop("bookTicker", r.issue, file, line, r.field_name, r.detail)
            return None
        except msgspec.ValidationError as e:
            self.drop("bookTicker", Issue.MALFORMED, file, line, _msgspec_field(e), str(e))
            return None
        self.last_quote_u = m.u
        self.ref_mid = 0.5 * (bid_f + ask_f)
        self.ref_from_quote = True
        exch = m.T or m.E
        ts_event = exch * 1_000_000 if exch else ts_local
        self.stats.kept["bookTicker"] += 1
        self.report.written("QuoteTick")
        return QuoteTick(self.iid, bid_px, ask_px, bid_sz, ask_sz, ts_event, ts_local)

    def on_trade(self, raw: msgspec.Raw, file: str, line: int, ts_local: int) -> TradeTick | None:
        try:
            m = _TRADE.decode(raw)
            px, _ = self.price(m.p, "p")
            sz, _ = self.size(m.q, "q", allow_zero=False)
            tid = m.t
            if self.max_trade_id is not None and tid <= self.max_trade_id:
                if tid in self.recent_trade_ids:
                    raise _Reject(Issue.DUPLICATE, "t", f"trade id {tid} already seen")
                raise _Reject(Issue.OUT_OF_ORDER, "t",
                              f"trade id {tid} arrived after {self.max_trade_id}")
            px_f = px.as_double()
            self.check_outlier(px_f, "p")
        except _Reject as r:
            self.drop("trade", r.issue, file, line, r.field_name, r.detail)
            return None
        except msgspec.ValidationError as e:
            self.drop("trade", Issue.MALFORMED, file, line, _msgspec_field(e), str(e))
            return None
        self.max_trade_id = tid
        self.recent_trade_ids.add(tid)
        self.recent_trade_order.append(tid)
        if len(self.recent_trade_order) > 10_000:
            self.recent_trade_ids.discard(self.recent_trade_order.popleft())
        if not self.ref_from_quote:
            # No quote since the start (or since a time gap): trades carry the reference.
            self.ref_mid = px_f
        exch = m.T or m.E
        ts_event = exch * 1_000_000 if exch else ts_local
        self.stats.kept["trade"] += 1
        self.report.written("TradeTick")
        return TradeTick(
            self.iid, px, sz,
            AggressorSide.SELLER if m.m else AggressorSide.BUYER,  # buyer is maker => sell hit
            TradeId(str(tid)), ts_event, ts_local,
        )

    # --- depth ---------------------------------------------------------------------------

    def parse_levels(
        self, bids: list[tuple[str, str]], asks: list[tuple[str, str]], allow_zero: bool,
        prefix: tuple[str, str] = ("b", "a"),
    ) -> list[tuple[bool, Price, int, Quantity, float]]:
        """Validate ``[[price, size], ...]`` levels into ``(is_bid, Price, ticks, Quantity, size)``.

        The hot path is two dict look-ups per level; anything not cached yet (or a size that
        needs counting/rejecting) goes through ``price``/``size`` with the field's JSON path.
        """
        prices, sizes = self._prices, self._sizes
        out = []
        append = out.append
        for is_bid, levels, name in ((True, bids, prefix[0]), (False, asks, prefix[1])):
            for i, (px_s, sz_s) in enumerate(levels):
                hit = prices.get(px_s)
                px, ticks = hit if hit is not None else self.price(px_s, f"{name}[{i}][0]")
                size_hit = sizes.get(sz_s)
                if size_hit is None or size_hit[2] or (size_hit[1] == 0.0 and not allow_zero):
                    qty, value = self.size(sz_s, f"{name}[{i}][1]", allow_zero)
                else:
                    qty, value = size_hit[0], size_hit[1]
                append((is_bid, px, ticks, qty, value))
        return out

    def on_snapshot(self, payload: bytes, file: str, line: int, ts_local: int) -> list[OrderBookDelta]:
        try:
            snap = _SNAPSHOT.decode(payload)
            levels = self.parse_levels(snap.bids, snap.asks, allow_zero=False,
                                       prefix=("bids", "asks"))
        except _Reject as r:
            self.drop("snapshot", r.issue, file, line, r.field_name, r.detail,
                      "snapshot dropped; book stays as it was")
            return []
        except msgspec.ValidationError as e:
            self.drop("snapshot", Issue.MALFORMED, file, line, _msgspec_field(e), str(e),
                      "snapshot dropped; book stays as it was")
            return []
        sid = snap.lastUpdateId
        if self.state == "synced" and sid < self.last_final_id:
            self.drop("snapshot", Issue.STALE_UPDATE, file, line, "lastUpdateId",
                      f"snapshot {sid} older than the synced book (u={self.last_final_id})",
                      "snapshot dropped; synced book kept")
            return []
        book = L2Book()
        for is_bid, _px, ticks, _qty, value in levels:
            book.set_level(is_bid, ticks, value)
        bad = book.crossed_or_locked()
        if bad is not None:
            issue = Issue.CROSSED_BOOK if bad[0] > bad[1] else Issue.LOCKED_BOOK
            self.drop("snapshot", issue, file, line, "bids",
                      f"snapshot best bid {bad[0]} >= best ask {bad[1]} (ticks)",
                      "snapshot dropped; book stays as it was")
            return []
        exch = snap.T or snap.E
        ts_event = exch * 1_000_000 if exch else ts_local
        iid = self.iid
        n = len(levels)
        out = [OrderBookDelta(iid, BookAction.CLEAR, None, F_SNAPSHOT | (F_LAST if n == 0 else 0),
                              sid, ts_event, ts_local)]
        for i, (is_bid, px, _ticks, qty, _value) in enumerate(levels, start=1):
            out.append(OrderBookDelta(
                iid, BookAction.ADD, BookOrder(OrderSide.BUY if is_bid else OrderSide.SELL, px, qty, 0),
                F_SNAPSHOT | (F_LAST if i == n else 0), sid, ts_event, ts_local,
            ))
        self.book = book
        self.state = "await"
        self.snapshot_id = sid
        self.stats.snapshots_applied += 1
        self.stats.kept["snapshot"] += 1
        self.stats.delta_batches += 1
        self.report.written("OrderBookDelta", len(out))
        # Replay the diffs buffered while there was no book; they become valid now.
        pending, self.pending = self.pending, deque()
        for d in pending:
            out.extend(self.apply_diff(d, ts_local))
        return out

    def on_depth(self, raw: msgspec.Raw, file: str, line: int, ts_local: int) -> list[OrderBookDelta]:
        try:
            m = _DEPTH.decode(raw)
            if self.futures and m.pu is None:
                raise _Reject(Issue.MALFORMED, "pu", "futures depth diff without 'pu'")
            levels = self.parse_levels(m.b, m.a, allow_zero=True)
        except (_Reject, msgspec.ValidationError) as e:
            if isinstance(e, _Reject):
                issue, fname, detail = e.issue, e.field_name, e.detail
            else:
                issue, fname, detail = Issue.MALFORMED, _msgspec_field(e), str(e)
            handling = "dropped"
            if self.state in ("synced", "await"):
                handling = "dropped; book invalid until next snapshot"
            self.drop("depth", issue, file, line, fname, detail, handling)
            if self.state in ("synced", "await"):
                self.start_gap(file, line, "a depth diff could not be applied (see previous event)")
            return []
        exch = m.T or m.E
        diff = _PendingDiff(
            file=file, line=line,
            ts_event=exch * 1_000_000 if exch else ts_local,
            first_id=m.U, final_id=m.u, prev_final_id=m.pu, levels=levels,
            after_gap=self.state == "gap",
        )
        if self.state in ("none", "gap"):
            self.buffer(diff)
            return []
        return self.apply_diff(diff, ts_local)

    def buffer(self, diff: _PendingDiff) -> None:
        self.pending.append(diff)
        if len(self.pending) > _MAX_PENDING_DIFFS:
            old = self.pending.popleft()
            self.drop("depth", Issue.UNSYNCED, old.file, old.line, "u",
                      f"depth diff u={old.final_id} while no valid book (buffer full)",
                      "dropped; no valid book")

    def start_gap(self, file: str, line: int, detail: str) -> None:
        self.state = "gap"
        self.stats.sequence_gaps += 1
        self.mark(Issue.SEQUENCE_GAP, file, line, detail, "book invalid until next snapshot")

    def apply_diff(self, d: _PendingDiff, ts_init: int) -> list[OrderBookDelta]:
        """Apply one diff in state ``await``/``synced`` (or buffer it after a gap)."""
        if self.state in ("none", "gap"):
            d.after_gap = d.after_gap or self.state == "gap"
            self.buffer(d)
            return []
        if self.state == "await":
            sid = self.snapshot_id
            if (d.final_id < sid) if self.futures else (d.final_id <= sid):
                issue = Issue.UNSYNCED if d.after_gap else Issue.STALE_UPDATE
                self.drop("depth", issue, d.file, d.line, "u",
                          f"depth diff u={d.final_id} older than snapshot lastUpdateId={sid}",
                          "dropped; covered by the snapshot")
                return []
            if self.futures:
                ok = (d.first_id <= sid <= d.final_id) or d.prev_final_id == sid
            else:
                ok = d.first_id <= sid + 1 <= d.final_id
            if not ok:
                self.start_gap(d.file, d.line,
                               f"first diff after snapshot {sid} starts at U={d.first_id}: "
                               f"updates between them are missing")
                d.after_gap = True
                self.buffer(d)
                return []
        else:  # synced
            last = self.last_final_id
            if self.futures:
                contiguous = d.prev_final_id == last
            else:
                contiguous = d.first_id == last + 1
            if not contiguous:
                if d.final_id <= last:
                    self.drop("depth", Issue.DUPLICATE, d.file, d.line, "u",
                              f"depth diff u={d.final_id} already applied (book at u={last})")
                    return []
                expect = f"pu={last}" if self.futures else f"U={last + 1}"
                got = f"pu={d.prev_final_id}" if self.futures else f"U={d.first_id}"
                self.start_gap(d.file, d.line, f"depth diff expected {expect}, got {got}")
                d.after_gap = True
                self.buffer(d)
                return []
        return self.emit_diff(d, ts_init)

    def emit_diff(self, d: _PendingDiff, ts_init: int) -> list[OrderBookDelta]:
        book = self.book
        iid = self.iid
        seq = d.final_id
        ts_event = d.ts_event
        n = len(d.levels)
        out: list[OrderBookDelta] = []
        for i, (is_bid, px, ticks, qty, value) in enumerate(d.levels, start=1):
            book.set_level(is_bid, ticks, value)
            out.append(OrderBookDelta(
                iid, _UPDATE if value > 0.0 else _DELETE,
                BookOrder(_BUY if is_bid else _SELL, px, qty, 0),
                F_LAST if i == n else 0, seq, ts_event, ts_init,
            ))
        bad = book.crossed_or_locked()
        if bad is not None:
            issue = Issue.CROSSED_BOOK if bad[0] > bad[1] else Issue.LOCKED_BOOK
            self.drop("depth", issue, d.file, d.line, "b",
                      f"diff u={d.final_id} leaves best bid {bad[0]} >= best ask {bad[1]} (ticks)",
                      "dropped; book invalid until next snapshot")
            self.state = "gap"
            return []
        self.state = "synced"
        self.last_final_id = d.final_id
        self.stats.kept["depth"] += 1
        if out:
            self.stats.delta_batches += 1
            self.report.written("OrderBookDelta", len(out))
        return out
