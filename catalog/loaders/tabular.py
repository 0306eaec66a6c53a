"""Row validation and helpers shared by the tabular loaders (Tardis, Databento, Binance CSV, ticks).

Every check is vectorised over a pandas chunk and keeps its state (last timestamp, last row, recent
trade ids, recent prices) across chunks, so a multi-GB file is validated in bounded memory with the
same result as if it had been read whole. What is dropped, and why:

======================  =====================================================================
issue                   rule
======================  =====================================================================
``nan``                 a required field is empty or ``NaN``
``malformed``           a field does not parse (number, side, timestamp), ``inf``, or a
                        timestamp outside [2000-01-01, now + 1 day]
``non_positive_price``  price <= 0
``negative_size``       size < 0
``zero_size``           size == 0 where a size is required (trade, quote side, book add)
``crossed_book``        quote / top of snapshot with bid > ask
``locked_book``         bid == ask (a single venue's book is never locked; FX aggregators can
                        be — pass ``drop_locked=False`` to keep them)
``out_of_order``        ``ts_init`` below the largest ``ts_init`` kept so far in the same file
                        (dropped, not sorted: a streaming loader cannot sort a multi-GB file)
``duplicate``           a row identical to the previous kept row, or a trade id seen in the
                        last ``dedup_window`` trades
``outlier``             price (quote mid) more than ``outlier_max_frac`` away from the median of
                        the previous ``outlier_window_rows`` kept prices (a rolling median is not
                        moved by a single bad print, and follows a genuine level shift after
                        half a window)
======================  =====================================================================
"""

from __future__ import annotations

import gzip
import io
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CurrencyPair, Instrument
from nautilus_trader.model.objects import Price, Quantity

from catalog.instruments import InstrumentSpec, get_spec
from catalog.quality import EXPECTED, DataQualityError, Issue, QualityReport

MIN_TS_NS = 946_684_800_000_000_000
"""2000-01-01T00:00:00Z: no electronic tick data this project reads is older."""

MAX_PRECISION = 9
"""Nautilus' fixed-point precision on the standard (64-bit) build."""

