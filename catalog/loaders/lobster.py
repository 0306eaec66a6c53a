"""``amm ingest lobster``: LOBSTER's NASDAQ message + orderbook files (zip or CSV, any level count).

LOBSTER (lobsterdata.com; Huang & Polak, "LOBSTER: Limit Order Book Reconstruction System", 2011)
rebuilds NASDAQ TotalView-ITCH into two CSVs per ticker and day, with one row per event in each:

* ``TICKER_DATE_START_END_message_N.csv`` (no header): ``time`` (seconds after midnight, Eastern
  time, up to ns decimals), ``type`` (1 add, 2 partial cancel, 3 delete, 4 visible execution,
  5 hidden execution, 6 cross trade, 7 trading halt), ``order_id``, ``size`` (shares), ``price``
  (USD x 10,000), ``direction`` (1 buy order, -1 sell order);
* ``TICKER_DATE_START_END_orderbook_N.csv``: the top ``N`` levels after the event,
  ``askP1,askS1,bidP1,bidS1,...``; an empty level is price +/-9,999,999,999 with size 0.

What this loader writes, per ticker and day, as ``SYMBOL.XNAS`` (an ``Equity``, tick $0.01, lot
one share, prices at 4 decimals as in ITCH - hidden midpoint executions print at half-cents; terms
from ``catalog/instruments.toml`` or, for a ticker not listed there, those):

* ``OrderBookDelta`` (L2, by price): the first orderbook row as a snapshot (``CLEAR`` then one
  ``ADD`` per level, all ``F_SNAPSHOT``), then per message the difference between its row and the
  previous one - ``DELETE`` for a price that left the top N (cancelled, executed or scrolled out),
  ``ADD`` for a price that entered it, ``UPDATE`` for a new size - closed by ``F_LAST``. The book
  rebuilt from the deltas therefore equals the file's row after every message, exactly (tested on
  whole days). A level scrolling in or out of the top N is a plain delete plus add: the deltas
  describe the top-N book the file gives, nothing deeper. ``sequence`` = the message's line.
* ``TradeTick`` per execution (types 4 and 5, and 6 if present): the execution's price and size;
  aggressor = the side opposite the executed resting order (``direction`` 1, a buy order executed,
  means a seller hit it: ``SELLER``); a cross (auction) trade has no aggressor. Hidden executions
  are trades like the rest (they printed), but move no displayed level. The trade comes before
  the deltas of the same message, as the cause before its effect on the book (what a queue-aware
  venue needs: the trade eats the queue, then the level shrinks). ``trade_id`` =
  ``<YYYYMMDD>-<line>``, unique per ticker and day.
* ``QuoteTick`` whenever the best bid or ask (price or size) changes and both sides exist.

Timestamps: ``ts_event`` = ``ts_init`` = the message time in UTC ns. The date in the file name and
``America/New_York`` give the UTC offset (EDT, -4 h, on 2012-06-21). Times are parsed as float64:
below 86,400 s, its 53-bit mantissa resolves ~1e-11 s, so rounding to the ns is exact.

What the files cannot give is stated in the quality report's notes: orders resting before the
open, or arriving from levels deeper than N, are cancelled or executed without an add (counted);
events outside the top N levels are not in the files at all, so the depth beyond N is unknown.

Checks (line = line in the message file; the orderbook row of the same line goes with it):
message and orderbook files must have the same number of rows (else the pair is refused);
``time`` going backwards, an unknown ``type``, a non-numeric field, an execution with size or
price <= 0, an orderbook row with a crossed or locked top, unsorted levels, a negative size, or a
price off the $0.01 tick are dropped with their line (or raise in strict mode). Dropping a row is
safe for the book: every row is a full top-N state, and the next kept row is diffed against the
last kept one. Halts (type 7) are noted with their time.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BookOrder, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.objects import Price, Quantity

from catalog.instruments import InstrumentSpec, build_instrument, get_spec
from catalog.loaders.tabular import CheckConfig, SpecLoader, check_file, merge_streams, report_rows
from catalog.quality import DataQualityError, Issue, QualityReport

VENUE = "XNAS"
EXCHANGE_TZ = ZoneInfo("America/New_York")
PRICE_SCALE = 10_000
"""LOBSTER prices are USD x 10,000."""
EMPTY_PRICE = 9_999_999_999
"""An empty level's price (+ on the ask side, - on the bid side), with size 0."""

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)

