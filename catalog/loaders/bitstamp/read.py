"""Reading Bitstamp captures: each file's kind, and its rows parsed and validated into events.

One :class:`_Reader` per file turns its lines (read compressed, one at a time) into the events of
:mod:`~catalog.loaders.bitstamp.events`; the input kinds are described in the package docstring.

Timestamps
    ``ts_init`` is the local receive time. ``ts_event`` is the exchange time of the event where
    the source has one: the recorder's ``exchange_timestamp`` (and a log message's
    ``microtimestamp`` where present). The 2015 log's ``datetime`` (and the R CSV's
    ``exchange.timestamp``) is the order's *creation* second, repeated on its changes and
    deletes, so it is not the time of those events: those sources get ``ts_event = ts_init``.
    The recorder's live rows that arrived while its REST book was being fetched follow that book
    in the file (file order is exchange order) but carry earlier local times: they keep their
    place and get the book's ``ts_init`` - the first moment the book they change existed
    locally, as the Binance loader does for diffs buffered before a snapshot - so ``ts_init``
    never decreases; sorting them by local time instead would delete orders before the book that
    holds them. They are counted (``stats.ts_replayed``, a report note), not reported as
    problems. Any other backward step is clamped and marked ``out_of_order`` (kept).

Validation
    Prices must lie on the instrument's tick grid and sizes on its lot grid, up to float noise
    (1e-6 of a unit: the recorder writes floats, ``2.6e-06``, ``1.7885566900000001``);
    otherwise ``malformed`` naming the field. Negative prices (and 0 but on orders), negative
    amounts, zero trade and snapshot sizes, unparsable lines, unknown message kinds, duplicate
    creates, deletes and trade ids (the last three found by the book and the loader), crossed
    snapshots: dropped for their named issue. Strict mode raises on the first problem with
    ``file:line``. The recorder's closing deletes are written as one event (the capture's end
    empties the book at once; it is never seen half closed).
"""

from __future__ import annotations

import csv
import gzip
import io
import lzma
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec
from nautilus_trader.model.enums import AggressorSide

from catalog.loaders.bitstamp.events import (
    _KIND_OF_ACTION,
    CREATED,
    DELETED,
    MS,
    BitstampStats,
    BookClose,
    Event,
    LevelSnapshot,
    OrderEvent,
    OrderImage,
    TradeEvent,
    to_units,
)
from catalog.loaders.tabular import MIN_TS_NS
from catalog.quality import DataQualityError, Issue, QualityReport, RowRejected

_LOG_LINE = re.compile(rb"^\d+ (order_created|order_changed|order_deleted|trade|order_book) ")
_ORDERS_HEADER = ("id", "timestamp", "price", "volume", "action", "direction")
_TRADES_HEADER = ("trade_id", "timestamp", "price", "amount")

FileKind = Literal["log", "orders", "trades", "meta"]


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - caller closes


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line_number, raw_line)`` of a possibly compressed file; damage names the file and line."""
    lineno = 0
    try:
        with _open_binary(path) as fh:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 - used in except
                yield lineno, raw
    except EOFError as e:
        raise DataQualityError(f"{path}:{lineno + 1}: truncated file (ends after line {lineno}): {e}") from e
    except (lzma.LZMAError, gzip.BadGzipFile, OSError) as e:
        raise DataQualityError(f"{path}:{lineno + 1}: cannot read: {e}") from e


def detect_kind(path: Path) -> FileKind:
    """Tell a file's kind from its first line (the kinds: see the package docstring)."""
    first = b""
    for _, raw in _lines(path):
        if raw.strip():
            first = raw.strip()
            break
    if not first:
        raise DataQualityError(f"{path}: file is empty")
    if _LOG_LINE.match(first):
        return "log"
    if first.startswith(b"{"):
        return "meta"
    header = tuple(c.strip() for c in first.decode("utf-8", "replace").split(","))
    if all(c in header for c in _TRADES_HEADER):
        return "trades"
    if all(c in header for c in _ORDERS_HEADER) and ({"exchange.timestamp", "exchange_timestamp"} & set(header)):
        return "orders"
    raise DataQualityError(
        f"{path}:1: not a Bitstamp capture: expected '<local_ms> order_created|...|order_book <json>' "
        f"lines, an orders CSV ({','.join(_ORDERS_HEADER)}) or a trades CSV header; got {first[:80]!r}",
    )