_PER_CHUNK_EVENTS = 20
"""Rows of one issue reported one by one per chunk; the rest of that chunk is counted in bulk."""


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the row checks (see the module docstring for what each one drops).

    Parameters
    ----------
    chunk_rows : int
        Rows parsed at a time; bounds memory for multi-GB inputs.
    outlier_max_frac : float | None
        Largest allowed relative distance of a price from the rolling median; None disables.
    outlier_window_rows : int
        Rows in the rolling median of the outlier check.
    drop_locked : bool
        Drop quotes with bid == ask.
    dedup_window : int
        How many recent trade ids are remembered for duplicate detection.
    max_future_ns : int
        How far past the wall clock a timestamp may lie before it is called malformed.
    """

    chunk_rows: int = 200_000
    outlier_max_frac: float | None = 0.10
    outlier_window_rows: int = 64
    drop_locked: bool = True
    dedup_window: int = 100_000
    max_future_ns: int = 86_400 * 10**9


class SpecLoader:
    """State every spec-driven file loader shares: id override, spec file, checks, instruments.

    The override is checked on construction and its spec looked up by :meth:`override_spec`.

    A loader with no arguments of its own uses this constructor as it is; the others validate
    their extra arguments and then call it. Each adds the instruments it builds to
    ``_instruments`` (keyed by id) for :meth:`instruments`.
    """

    default_check: ClassVar[CheckConfig] = CheckConfig()
    """The checks when none are given (a loader whose rows are heavier keeps its chunks smaller)."""

    def __init__(
        self,
        *,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        check: CheckConfig | None = None,
    ) -> None:
        if instrument_id:
            InstrumentId.from_str(instrument_id)  # fail fast on a malformed id
        self.instrument_id = instrument_id
        self.spec_file = Path(spec_file) if spec_file else None
        self.check = check or self.default_check
        self._instruments: dict[str, Instrument] = {}
        self._native_ids: set[str] = set()

    def native_instrument_ids(self) -> list[str]:
        """The instruments the data itself names (file names, symbol columns), whatever the
        ``instrument_id`` override says: ``catalog.identity`` checks the override against them."""
        return sorted(self._native_ids)

    def override_spec(self) -> InstrumentSpec | None:
        """The spec of the ``instrument_id`` override (``spec_file`` first, then the shipped one).

        None without an override, or when no spec knows the id: the loader then builds a generic
        (or derived) instrument and notes it in the report.
        """
        if not self.instrument_id:
            return None
        try:
            return get_spec(self.instrument_id, self.spec_file)
        except ValueError:
            return None

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())


def report_rows(
    report: QualityReport,
    issue: Issue,
    file: str | Path,
    lines: np.ndarray,
    field_name: str | None,
    detail: str = "",
) -> None:
    """Report every row of ``lines`` (1-based line / record numbers) as dropped for ``issue``.

    The first rows are reported one by one (so events carry their line), the rest of the chunk
    in one bulk call; counts are always complete. Strict mode raises on the first.
    """
    if len(lines) == 0:
        return
    head = lines[:_PER_CHUNK_EVENTS]
    for line in head:
        report.problem(issue, file=file, line=int(line), field_name=field_name, detail=detail)
    rest = len(lines) - len(head)
    if rest:
        report.problem(
            issue,
            file=file,
            line=int(lines[len(head)]),
            field_name=field_name,
            detail=f"{detail} (and {rest - 1} more rows in this chunk)".strip(),
            n=rest,
        )


class RowChecker:
    """Stateful, vectorised validation of one stream (one file) of rows.

    Call the checks in order on each chunk; each returns nothing and clears ``self.keep`` for the
    rows it drops (reporting them). ``begin(lines)`` starts a chunk; ``finish()`` commits the
    cross-chunk state and returns the keep mask.
    """

    def __init__(self, report: QualityReport, file: str | Path, config: CheckConfig) -> None:
        self.report = report
        self.file = str(file)
        self.config = config
        self.keep: np.ndarray = np.zeros(0, dtype=bool)
        self._first: tuple[int, Issue, str | None, str] | None = None
        self.lines: np.ndarray = np.zeros(0, dtype=np.int64)
        self._last_ts: int | None = None
        self._last_row: tuple | None = None
        self._trade_ids: set[str] = set()
        self._trade_order: deque[str] = deque()
        self._prices: np.ndarray = np.zeros(0)

    # -- chunk lifecycle -------------------------------------------------------------------------

    def begin(self, lines: np.ndarray) -> None:
        self.lines = np.asarray(lines, dtype=np.int64)
        self.keep = np.ones(len(lines), dtype=bool)
        self._first: tuple[int, Issue, str | None, str] | None = None

    def drop(self, mask: np.ndarray, issue: Issue, field_name: str | None, detail: str = "") -> None:
        """Drop the still-kept rows where ``mask`` is True, reporting them.

        In strict mode nothing is reported here: ``finish`` raises for the chunk's earliest bad
        line, so the error names the first problem in file order, whatever check found it.
        """
        hit = np.asarray(mask, dtype=bool) & self.keep
        if hit.any():
            if self.report.strict and issue not in EXPECTED:
                line = int(self.lines[hit].min())
                if self._first is None or line < self._first[0]:
                    self._first = (line, issue, field_name, detail)
            else:
                report_rows(self.report, issue, self.file, self.lines[hit], field_name, detail)
            self.keep &= ~hit

    # -- field checks ----------------------------------------------------------------------------

    def numeric(self, raw: pd.Series, field_name: str, *, required: bool = True) -> np.ndarray:
        """Parse a string column to float64, dropping empty/NaN (``nan``) and junk (``malformed``).

        With ``required=False`` an empty field is allowed (and stays NaN in the result).
        """
        text = raw.astype("string").str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        empty = text.isna().to_numpy() | (text == "").fillna(True).to_numpy()
        literal_nan = text.str.lower().isin(["nan", "null", "none"]).fillna(False).to_numpy()
        if required:
            self.drop(empty | literal_nan, Issue.NAN, field_name, "empty or NaN")
        else:
            self.drop(literal_nan, Issue.NAN, field_name, "NaN")
        bad = np.isnan(values) & ~empty & ~literal_nan
        self.drop(bad | np.isinf(values), Issue.MALFORMED, field_name, "not a finite number")
        return values

    def floats(self, values: np.ndarray, field_name: str) -> np.ndarray:
        """Check an already-numeric column (Parquet, DBN) for NaN / inf."""
        values = np.asarray(values, dtype=np.float64)
        self.drop(np.isnan(values), Issue.NAN, field_name, "NaN")
        self.drop(np.isinf(values), Issue.MALFORMED, field_name, "infinite")
        return values

    def timestamps(self, ts_ns: np.ndarray, field_name: str) -> None:
        """Drop implausible timestamps (before 2000 or more than a day in the future)."""
        now = time.time_ns() + self.config.max_future_ns
        bad = (ts_ns < MIN_TS_NS) | (ts_ns > now)
        self.drop(bad, Issue.MALFORMED, field_name, "timestamp outside 2000-01-01 .. now+1d")

    def prices(self, price: np.ndarray, field_name: str) -> None:
        with np.errstate(invalid="ignore"):
            self.drop(price <= 0, Issue.NON_POSITIVE_PRICE, field_name, "price <= 0")

    def sizes(
        self,
        size: np.ndarray,
        field_name: str,
        *,
        allow_zero: bool,
        precision: int | None = None,
    ) -> None:
        """Drop negative sizes, zero sizes (unless allowed) and, given the instrument's size
        ``precision``, positive sizes that would round to 0 (Nautilus rejects a zero trade)."""
        with np.errstate(invalid="ignore"):
            self.drop(size < 0, Issue.NEGATIVE_SIZE, field_name, "size < 0")
            if not allow_zero:
                self.drop(size == 0, Issue.ZERO_SIZE, field_name, "size == 0")
                if precision is not None:
                    tiny = (size > 0) & (np.round(size, precision) == 0)
                    self.drop(tiny, Issue.ZERO_SIZE, field_name,
                              f"size rounds to 0 at the instrument's {precision} decimals")

    def spread(self, bid: np.ndarray, ask: np.ndarray, field_name: str = "bid/ask") -> None:
        with np.errstate(invalid="ignore"):
            self.drop(bid > ask, Issue.CROSSED_BOOK, field_name, "bid > ask")
            if self.config.drop_locked:
                self.drop(bid == ask, Issue.LOCKED_BOOK, field_name, "bid == ask")

    # -- stream checks (call after the field checks) ---------------------------------------------

    def order(self, ts_init: np.ndarray, field_name: str) -> None:
        """Drop rows whose ``ts_init`` is below the largest kept so far (this file)."""
        ts = np.asarray(ts_init, dtype=np.int64)
        kept_ts = np.where(self.keep, ts, np.iinfo(np.int64).min)
        running = np.maximum.accumulate(kept_ts) if len(ts) else kept_ts
        before = np.concatenate(([np.iinfo(np.int64).min], running[:-1])) if len(ts) else running
        if self._last_ts is not None:
            before = np.maximum(before, self._last_ts)
        self.drop(ts < before, Issue.OUT_OF_ORDER, field_name, "timestamp goes backwards")
        if self.keep.any():
            last = int(ts[self.keep].max())
            self._last_ts = last if self._last_ts is None else max(self._last_ts, last)

    def duplicate_rows(self, columns: Sequence[np.ndarray]) -> None:
        """Drop a row identical (in ``columns``) to the previous kept row."""
        idx = np.flatnonzero(self.keep)
        if len(idx) == 0:
            return
        cols = [np.asarray(c)[idx] for c in columns]
        same = np.ones(len(idx), dtype=bool)
        for col in cols:
            eq = np.zeros(len(col), dtype=bool)
            eq[1:] = col[1:] == col[:-1]
            same &= eq
        if self._last_row is not None:
            same[0] = all(_eq(a, b) for a, b in zip(self._last_row, (c[0] for c in cols), strict=True))
        else:
            same[0] = False
        self._last_row = tuple(c[-1] for c in cols)
        dup = np.zeros(len(self.keep), dtype=bool)
        dup[idx[same]] = True
        self.drop(dup, Issue.DUPLICATE, None, "identical to the previous row")

    def duplicate_trade_ids(self, trade_ids: np.ndarray, field_name: str) -> None:
        """Drop trades whose id was seen among the last ``dedup_window`` kept trades."""
        dup = np.zeros(len(self.keep), dtype=bool)
        seen, order, window = self._trade_ids, self._trade_order, self.config.dedup_window
        for i in np.flatnonzero(self.keep):
            tid = str(trade_ids[i])
            if tid in seen:
                dup[i] = True
                continue
            seen.add(tid)
            order.append(tid)
            if len(order) > window:
                seen.discard(order.popleft())
        self.drop(dup, Issue.DUPLICATE, field_name, "trade id seen before")

    def outliers(self, price: np.ndarray, field_name: str) -> None:
        """Drop prices far from the rolling median of the previous kept prices."""
        frac, window = self.config.outlier_max_frac, self.config.outlier_window_rows
        idx = np.flatnonzero(self.keep)
        if frac is None or len(idx) == 0:
            return
        values = np.concatenate((self._prices, np.asarray(price, dtype=np.float64)[idx]))
        ref = pd.Series(values).rolling(window, min_periods=1).median().shift(1).to_numpy()
        ref = ref[len(self._prices) :]
        with np.errstate(invalid="ignore", divide="ignore"):
            far = np.abs(values[len(self._prices) :] / ref - 1.0) > frac
        far &= ~np.isnan(ref)
        mask = np.zeros(len(self.keep), dtype=bool)
        mask[idx[far]] = True
        self.drop(mask, Issue.OUTLIER, field_name, f"more than {frac:.0%} from rolling median")
        kept = np.asarray(price, dtype=np.float64)[self.keep]
        self._prices = np.concatenate((self._prices, kept))[-window:]

    def finish(self) -> np.ndarray:
        if self._first is not None:
            line, issue, field_name, detail = self._first
            self.report.problem(issue, file=self.file, line=line, field_name=field_name, detail=detail)
        return self.keep


def _eq(a: object, b: object) -> bool:
    return bool(a == b)


# -- precision ------------------------------------------------------------------------------------


def text_decimals(raw: pd.Series) -> int:
    """Largest number of decimals written in a numeric text column (trailing zeros count: a
    source printing ``20377.00`` quotes in cents). Scientific notation goes through Decimal."""
    text = raw.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return 0
    sci = text.str.contains(r"[eE]", regex=True)
    out = 0
    plain = text[~sci]
    if not plain.empty:
        frac = plain.str.partition(".")[2]
        out = int(frac.str.len().max())
    for value in text[sci].unique()[:10_000]:
        try:
            exponent = Decimal(value).normalize().as_tuple().exponent
        except InvalidOperation:
            continue
        if isinstance(exponent, int):
            out = max(out, -exponent)
    return out


def float_decimals(values: np.ndarray) -> int:
    """Smallest precision representing every float of ``values`` exactly (up to float noise)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0
    x = np.unique(x)
    for p in range(MAX_PRECISION + 1):
        scaled = x * 10.0**p
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled) * 1e-9)):
            return p
    return MAX_PRECISION