_NAME = re.compile(
    r"^(?P<ticker>[A-Za-z0-9.\-]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$",
)
_EXECUTIONS = (4, 5, 6)
_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7})


@dataclass(frozen=True)
class LobsterDay:
    """One ticker-day: where its two CSVs are (on disk or inside a zip) and what the name says."""

    ticker: str
    date: dt.date
    levels: int
    message: str
    orderbook: str
    archive: Path | None = None
    """The zip holding both members, or None for plain files."""

    @property
    def source(self) -> str:
        """How reports name the message file: ``archive.zip:member`` or the path."""
        return f"{self.archive}:{self.message}" if self.archive else self.message

    def open(self, member: str) -> io.TextIOBase:
        if self.archive is None:
            return open(member, encoding="ascii", newline="")  # noqa: SIM115 - caller closes
        return io.TextIOWrapper(zipfile.ZipFile(self.archive).open(member), encoding="ascii", newline="")

    @property
    def midnight_utc_ns(self) -> int:
        """UTC ns of midnight Eastern time on ``date`` (LOBSTER times count from there)."""
        midnight = dt.datetime.combine(self.date, dt.time(0), tzinfo=EXCHANGE_TZ)
        return int(midnight.timestamp()) * 1_000_000_000


def _parse_name(name: str, where: str) -> re.Match[str]:
    match = _NAME.match(Path(name).name)
    if match is None:
        raise DataQualityError(
            f"{where}: not a LOBSTER file name (expected TICKER_YYYY-MM-DD_START_END_message_N.csv "
            f"and its _orderbook_N.csv)",
        )
    return match


def _day(match: re.Match[str], message: str, orderbook: str, archive: Path | None) -> LobsterDay:
    return LobsterDay(
        ticker=match["ticker"].upper(),
        date=dt.date.fromisoformat(match["date"]),
        levels=int(match["levels"]),
        message=message,
        orderbook=orderbook,
        archive=archive,
    )


def find_days(files: Sequence[Path]) -> list[LobsterDay]:
    """Pair every message file with its orderbook file: zips (any number of days inside) or CSVs.

    A CSV may be given as either of the pair; the other must sit beside it. The same ticker and day
    given twice (say at 1 and 10 levels) is refused: two books for one instrument would mix.
    """
    days: dict[tuple[str, str, int, str | None], LobsterDay] = {}
    for f in files:
        path = check_file(Path(f))
        if path.suffix.lower() == ".zip":
            try:
                members = zipfile.ZipFile(path).namelist()
            except zipfile.BadZipFile as e:
                raise DataQualityError(f"{path}: not a readable zip archive: {e}") from e
            messages = [m for m in members if _NAME.match(Path(m).name) and "_message_" in Path(m).name]
            if not messages:
                raise DataQualityError(f"{path}: holds no LOBSTER message file (*_message_N.csv)")
            for m in messages:
                book = m.replace("_message_", "_orderbook_")
                if book not in members:
                    raise DataQualityError(f"{path}: {m} has no orderbook file {Path(book).name} beside it")
                match = _parse_name(m, f"{path}:{m}")
                days.setdefault((match["ticker"], match["date"], int(match["levels"]), str(path)),
                                _day(match, m, book, path))
            continue
        match = _parse_name(path.name, str(path))
        message = path.with_name(path.name.replace("_orderbook_", "_message_"))
        book = path.with_name(path.name.replace("_message_", "_orderbook_"))
        for p in (message, book):
            if not p.is_file():
                raise DataQualityError(f"{path}: its pair {p.name} is not beside it")
        days.setdefault((match["ticker"], match["date"], int(match["levels"]), None),
                        _day(match, str(message), str(book), None))
    out = sorted(days.values(), key=lambda d: (d.date, d.ticker))
    seen: dict[tuple[str, dt.date], LobsterDay] = {}
    for d in out:
        other = seen.setdefault((d.ticker, d.date), d)
        if other is not d:
            raise DataQualityError(
                f"{d.source}: {d.ticker} {d.date} is also given as {other.source}; "
                f"ingest one of them (two books of one instrument and day would mix)",
            )
    return out