class _LogOrder(msgspec.Struct):
    price: str | float
    amount: str | float
    id: int
    order_type: int
    datetime: str | int | None = None
    microtimestamp: str | int | None = None


class _LogTrade(msgspec.Struct):
    price: str | float
    amount: str | float
    id: int
    type: int | None = None
    microtimestamp: str | int | None = None


class _LogBook(msgspec.Struct):
    bids: list[tuple[str | float, str | float]]
    asks: list[tuple[str | float, str | float]]
    microtimestamp: str | int | None = None


_DECODERS = {
    "order_created": msgspec.json.Decoder(_LogOrder),
    "order_changed": msgspec.json.Decoder(_LogOrder),
    "order_deleted": msgspec.json.Decoder(_LogOrder),
    "trade": msgspec.json.Decoder(_LogTrade),
    "order_book": msgspec.json.Decoder(_LogBook),
}
_ACTION_OF_KIND = {v: k for k, v in _KIND_OF_ACTION.items()}
_FIELD_RE = re.compile(r"`\$\.?([^`]*)`")


class _Reader:
    """Parse one file into events, validating each row (shared clock, scales and accounting)."""

    def __init__(self, path: Path, tick_scale: int, lot_scale: int,
                 report: QualityReport, stats: BitstampStats) -> None:
        self.path = path
        self.file = str(path)
        self.tick_scale = tick_scale
        self.lot_scale = lot_scale
        self.report = report
        self.stats = stats
        self.last_ts = 0
        self.floor_ts = 0  # ts_init of the REST book: live rows received before it replay at it
        self.max_ts = time.time_ns() + 86_400 * 10**9

    def drop(self, kind: str, issue: Issue, line: int, field_name: str | None, detail: str) -> None:
        self.stats.dropped[kind] += 1
        self.report.problem(issue, file=self.file, line=line, field_name=field_name, detail=detail)

    def local_ts(self, ms: int, line: int, field_name: str = "timestamp") -> tuple[int, int]:
        """``(ts_init, raw local ns)``: clamp a backward step (see the module docstring)."""
        ts = ms * MS
        if not MIN_TS_NS <= ts <= self.max_ts:
            raise RowRejected(Issue.MALFORMED, field_name, f"timestamp {ms} outside 2000-01-01 .. now+1d")
        raw = ts
        if ts < self.last_ts:
            if ts < self.floor_ts and self.last_ts == self.floor_ts:
                self.stats.ts_replayed += 1
            else:
                self.stats.ts_clamped += 1
                self.report.problem(Issue.OUT_OF_ORDER, file=self.file, line=line, field_name=field_name,
                                    detail=f"local time {ms} ms before the previous {self.last_ts // MS} ms",
                                    handling="ts_init clamped to the previous row", kept=True)
            ts = self.last_ts
        self.last_ts = ts
        return ts, raw

    def ticks(self, value: str | float, field_name: str, *, allow_zero: bool = False) -> int:
        """A price in ticks; 0 only where ``allow_zero`` (an order's "no price", see the ``book`` module)."""
        t = to_units(value, self.tick_scale, field_name, what="price")
        if t < 0 or (t == 0 and not allow_zero):
            raise RowRejected(Issue.NON_POSITIVE_PRICE, field_name, f"price {value} <= 0")
        return t

    def lots(self, value: str | float, field_name: str, *, positive: bool = False, scale: int | None = None) -> int:
        n = to_units(value, scale or self.lot_scale, field_name, what="amount")
        if n < 0:
            raise RowRejected(Issue.NEGATIVE_SIZE, field_name, f"amount {value} < 0")
        if positive and n == 0:
            raise RowRejected(Issue.ZERO_SIZE, field_name, f"amount {value} is zero")
        return n

    # -- the raw log -----------------------------------------------------------------------------

    def read_log(self) -> Iterator[Event]:
        """``<local_ms> <kind> <json>`` lines as events (see the package docstring)."""
        for lineno, raw in _lines(self.path):
            if not raw.strip():
                continue
            parts = raw.split(b" ", 2)
            kind = parts[1].decode("ascii", "replace") if len(parts) == 3 else ""
            if kind not in _DECODERS:
                if len(parts) == 3 and parts[0].isdigit():
                    self.report.read("unknown")
                    self.drop("unknown", Issue.UNKNOWN_STREAM, lineno, "kind",
                              f"message kind {kind[:40]!r} is not one of {', '.join(_DECODERS)}")
                else:
                    self.report.read("malformed")
                    self.drop("malformed", Issue.MALFORMED, lineno, "line", "expected '<local_ms> <kind> <json>'")
                continue
            self.report.read(kind)
            try:
                ev = self._log_event(kind, parts[0], parts[2], lineno)
            except RowRejected as r:
                self.drop(kind, r.issue, lineno, r.field_name, r.detail)
                continue
            yield ev

    def _log_event(self, kind: str, ts_text: bytes, body: bytes, lineno: int) -> Event:
        try:
            ms = int(ts_text)
        except ValueError:
            raise RowRejected(Issue.MALFORMED, "local_ms", f"local time {ts_text[:40]!r} is not an integer") from None
        try:
            msg = _DECODERS[kind].decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            names = _FIELD_RE.findall(str(e))
            raise RowRejected(Issue.MALFORMED, names[0] if names else "json", f"invalid {kind} message: {e}") from None
        ts_init, raw_ts = self.local_ts(ms, lineno, "local_ms")
        exch = _micro_ns(msg.microtimestamp)
        ts_event = exch if exch is not None else ts_init
        if kind == "trade":
            side = None if msg.type is None else (AggressorSide.BUYER if msg.type == 0 else AggressorSide.SELLER)
            price, lots = self.ticks(msg.price, "price"), self.lots(msg.amount, "amount", positive=True)
            return TradeEvent(msg.id, price, lots, ts_init, ts_event, self.file, lineno, side)
        if kind == "order_book":
            snap = LevelSnapshot(self.levels(msg.bids, "bids"), self.levels(msg.asks, "asks"),
                                 ts_init, ts_event, self.file, lineno)
            if snap.bids and snap.asks and snap.bids[0][0] >= snap.asks[0][0]:
                issue = Issue.CROSSED_BOOK if snap.bids[0][0] > snap.asks[0][0] else Issue.LOCKED_BOOK
                raise RowRejected(issue, "bids", f"best bid {snap.bids[0][0]} >= best ask {snap.asks[0][0]} (ticks)")
            self.stats.kept[kind] += 1
            return snap
        if msg.order_type not in (0, 1):
            raise RowRejected(Issue.MALFORMED, "order_type", f"order_type {msg.order_type} is not 0 (bid) or 1 (ask)")
        price = self.ticks(msg.price, "price", allow_zero=True)
        return OrderEvent(_ACTION_OF_KIND[kind], msg.id, msg.order_type == 0, price, self.lots(msg.amount, "amount"),
                          ts_init, ts_event, self.file, lineno, raw_ts)

    def levels(self, rows: list[tuple[str | float, str | float]], name: str) -> list[tuple[int, int]]:
        return [(self.ticks(p, f"{name}[{i}][0]"), self.lots(a, f"{name}[{i}][1]", positive=True))
                for i, (p, a) in enumerate(rows)]

    # -- CSVs ------------------------------------------------------------------------------------

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """``(line, {column: value})``; a row with the wrong field count comes as ``{"": why}``."""
        header: list[str] | None = None
        for lineno, raw in _lines(self.path):
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            if header is None:
                header = [c.strip() for c in text.split(",")]
                continue
            values = next(csv.reader([text]))
            if len(values) != len(header):
                yield lineno, {"": f"{len(values)} fields, the header has {len(header)}"}
                continue
            yield lineno, dict(zip(header, values, strict=True))

    def read_orders(self) -> Iterator[Event]:
        """Order rows; the recorder's opening REST block and closing deletes become one event each.

        The recorder (header ``exchange_timestamp``) writes its REST book as the leading
        ``created`` rows sharing one ``(timestamp, exchange_timestamp)``, and its closing deletes
        as trailing ``deleted`` rows stamped ``timestamp == exchange_timestamp`` (live rows lag
        the exchange by tens of ms). Candidate closing rows are buffered while they share one
        timestamp and given back as ordinary deletes if a later row follows them.
        """
        recorder = detect_recorder(self.path)
        image: list[OrderEvent] = []
        image_key: tuple[int, int | None] | None = None
        opening = recorder
        closing: list[OrderEvent] = []
        for lineno, row in self._csv_rows():
            action = row.get("action", "").strip()
            kind = _KIND_OF_ACTION.get(action, "malformed")
            self.report.read(kind)
            if opening and image:
                self.floor_ts = self.last_ts  # a step back below the REST book ends it (see local_ts)
            try:
                ev, key = self.order_row(row, action, lineno, recorder)
            except RowRejected as r:
                self.drop(kind, r.issue, lineno, r.field_name, r.detail)
                continue
            if opening:
                if action == CREATED and (image_key is None or key == image_key):
                    image_key = key
                    image.append(ev)
                    continue
                opening = False
                if image:
                    self.floor_ts = image[0].ts_init
                    yield OrderImage(image, image[0].ts_init, image[0].ts_event, self.file, image[0].line)
                    image = []
            if recorder and action == DELETED and key[1] == key[0]:
                if closing and closing[-1].ts_local != ev.ts_local:
                    yield from closing
                    closing = []
                closing.append(ev)
                continue
            if closing:
                yield from closing
                closing = []
            yield ev
        if image:
            yield OrderImage(image, image[0].ts_init, image[0].ts_event, self.file, image[0].line)
        if closing:
            yield BookClose(closing, closing[0].ts_init, closing[0].ts_event, self.file, closing[0].line)

    def order_row(self, row: dict[str, str], action: str, lineno: int,
                  recorder: bool) -> tuple[OrderEvent, tuple[int, int | None]]:
        """One order row as an event plus its ``(local_ms, exchange_ms)``."""
        if "" in row:
            raise RowRejected(Issue.MALFORMED, "line", row[""])
        if action not in _KIND_OF_ACTION:
            raise RowRejected(Issue.MALFORMED, "action", f"action {action!r} is not created|changed|deleted")
        direction = row["direction"].strip()
        if direction not in ("bid", "ask"):
            raise RowRejected(Issue.MALFORMED, "direction", f"direction {direction!r} is not bid|ask")
        ms = _int_field(row, "timestamp")
        exch_field = "exchange_timestamp" if recorder else "exchange.timestamp"
        exch_ms = _int_field(row, exch_field, required=False)
        oid = _int_field(row, "id")
        price = self.ticks(row["price"], "price", allow_zero=True)
        lots = self.lots(row["volume"], "volume", scale=None if recorder else 1)  # R: satoshi
        ts_init, raw = self.local_ts(ms, lineno)
        ts_event = exch_ms * MS if recorder and exch_ms is not None else ts_init
        ev = OrderEvent(action, oid, direction == "bid", price, lots, ts_init, ts_event, self.file, lineno, raw)
        return ev, (ms, exch_ms)

    def read_trades(self) -> Iterator[Event]:
        for lineno, row in self._csv_rows():
            self.report.read("trade")
            try:
                if "" in row:
                    raise RowRejected(Issue.MALFORMED, "line", row[""])
                tid = _int_field(row, "trade_id")
                ms = _int_field(row, "timestamp")
                exch_ms = _int_field(row, "exchange_timestamp", required=False)
                side = row.get("side", "").strip().lower()
                if side not in ("buy", "sell", ""):
                    raise RowRejected(Issue.MALFORMED, "side", f"side {side!r} is not buy|sell")
                price = self.ticks(row["price"], "price")
                lots = self.lots(row["amount"], "amount", positive=True)
                ts_init, _ = self.local_ts(ms, lineno)
            except RowRejected as r:
                self.drop("trade", r.issue, lineno, r.field_name, r.detail)
                continue
            yield TradeEvent(tid, price, lots, ts_init, exch_ms * MS if exch_ms is not None else ts_init,
                             self.file, lineno, _SIDES.get(side))


_SIDES = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER}


def _int_field(row: dict[str, str], name: str, *, required: bool = True) -> int | None:
    text = row.get(name, "").strip()
    if not text:
        if required:
            raise RowRejected(Issue.NAN, name, f"{name} is empty")
        return None
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise RowRejected(Issue.MALFORMED, name, f"{name} {text!r} is not an integer") from None
        if not value.is_integer():
            raise RowRejected(Issue.MALFORMED, name, f"{name} {text!r} is not an integer")
        return int(value)


def detect_recorder(path: Path) -> bool:
    """An orders CSV by the ob-analytics 0.1.0 recorder (``exchange_timestamp``, BTC volumes)
    rather than the R package's parse (``exchange.timestamp``, satoshi volumes)."""
    for _, raw in _lines(path):
        if raw.strip():
            return "exchange_timestamp" in raw.decode("utf-8", "replace")
    return False


def _micro_ns(value: str | int | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value) * 1_000
    except (TypeError, ValueError):
        return None


__all__ = ["FileKind", "detect_kind", "detect_recorder"]