# -- instruments ----------------------------------------------------------------------------------

_QUOTE_SUFFIXES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "GBP", "JPY", "BTC", "ETH")
_PAIR_IN_NAME = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})[/_-]?([A-Za-z]{3})(?![A-Za-z])")


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split ``BTCUSDT`` / ``BTC-USD`` / ``EUR/USD`` / ``BTC-PERPETUAL`` into (base, quote).

    A guess for generic instruments only: the quote defaults to USD when nothing matches.
    """
    s = symbol.upper()
    parts = [p for p in re.split(r"[-/_:]", s) if p]
    if len(parts) >= 2 and parts[1] not in {"PERP", "PERPETUAL", "SWAP"}:
        return parts[0], parts[1]
    head = parts[0] if parts else s
    for quote in _QUOTE_SUFFIXES:
        if head.endswith(quote) and len(head) > len(quote):
            return head[: -len(quote)], quote
    return head, "USD"


def pair_from_filename(path: Path) -> tuple[str, str] | None:
    """Find a 6-letter FX pair (``usdjpy``, ``EURUSD``, ``EUR_USD``) or a USD(T/C)-quoted crypto
    symbol (``btcusdt``) in a file name."""
    for m in _PAIR_IN_NAME.finditer(path.name):
        base, quote = m.group(1).upper(), m.group(2).upper()
        try:
            known = Currency.from_str(base, strict=True) and Currency.from_str(quote, strict=True)
        except Exception:  # noqa: BLE001 - unknown code: keep looking
            known = None
        if known:
            return base, quote
    for token in re.split(r"[-_. ]", path.name):  # crypto symbols: btcusdt-trades.parquet
        if token.isalpha() and 6 <= len(token) <= 12:
            head = token.upper()
            if any(head.endswith(q) and len(head) > len(q) + 1 for q in _QUOTE_SUFFIXES[:5]):
                return split_symbol(head)
    return None


def currency(code: str) -> Currency:
    """A Nautilus currency; unknown codes become crypto currencies of precision 8 (Nautilus'
    non-strict rule)."""
    return Currency.from_str(code.upper(), strict=False)


def generic_pair(
    instrument_id: str,
    base: str,
    quote: str,
    price_precision: int,
    size_precision: int,
    ts_init: int = 0,
) -> CurrencyPair:
    """A spot-like ``CurrencyPair`` whose tick and lot are the data's smallest increments.

    Used when no instrument spec is given: fees are 0 and margins 0 because the data cannot say
    what they are. Loaders say so in the report notes.
    """
    price_precision = min(price_precision, MAX_PRECISION)
    size_precision = min(size_precision, MAX_PRECISION)
    iid = InstrumentId.from_str(instrument_id)
    return CurrencyPair(
        instrument_id=iid,
        raw_symbol=Symbol(iid.symbol.value),
        base_currency=currency(base),
        quote_currency=currency(quote),
        price_precision=price_precision,
        size_precision=size_precision,
        price_increment=Price(10.0**-price_precision, price_precision),
        size_increment=Quantity(10.0**-size_precision, size_precision),
        lot_size=None,
        max_quantity=None,
        min_quantity=None,
        max_notional=None,
        min_notional=None,
        max_price=None,
        min_price=None,
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
        ts_event=ts_init,
        ts_init=ts_init,
    )


def generic_note(instrument_id: str, price_precision: int, size_precision: int) -> str:
    return (
        f"{instrument_id}: no instrument spec given: wrote a generic spot-like CurrencyPair with "
        f"tick 1e-{price_precision} and lot 1e-{size_precision} inferred from the data; fees and "
        f"margins are 0 (UNKNOWN, not free) - pass --instrument-spec with the real contract terms "
        f"for derivatives or fee-aware backtests"
    )


# -- files ----------------------------------------------------------------------------------------


def check_file(path: Path) -> Path:
    """Raise ``DataQualityError`` naming the file if it is missing, not a file or empty."""
    path = Path(path)
    if not path.exists():
        raise DataQualityError(f"{path}: file not found")
    if not path.is_file():
        raise DataQualityError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataQualityError(f"{path}: file is empty")
    return path


def check_files(files: Iterable[Path], report: QualityReport) -> list[Path]:
    """Check every input (:func:`check_file`) before any is read, and list them in ``report``."""
    paths = [check_file(Path(f)) for f in files]
    report.files.extend(str(p) for p in paths)
    return paths


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, transparently un-gzipping ``*.gz``."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - caller closes


def first_line(path: Path) -> str:
    """The first non-empty line of a (possibly gzipped) text file; '' if none."""
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return line.strip()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e
    return ""


def read_csv_chunks(
    path: Path,
    chunk_rows: int,
    *,
    header: bool,
    names: Sequence[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield ``(chunk of str columns, 1-based line numbers)`` from a CSV, bounded in memory.

    Blank lines are kept (as all-empty rows) so line numbers stay exact and blank rows are
    reported; a row with the wrong field count raises ``DataQualityError`` naming the line.
    """
    offset = 2 if header else 1
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            header=0 if header else None,
            names=names if not header else None,
            chunksize=chunk_rows,
            compression="infer",
            engine="c",
        )
        start = 0
        for chunk in reader:
            lines = np.arange(start, start + len(chunk), dtype=np.int64) + offset
            start += len(chunk)
            yield chunk, lines
    except pd.errors.ParserError as e:
        raise DataQualityError(f"{path}: malformed CSV: {e}") from e
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e