def equity_spec(ticker: str, instrument_id: str | None, spec_file: Path | None) -> InstrumentSpec:
    """The instrument spec of ``ticker``: from the spec files, else NASDAQ's usual terms."""
    iid = instrument_id or f"{ticker}.{VENUE}"
    try:
        return get_spec(iid, spec_file)
    except ValueError:
        return InstrumentSpec(
            instrument_id=iid, kind="equity", raw_symbol=ticker, base="", quote="USD",
            tick_size=Decimal("0.01"), lot_size=Decimal(1), min_quantity=Decimal(1), price_decimals=4,
        )


@dataclass
class _DayStats:
    """What one day's stream saw, for the report's notes."""

    unknown_order_events: Counter[str] = field(default_factory=Counter)
    halts: list[str] = field(default_factory=list)
    one_sided_rows: int = 0
    executions: int = 0
    executed_shares: int = 0


class LobsterLoader(SpecLoader):
    """Stream LOBSTER ticker-days as L2 deltas, trades and quotes (see the module docstring).

    Parameters
    ----------
    instrument_id : str, optional
        Override the instrument id (only when every file is of one ticker).
    spec_file : Path, optional
        Instrument spec TOML (``kind = "equity"``), else ``catalog/instruments.toml``.
    check : CheckConfig, optional
        ``chunk_rows`` = rows of each CSV parsed at a time (memory stays bounded); default 50,000:
        a chunk's rows become Python lists (~1.5 KB a 10-level row), so it is kept smaller than
        the other loaders' 200,000.
    """

    name = "lobster"
    default_check = CheckConfig(chunk_rows=50_000)

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        days = find_days(files)
        tickers = {d.ticker for d in days}
        if self.instrument_id and len(tickers) > 1:
            raise DataQualityError(
                f"--instrument {self.instrument_id} given for several tickers ({', '.join(sorted(tickers))})",
            )
        for d in days:
            report.files.append(d.source)
        by_date: dict[dt.date, list[LobsterDay]] = {}
        for d in days:
            by_date.setdefault(d.date, []).append(d)
        for date in sorted(by_date):
            yield from merge_streams([self._iter_day(d, report) for d in by_date[date]])

    # -- one ticker-day ---------------------------------------------------------------------------

    def _iter_day(self, day: LobsterDay, report: QualityReport) -> Iterator[Data]:
        self._native_ids.add(f"{day.ticker}.{VENUE}")
        spec = equity_spec(day.ticker, self.instrument_id, self.spec_file)
        if spec.tick_size * PRICE_SCALE % 1 != 0:
            raise DataQualityError(f"{spec.instrument_id}: tick {spec.tick_size} is finer than LOBSTER's $0.0001")
        if spec.price_precision < 4:
            raise DataQualityError(
                f"{spec.instrument_id}: price_precision {spec.price_precision} would round LOBSTER's "
                f"4-decimal execution prices; set price_precision = 4 in the instrument spec",
            )
        iid = InstrumentId.from_str(spec.instrument_id)
        tick_raw = int(spec.tick_size * PRICE_SCALE)
        precision = spec.price_precision
        stats = _DayStats()
        emitter = _Emitter(iid, precision, spec.size_precision, day.date.strftime("%Y%m%d"))
        midnight = day.midnight_utc_ns
        first_ts: int | None = None
        last_ts: int | None = None
        added_ids: set[int] = set()
        prev: tuple[list[int], list[int], list[int], list[int]] | None = None
        with day.open(day.message) as msg_fh, day.open(day.orderbook) as book_fh:
            messages = _csv_chunks(msg_fh, self.check.chunk_rows, day.source, min_columns=6)
            books = _csv_chunks(book_fh, self.check.chunk_rows, day.orderbook, min_columns=4 * day.levels)
            line0 = 1
            for msg, book in _zip_chunks(messages, books, day):
                n = len(msg)
                lines = np.arange(line0, line0 + n)
                line0 += n
                report.read("lobster.message", n)
                report.read("lobster.orderbook", n)
                times = msg[:, 0]
                findings: list[tuple] = []  # reported in line order, so strict mode names the first
                ok = self._check_messages(msg, lines, day, findings)
                book_ok = self._check_book(book, day.levels, tick_raw, lines, day, findings)
                # time going backwards: compared with the last kept message, chunk by chunk
                ts = np.full(n, -1, dtype=np.int64)
                finite = np.isfinite(times)
                ts[finite] = midnight + np.rint(times[finite] * 1e9).astype(np.int64)
                keep = ok & book_ok
                running = last_ts if last_ts is not None else np.iinfo(np.int64).min
                cummax = np.maximum.accumulate(np.where(keep, ts, np.iinfo(np.int64).min))
                prior = np.concatenate(([running], np.maximum(cummax[:-1], running)))
                back = keep & (ts < prior)
                findings.append((Issue.OUT_OF_ORDER, day.source, lines[back], "time",
                                 "message time before an earlier message"))
                keep &= ~back
                for finding in sorted((f for f in findings if len(f[2])), key=lambda f: f[2][0]):
                    report_rows(report, *finding)
                # Python lists once per chunk: per-row numpy indexing costs more than the diff
                fields = np.nan_to_num(msg[:, 1:6], nan=0).astype(np.int64).tolist()
                book_i = np.nan_to_num(book[:, : 4 * day.levels], nan=0).astype(np.int64)
                sides = [book_i[:, k::4].tolist() for k in range(4)]  # askP, askS, bidP, bidS
                # validated: live levels (size > 0) come first on each side, so a count is enough
                n_ask = (book_i[:, 1::4] > 0).sum(axis=1).tolist()
                n_bid = (book_i[:, 3::4] > 0).sum(axis=1).tolist()
                ts_list, line_list = ts.tolist(), lines.tolist()
                for i in np.flatnonzero(keep).tolist():
                    t = ts_list[i]
                    if first_ts is None:
                        first_ts = t
                    last_ts = t
                    line = line_list[i]
                    typ, oid, size, price, direction = fields[i]
                    if typ == 1:
                        added_ids.add(oid)
                    elif typ in (2, 3, 4) and oid not in added_ids:
                        stats.unknown_order_events[{2: "partial cancel", 3: "delete", 4: "execution"}[typ]] += 1
                    if typ in _EXECUTIONS:
                        stats.executions += 1
                        stats.executed_shares += size
                        yield emitter.trade(price, size, direction, typ, line, t)
                    elif typ == 7:
                        stats.halts.append(f"line {line} ({['halt', 'quoting', 'resume'][min(max(price + 1, 0), 2)]})")
                    na, nb = n_ask[i], n_bid[i]
                    state = (sides[0][i][:na], sides[1][i][:na], sides[2][i][:nb], sides[3][i][:nb])
                    if not state[0] or not state[2]:
                        stats.one_sided_rows += 1
                    if prev is None:
                        yield from emitter.snapshot(state, line, t)
                    else:
                        yield from emitter.diff(prev, state, line, t)
                    quote = emitter.quote(state, t)
                    if quote is not None:
                        yield quote
                    prev = state
        report.written("OrderBookDelta", emitter.counts["OrderBookDelta"])
        report.written("QuoteTick", emitter.counts["QuoteTick"])
        report.written("TradeTick", emitter.counts["TradeTick"])
        self._instruments[spec.instrument_id] = build_instrument(spec, ts_init=0)
        self._note(day, spec, stats, report)

    @staticmethod
    def _note(day: LobsterDay, spec: InstrumentSpec, stats: _DayStats, report: QualityReport) -> None:
        unknown = sum(stats.unknown_order_events.values())
        detail = ", ".join(f"{n:,} {k}" for k, n in sorted(stats.unknown_order_events.items()))
        report.notes.append(
            f"{spec.instrument_id} {day.date}: {stats.executions:,} executions, {stats.executed_shares:,} "
            f"shares, written as trades",
        )
        report.notes.append(
            f"{spec.instrument_id} {day.date}: the files give the top {day.levels} level(s) only: events "
            f"deeper in the book are not in them, so depth beyond level {day.levels} is unknown",
        )
        report.notes.append(
            f"{spec.instrument_id} {day.date}: {unknown:,} cancels/executions ({detail or 'none'}) hit "
            f"orders with no add in the file: orders resting before the open or arriving from below "
            f"level {day.levels}; their queue position is unknown (the L2 book is still exact)",
        )
        if stats.one_sided_rows:
            report.notes.append(
                f"{spec.instrument_id} {day.date}: {stats.one_sided_rows:,} rows with an empty book side (no quote written)",
            )
        if stats.halts:
            report.notes.append(
                f"{spec.instrument_id} {day.date}: {len(stats.halts)} trading halt message(s): {', '.join(stats.halts[:10])}",
            )

    # -- checks ------------------------------------------------------------------------------------

    @staticmethod
    def _check_messages(msg: np.ndarray, lines: np.ndarray, day: LobsterDay, findings: list) -> np.ndarray:
        ok = np.ones(len(msg), dtype=bool)
        bad = ~np.isfinite(msg[:, :6]).all(axis=1)
        findings.append((Issue.MALFORMED, day.source, lines[bad], None, "non-numeric or missing field"))
        ok &= ~bad
        kind = np.nan_to_num(msg[:, 1], nan=-1)
        unknown = ok & ~np.isin(kind, list(_TYPES))
        findings.append((Issue.MALFORMED, day.source, lines[unknown], "type",
                         "unknown event type (LOBSTER types are 1-7)"))
        ok &= ~unknown
        execution = ok & np.isin(kind, _EXECUTIONS)
        zero = execution & (msg[:, 3] <= 0)
        findings.append((Issue.ZERO_SIZE, day.source, lines[zero], "size", "execution of no shares"))
        ok &= ~zero
        price = execution & (msg[:, 4] <= 0)
        findings.append((Issue.NON_POSITIVE_PRICE, day.source, lines[price], "price", "execution price <= 0"))
        ok &= ~price
        return ok

    @staticmethod
    def _check_book(
        book: np.ndarray, levels: int, tick_raw: int, lines: np.ndarray, day: LobsterDay, findings: list,
    ) -> np.ndarray:
        where = f"{day.archive}:{day.orderbook}" if day.archive else day.orderbook
        ok = np.isfinite(book[:, : 4 * levels]).all(axis=1)
        findings.append((Issue.MALFORMED, where, lines[~ok], None, "non-numeric or missing orderbook field"))
        b = np.nan_to_num(book[:, : 4 * levels], nan=0).astype(np.int64)
        ask_p, ask_s, bid_p, bid_s = b[:, 0::4], b[:, 1::4], b[:, 2::4], b[:, 3::4]
        negative = ok & ((ask_s < 0) | (bid_s < 0)).any(axis=1)
        findings.append((Issue.NEGATIVE_SIZE, where, lines[negative], "size", "negative level size"))
        ok &= ~negative
        ask_live, bid_live = ask_s > 0, bid_s > 0
        off_tick = ok & (((ask_p % tick_raw != 0) & ask_live) | ((bid_p % tick_raw != 0) & bid_live)).any(axis=1)
        findings.append((Issue.MALFORMED, where, lines[off_tick], "price", f"level price off the {tick_raw / PRICE_SCALE} tick"))
        ok &= ~off_tick
        # levels sorted strictly outwards, empty levels only below the live ones
        big = np.iinfo(np.int64).max
        a = np.where(ask_live, ask_p, big)
        bd = np.where(bid_live, bid_p, -big)
        unsorted = ok & ((np.diff(a, axis=1) <= 0) & ask_live[:, 1:]).any(axis=1)
        unsorted |= ok & ((np.diff(bd, axis=1) >= 0) & bid_live[:, 1:]).any(axis=1)
        unsorted |= ok & ((~ask_live[:, :-1] & ask_live[:, 1:]) | (~bid_live[:, :-1] & bid_live[:, 1:])).any(axis=1)
        findings.append((Issue.MALFORMED, where, lines[unsorted], "price", "levels not sorted outwards from the touch"))
        ok &= ~unsorted
        both = ask_live[:, 0] & bid_live[:, 0]
        crossed = ok & both & (bid_p[:, 0] > ask_p[:, 0])
        findings.append((Issue.CROSSED_BOOK, where, lines[crossed], "bidP1", "best bid above best ask"))
        ok &= ~crossed
        locked = ok & both & (bid_p[:, 0] == ask_p[:, 0])
        findings.append((Issue.LOCKED_BOOK, where, lines[locked], "bidP1", "best bid equals best ask"))
        ok &= ~locked
        return ok


