"""Capture lines -> Nautilus ``QuoteTick`` / ``TradeTick`` / ``OrderBookDelta`` (:class:`Session`).

A :class:`Session` is one ``iter_data`` run, fed lines (not files): it decodes each message,
validates prices and sizes against the instrument, drops bad quotes and trades, hands depth
snapshots and diffs to :class:`~catalog.loaders.binance_ws.sync.DepthSync` and turns what the
machine applies into deltas; every drop is reported with file, line and field.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation

import msgspec
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from catalog.loaders.binance_ws.config import BinanceWsLoaderConfig, BinanceWsStats
from catalog.loaders.binance_ws.sync import (
    Applied,
    DepthDiff,
    DepthLevel,
    DepthSnapshot,
    DepthSync,
    Outcome,
    Rejected,
)
from catalog.loaders.binance_ws.wire import (
    BOOK_TICKER,
    DEPTH,
    ENVELOPE,
    SNAPSHOT,
    TRADE,
    Market,
    msgspec_field,
    stream_kind,
)
from catalog.quality import Issue, QualityReport, RowRejected

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
_UPDATE, _DELETE = BookAction.UPDATE, BookAction.DELETE
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL

_CACHE_MAX = 500_000
"""Distinct price/size strings cached before the caches are reset (bounds memory)."""


def _decode(decoder: msgspec.json.Decoder, raw: bytes | msgspec.Raw):
    """Decode one message; a schema mismatch is a MALFORMED row naming the field."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as e:
        raise RowRejected(Issue.MALFORMED, msgspec_field(e), str(e)) from None