def require_columns(path: Path, columns: Iterable[str], required: Iterable[str]) -> None:
    missing = [c for c in required if c not in set(columns)]
    if missing:
        raise DataQualityError(
            f"{path}: missing column(s) {missing}; found {list(columns)}",
        )


def parse_time_column(raw: pd.Series, unit: str | None = None) -> np.ndarray:
    """Parse a timestamp column to int64 UNIX ns (NaT -> int64 min).

    Numbers: unit auto-detected from magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns) unless
    ``unit`` is given. Text: ISO-8601 / any pandas-parsable format; naive times are UTC.
    """
    text = raw.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().any() and numeric.notna().sum() >= text.replace("", pd.NA).notna().sum():
        vals = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        u = unit or detect_unit(vals)
        scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[u]
        out = np.full(len(vals), np.iinfo(np.int64).min, dtype=np.int64)
        ok = np.isfinite(vals)
        if u == "ns":
            out[ok] = pd.to_numeric(text[ok], errors="coerce").astype("int64").to_numpy()
        else:
            # integer part exactly, fraction through float (sub-ns noise is irrelevant)
            whole = np.floor(vals[ok])
            out[ok] = whole.astype(np.int64) * scale + np.round((vals[ok] - whole) * scale).astype(np.int64)
        return out
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    if parsed.isna().all() and text.notna().any():
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)


def detect_unit(values: np.ndarray) -> str:
    """Guess a numeric epoch timestamp's unit from its magnitude."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "ns"
    m = float(np.median(np.abs(finite)))
    if m < 1e11:
        return "s"
    if m < 1e14:
        return "ms"
    if m < 1e17:
        return "us"
    return "ns"


def merge_streams(streams: Sequence[Iterator[Data]]) -> Iterator[Data]:
    """k-way merge of per-file streams, each already in ``ts_init`` order (stable on ties)."""
    import heapq

    if len(streams) == 1:
        yield from streams[0]
        return
    yield from heapq.merge(*streams, key=lambda o: o.ts_init)