class _Emitter:
    """Turn top-N states into Nautilus objects, caching ``Price``/``Quantity`` per integer value."""

    def __init__(self, iid: InstrumentId, price_precision: int, size_precision: int, day_tag: str) -> None:
        self.iid = iid
        self.price_precision = price_precision
        self.size_precision = size_precision
        self.day_tag = day_tag
        self._prices: dict[int, Price] = {}
        self._sizes: dict[int, Quantity] = {}
        self._zero = Quantity(0, size_precision)
        self._last_top: tuple[int, int, int, int] | None = None
        self.counts: Counter[str] = Counter()

    def price(self, raw: int) -> Price:
        p = self._prices.get(raw)
        if p is None:
            p = self._prices[raw] = Price(raw / PRICE_SCALE, self.price_precision)
        return p

    def size(self, raw: int) -> Quantity:
        q = self._sizes.get(raw)
        if q is None:
            q = self._sizes[raw] = Quantity(raw, self.size_precision)
        return q

    def trade(self, price: int, size: int, direction: int, typ: int, line: int, ts: int) -> TradeTick:
        if typ == 6:
            aggressor = AggressorSide.NO_AGGRESSOR
        else:  # a buy order executed: a seller hit it
            aggressor = AggressorSide.SELLER if direction == 1 else AggressorSide.BUYER
        self.counts["TradeTick"] += 1
        return TradeTick(self.iid, self.price(price), self.size(size), aggressor,
                         TradeId(f"{self.day_tag}-{line}"), ts, ts)

    def _delta(self, action: BookAction, side: OrderSide, price: int, size: int, flags: int,
               line: int, ts: int) -> OrderBookDelta:
        qty = self._zero if action == BookAction.DELETE else self.size(size)
        self.counts["OrderBookDelta"] += 1
        return OrderBookDelta(self.iid, action, BookOrder(side, self.price(price), qty, 0), flags, line, ts, ts)

    def snapshot(self, state: tuple[list[int], ...], line: int, ts: int) -> list[OrderBookDelta]:
        ask_p, ask_s, bid_p, bid_s = state
        levels = [(OrderSide.SELL, p, s) for p, s in zip(ask_p, ask_s, strict=True)]
        levels += [(OrderSide.BUY, p, s) for p, s in zip(bid_p, bid_s, strict=True)]
        self.counts["OrderBookDelta"] += 1
        out = [OrderBookDelta(self.iid, BookAction.CLEAR, None, F_SNAPSHOT | (0 if levels else F_LAST), line, ts, ts)]
        for k, (side, p, s) in enumerate(levels):
            flags = F_SNAPSHOT | (F_LAST if k == len(levels) - 1 else 0)
            out.append(self._delta(BookAction.ADD, side, p, s, flags, line, ts))
        return out

    def diff(self, prev: tuple[list[int], ...], state: tuple[list[int], ...], line: int, ts: int) -> list[OrderBookDelta]:
        if prev == state:
            return []
        changes: list[tuple[BookAction, OrderSide, int, int]] = []
        for side, (op, os_), (np_, ns) in (
            (OrderSide.SELL, (prev[0], prev[1]), (state[0], state[1])),
            (OrderSide.BUY, (prev[2], prev[3]), (state[2], state[3])),
        ):
            if op == np_ and os_ == ns:
                continue
            old = dict(zip(op, os_, strict=True))
            new = dict(zip(np_, ns, strict=True))
            changes.extend((BookAction.DELETE, side, p, 0) for p in op if p not in new)
            for p, s in new.items():
                if p not in old:
                    changes.append((BookAction.ADD, side, p, s))
                elif old[p] != s:
                    changes.append((BookAction.UPDATE, side, p, s))
        last = len(changes) - 1
        return [
            self._delta(action, side, p, s, F_LAST if k == last else 0, line, ts)
            for k, (action, side, p, s) in enumerate(changes)
        ]

    def quote(self, state: tuple[list[int], ...], ts: int) -> QuoteTick | None:
        ask_p, ask_s, bid_p, bid_s = state
        if not ask_p or not bid_p:
            return None
        top = (bid_p[0], bid_s[0], ask_p[0], ask_s[0])
        if top == self._last_top:
            return None
        self._last_top = top
        self.counts["QuoteTick"] += 1
        return QuoteTick(self.iid, self.price(top[0]), self.price(top[2]), self.size(top[1]), self.size(top[3]), ts, ts)