class Session:
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
        self.sync = DepthSync(futures=self.futures)
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
            raise RowRejected(Issue.MALFORMED, field_name, f"price {text!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise RowRejected(Issue.NAN, field_name, f"price {text!r} is not finite")
        if value <= 0:
            raise RowRejected(Issue.NON_POSITIVE_PRICE, field_name, f"price {text} <= 0")
        try:
            ticks_dec = Decimal(text) / self.tick
        except InvalidOperation:
            raise RowRejected(Issue.MALFORMED, field_name, f"price {text!r} is not a number") from None
        if ticks_dec != ticks_dec.to_integral_value():
            raise RowRejected(
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
            raise RowRejected(Issue.ZERO_SIZE, field_name, f"size {text} is zero")
        if rounded:
            self.stats.sizes_rounded += 1
        return qty, value

    def _parse_size(self, text: str, field_name: str) -> tuple[Quantity, float, bool]:
        try:
            value = float(text)
            dec = Decimal(text)
        except (ValueError, InvalidOperation):
            raise RowRejected(Issue.MALFORMED, field_name, f"size {text!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise RowRejected(Issue.NAN, field_name, f"size {text!r} is not finite")
        if value < 0:
            raise RowRejected(Issue.NEGATIVE_SIZE, field_name, f"size {text} < 0")
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

    def run(self, file: str, lines: Iterable[tuple[int, bytes]]) -> Iterator[Data]:
        """Yield the data of one file's ``(line_number, raw_line)`` s (see :mod:`.read`)."""
        report = self.report
        prefix = self.stream_prefix
        plen = len(prefix)
        for lineno, raw in lines:
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
                env = ENVELOPE.decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                report.read("malformed")
                self.drop("malformed", Issue.MALFORMED, file, lineno, msgspec_field(e),
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
                kind = stream_kind(stream[plen:]) if stream.startswith(prefix) else None
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
        self.on_sync(self.sync.finish(), 0)  # only drops: nothing is emitted
        s = self.stats
        self.report.notes.append(
            f"binance-ws {s.symbol} ({s.market.value if s.market else '?'}) -> {self.iid}: "
            f"{s.snapshots_applied} snapshot(s), {s.kept['depth']} depth diffs applied, "
            f"{s.delta_batches} delta batches, {s.sequence_gaps} sequence gap(s), "
            f"{len(self.sync.invalidations)} book invalidation(s)",
        )
        # Every time the book became invalid (a gap, a crossed or an unparsable diff) and where a
        # snapshot made it valid again: "0 sequence gaps" alone hid a crossed diff that left the
        # rest of a file without a book.
        for inv in self.sync.invalidations[:50]:
            self.report.notes.append(f"book invalid: {inv.describe()}")
        if len(self.sync.invalidations) > 50:
            self.report.notes.append(f"... and {len(self.sync.invalidations) - 50} more book invalidations")
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
            raise RowRejected(
                Issue.OUTLIER, field_name,
                f"price {price} is {abs(price / ref - 1) * 1e4:.0f} bps from the last good mid {ref}",
            )

    def on_book_ticker(self, raw: msgspec.Raw, file: str, line: int, ts_local: int) -> QuoteTick | None:
        try:
            m = _decode(BOOK_TICKER, raw)
            bid_px, bid_ticks = self.price(m.b, "b")
            ask_px, ask_ticks = self.price(m.a, "a")
            bid_sz, _ = self.size(m.B, "B", allow_zero=False)
            ask_sz, _ = self.size(m.A, "A", allow_zero=False)
            if bid_ticks >= ask_ticks:
                issue = Issue.CROSSED_BOOK if bid_ticks > ask_ticks else Issue.LOCKED_BOOK
                raise RowRejected(issue, "b", f"bid {m.b} >= ask {m.a}")
            if self.last_quote_u is not None and m.u <= self.last_quote_u:
                issue = Issue.DUPLICATE if m.u == self.last_quote_u else Issue.OUT_OF_ORDER
                raise RowRejected(issue, "u", f"bookTicker update id {m.u} after {self.last_quote_u}")
            bid_f = bid_px.as_double()
            ask_f = ask_px.as_double()
            self.check_outlier(bid_f, "b")
            self.check_outlier(ask_f, "a")
        except RowRejected as r:
            self.drop("bookTicker", r.issue, file, line, r.field_name, r.detail)
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
            m = _decode(TRADE, raw)
            px, _ = self.price(m.p, "p")
            sz, _ = self.size(m.q, "q", allow_zero=False)
            tid = m.t
            if self.max_trade_id is not None and tid <= self.max_trade_id:
                if tid in self.recent_trade_ids:
                    raise RowRejected(Issue.DUPLICATE, "t", f"trade id {tid} already seen")
                raise RowRejected(Issue.OUT_OF_ORDER, "t",
                                  f"trade id {tid} arrived after {self.max_trade_id}")
            px_f = px.as_double()
            self.check_outlier(px_f, "p")
        except RowRejected as r:
            self.drop("trade", r.issue, file, line, r.field_name, r.detail)
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
    ) -> list[DepthLevel]:
        """Validate ``[[price, size], ...]`` levels into ``(is_bid, ticks, size, Price, Quantity)``.

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
                append((is_bid, ticks, value, px, qty))
        return out

    def on_snapshot(self, payload: bytes, file: str, line: int, ts_local: int) -> list[OrderBookDelta]:
        try:
            snap = _decode(SNAPSHOT, payload)
            levels = self.parse_levels(snap.bids, snap.asks, allow_zero=False,
                                       prefix=("bids", "asks"))
        except RowRejected as r:
            self.drop("snapshot", r.issue, file, line, r.field_name, r.detail,
                      "snapshot dropped; book stays as it was")
            return []
        exch = snap.T or snap.E
        parsed = DepthSnapshot(snap.lastUpdateId, levels, exch * 1_000_000 if exch else ts_local,
                               file, line)
        # Diffs replayed from the buffer get the snapshot's ts_init: the first moment the book
        # they update existed.
        return self.on_sync(self.sync.on_snapshot(parsed), ts_local)

    def on_depth(self, raw: msgspec.Raw, file: str, line: int, ts_local: int) -> list[OrderBookDelta]:
        try:
            m = _decode(DEPTH, raw)
            if self.futures and m.pu is None:
                raise RowRejected(Issue.MALFORMED, "pu", "futures depth diff without 'pu'")
            levels = self.parse_levels(m.b, m.a, allow_zero=True)
        except RowRejected as r:
            handling = "dropped; book invalid until next snapshot" if self.sync.live else "dropped"
            self.drop("depth", r.issue, file, line, r.field_name, r.detail, handling)
            return self.on_sync(self.sync.break_sequence(
                file, line, "a depth diff could not be applied (see previous event)"), ts_local)
        exch = m.T or m.E
        diff = DepthDiff(m.U, m.u, m.pu, levels, exch * 1_000_000 if exch else ts_local, file, line)
        return self.on_sync(self.sync.on_diff(diff), ts_local)

    def on_sync(self, outcomes: list[Outcome], ts_init: int) -> list[OrderBookDelta]:
        """Turn the depth machine's outcomes into deltas (stamped ``ts_init``) and report entries."""
        out: list[OrderBookDelta] = []
        for o in outcomes:
            if type(o) is Applied:
                item = o.item
                deltas = (self.snapshot_deltas(item, ts_init) if type(item) is DepthSnapshot
                          else self.diff_deltas(item, ts_init))
                out.extend(deltas)
            elif type(o) is Rejected:
                self.drop(o.kind, o.issue, o.item.file, o.item.line, o.field_name, o.detail,
                          o.handling)
            else:  # Gap
                self.stats.sequence_gaps += 1
                self.mark(Issue.SEQUENCE_GAP, o.file, o.line, o.detail,
                          "book invalid until next snapshot")
        return out

    def snapshot_deltas(self, snap: DepthSnapshot, ts_init: int) -> list[OrderBookDelta]:
        """``CLEAR`` + one ``ADD`` per level, all ``F_SNAPSHOT``, the last one ``F_LAST``."""
        iid, sid, ts_event = self.iid, snap.last_update_id, snap.ts_event
        n = len(snap.levels)
        out = [OrderBookDelta(iid, BookAction.CLEAR, None, F_SNAPSHOT | (F_LAST if n == 0 else 0),
                              sid, ts_event, ts_init)]
        for i, (is_bid, _ticks, _value, px, qty) in enumerate(snap.levels, start=1):
            out.append(OrderBookDelta(
                iid, BookAction.ADD, BookOrder(OrderSide.BUY if is_bid else OrderSide.SELL, px, qty, 0),
                F_SNAPSHOT | (F_LAST if i == n else 0), sid, ts_event, ts_init,
            ))
        self.stats.snapshots_applied += 1
        self.stats.kept["snapshot"] += 1
        self.stats.delta_batches += 1
        self.report.written("OrderBookDelta", len(out))
        return out

    def diff_deltas(self, d: DepthDiff, ts_init: int) -> list[OrderBookDelta]:
        """One ``UPDATE`` (``DELETE`` for size 0) per level, the last one ``F_LAST``."""
        iid, seq, ts_event = self.iid, d.final_id, d.ts_event
        n = len(d.levels)
        out: list[OrderBookDelta] = []
        for i, (is_bid, _ticks, value, px, qty) in enumerate(d.levels, start=1):
            out.append(OrderBookDelta(
                iid, _UPDATE if value > 0.0 else _DELETE,
                BookOrder(_BUY if is_bid else _SELL, px, qty, 0),
                F_LAST if i == n else 0, seq, ts_event, ts_init,
            ))
        self.stats.kept["depth"] += 1
        if out:
            self.stats.delta_batches += 1
            self.report.written("OrderBookDelta", len(out))
        return out