# -- reading ---------------------------------------------------------------------------------------


def _csv_chunks(fh: io.TextIOBase, chunk_rows: int, where: str, *, min_columns: int) -> Iterator[np.ndarray]:
    """Float64 chunks of a header-less numeric CSV; a non-numeric field becomes NaN (reported later).

    Each chunk is parsed straight to float64 by pandas' C parser; only a chunk holding a field
    that is not a number is parsed again as text, field by field (``to_numeric`` over strings is
    ~10x slower, so clean files never pay for it).
    """
    try:
        while True:
            lines = list(itertools.islice(fh, chunk_rows))
            if not lines:
                return
            text = "".join(lines)
            try:
                chunk = pd.read_csv(io.StringIO(text), header=None, dtype=np.float64, skip_blank_lines=False)
            except ValueError:
                chunk = pd.read_csv(io.StringIO(text), header=None, dtype=str, na_filter=False,
                                    skip_blank_lines=False)
                chunk = chunk.apply(pd.to_numeric, errors="coerce")
            if len(chunk) != len(lines):  # blank lines at a chunk's end: keep the row count exact
                chunk = chunk.reindex(range(len(lines)))
            if chunk.shape[1] < min_columns:
                raise DataQualityError(
                    f"{where}: {chunk.shape[1]} columns, expected at least {min_columns} (LOBSTER layout)",
                )
            yield chunk.iloc[:, :min_columns].to_numpy(dtype=np.float64)
    except pd.errors.ParserError as e:
        raise DataQualityError(f"{where}: cannot parse: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise DataQualityError(f"{where}: cannot read: {e}") from e


def _zip_chunks(messages: Iterator[np.ndarray], books: Iterator[np.ndarray], day: LobsterDay) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pair message and orderbook chunks row for row; the two files must have equal row counts."""
    rows = 0
    for msg in messages:
        book = next(books, None)
        if book is None or len(book) != len(msg):
            got = rows + (0 if book is None else len(book))
            raise DataQualityError(
                f"{day.source}: the orderbook file {Path(day.orderbook).name} has fewer rows than the "
                f"message file (from row {got + 1} on): the pair does not belong together",
            )
        rows += len(msg)
        yield msg, book
    if next(books, None) is not None:
        raise DataQualityError(
            f"{day.source}: the orderbook file {Path(day.orderbook).name} has more rows ({rows:,}+) than the "
            f"message file ({rows:,}): the pair does not belong together",
        )


def redate_archive(source: Path, date: dt.date, target_dir: Path) -> Path:
    """Copy a LOBSTER zip with ``date`` in its member names: generated multi-day data.

    LOBSTER times count from midnight ET, so the copy replays the same events on ``date``. The
    benchmarks and tests use it to build catalogs of many days from the one real day per ticker
    the free samples hold; only the calendar is synthetic.
    """
    match = _NAME.match(next(m for m in zipfile.ZipFile(source).namelist() if _NAME.match(Path(m).name)))
    old = match["date"] if match else None
    if old is None:
        raise DataQualityError(f"{source}: holds no LOBSTER file")
    target_dir.mkdir(parents=True, exist_ok=True)
    new = date.isoformat()
    out = target_dir / Path(source).name.replace(old, new)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for name in src.namelist():
            dst.writestr(name.replace(old, new), src.read(name))
    return out


__all__ = ["LobsterDay", "LobsterLoader", "equity_spec", "find_days", "redate_archive"]
