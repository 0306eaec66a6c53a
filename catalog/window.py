"""Read one instrument's replay window out of a ``ParquetDataCatalog``: the one data path.

The RL environment, the backtest runner, ``amm evaluate`` (through the runner) and the benchmarks
all replay what :func:`load_window` returns, so they see the same events in the same order. The
venue's book type decides what that is:

* ``L1_MBP``: ``QuoteTick`` + ``TradeTick``. Their ``ts_event`` is made non-decreasing in replay
  (``ts_init``) order, see :func:`monotonic_ts_event`.
* ``L2_MBP`` / ``L3_MBO``: ``OrderBookDeltas`` (one batch per exchange message) + ``TradeTick``,
  plus ``QuoteTick`` when the catalog has them (strategies may subscribe to quotes; the matching
  engine uses the book). The first event is the full book just before the window's start
  (:func:`catalog.checkpoints.start_book`), so a window cut out of a capture has the depth the
  full replay has at that time. Batches, not single deltas: fed one by one, an order can be
  accepted against a half-applied exchange message (12-23 orders per capture, NOTES §8). An
  ``L2_MBP`` window of an order-by-order (L3) series is replayed as its price levels
  (:mod:`catalog.mbp_view`), the queue model every other result stands on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookAction, BookType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.checkpoints import book_type_of, start_book
from catalog.config_io import FieldError
from catalog.mbp_view import MbpView
from catalog.migrate import LegacyCatalogError, check_layout

TimeLike = str | int | datetime | pd.Timestamp | None

# NautilusTrader 1.231's BacktestEngine.run stamps its start with ``pd.Timestamp.utcnow()``,
# deprecated in pandas 3: one Pandas4Warning per run about Nautilus' code, printed against the
# caller's line. Every engine of this project is fed from here, so the one filter lives here.
warnings.filterwarnings("ignore", message=r"Timestamp\.utcnow is deprecated")

INGEST_HINT = (
    "ingest it first, e.g. `amm ingest binance-ws /path/to/btcusdt_20240808.gz --catalog {catalog}` "
    "(see `amm ingest --help`)"
)


class CatalogDataError(ValueError):
    """The catalog lacks the instrument or the data a backtest needs (message says how to ingest)."""


def data_classes(book_type: str) -> tuple[list[type], list[type]]:
    """Return ``(required, optional)`` data classes for a venue book type."""
    if book_type == "L1_MBP":
        return [QuoteTick, TradeTick], []
    if book_type in ("L2_MBP", "L3_MBO"):
        return [OrderBookDelta, TradeTick], [QuoteTick]
    raise ValueError(f"book_type: must be one of L1_MBP, L2_MBP, L3_MBO, got {book_type!r}")


def to_ns(value: TimeLike, *, name: str = "time") -> int | None:
    """Convert an ISO-8601 string, a datetime or UNIX nanoseconds to UNIX nanoseconds (UTC).

    Naive strings are taken as UTC; ``None`` and an empty string mean "no bound".
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a timestamp, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name}: cannot parse timestamp {value!r} (use ISO-8601 or ns)") from e
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def open_catalog(catalog_path: str | Path) -> ParquetDataCatalog:
    """The catalog at ``catalog_path``, checked and safe to read: every reader opens it here.

    Refuses a directory that is not a catalog and a 1.221 layout; rolls back a commit a crash
    interrupted, and refuses while another process commits
    (:func:`catalog.writer.recover_for_reading`), so no reader sees half of a commit.
    """
    from catalog.writer import CommitInProgressError, recover_for_reading

    path = Path(catalog_path)
    try:
        recover_for_reading(path)
    except CommitInProgressError as e:
        raise CatalogDataError(str(e)) from None
    if not (path / "data").is_dir():
        raise CatalogDataError(
            f"{path}: not a data catalog (no data/ directory); "
            + INGEST_HINT.format(catalog=path),
        )
    try:
        check_layout(path)  # a 1.221 catalog reads as one without a book
    except LegacyCatalogError as e:
        raise CatalogDataError(str(e)) from None
    return ParquetDataCatalog(str(path))


def load_instrument(catalog: ParquetDataCatalog, instrument_id: str) -> Instrument:
    instruments = catalog.instruments(instrument_ids=[instrument_id])
    if not instruments:
        known = sorted(str(i.id) for i in catalog.instruments())
        raise CatalogDataError(
            f"{catalog.path}: instrument {instrument_id} not in catalog (has {known or 'none'}); "
            + INGEST_HINT.format(catalog=catalog.path),
        )
    return instruments[-1]


def _has_files(catalog: ParquetDataCatalog, cls: type, instrument_id: str) -> bool:
    return bool(catalog.get_intervals(cls, instrument_id))


class TimeWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An inclusive time window of a config file (ISO-8601 or UNIX ns); a missing end is open.

    The one window type of every config that names one (training, validation and test windows of
    a training run, a sweep's validation window): each end must parse, and the end must come after
    the start.
    """

    start: str | int | None = None
    end: str | int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            try:
                to_ns(getattr(self, name), name=name)
            except ValueError as e:
                raise FieldError("TimeWindow", name, str(e).split(": ", 1)[-1]) from None
        start, end = self.ns()
        if start is not None and end is not None and end <= start:
            raise FieldError("TimeWindow", "end", f"must be after start ({self.start}), got {self.end}")

    @property
    def bounded(self) -> bool:
        return self.start is not None and self.end is not None

    def ns(self) -> tuple[int | None, int | None]:
        return to_ns(self.start, name="start"), to_ns(self.end, name="end")

    def overlaps(self, other: TimeWindow) -> bool:
        """Whether the two windows share an instant (a missing end is open)."""
        (a, b), (c, d) = self.ns(), other.ns()
        lo, hi = -(2**63), 2**63 - 1
        return (lo if a is None else a) <= (hi if d is None else d) and (lo if c is None else c) <= (hi if b is None else b)


@dataclass(frozen=True)
class Window:
    """One instrument's replay window, ready for ``BacktestEngine.add_data``.

    Attributes
    ----------
    instrument : Instrument
        The instrument definition from the catalog.
    data : list of Data
        Sorted by ``ts_init``; for L2/L3 the first item is :attr:`start_book` when there is one.
    start_ns, end_ns : int or None
        The requested bounds (inclusive; None = the data's own).
    start_book : OrderBookDeltas or None
        The full book just before ``start_ns`` (None when the window starts with the data).
    ts_event_raised : int
        L1 only: quotes/trades whose ``ts_event`` was raised to keep it non-decreasing.
    """

    instrument: Instrument
    data: list[Data]
    start_ns: int | None
    end_ns: int | None
    start_book: OrderBookDeltas | None = None
    ts_event_raised: int = 0

    def book_data(self) -> list[Data]:
        """The order-book items (for ``add_data`` in their own call, see :func:`add_to_engine`)."""
        return [d for d in self.data if isinstance(d, (OrderBookDeltas, OrderBookDelta))]

    def add_to_engine(self, engine) -> None:  # noqa: ANN001 - BacktestEngine
        """Add the window to a low-level engine, book data in its own call.

        Why two calls: ``BacktestEngine.add_data`` decides whether a list holds book data from
        its *first* item only (1.231), and an L2 venue without book data refuses to run.
        """
        book = self.book_data()
        rest = [d for d in self.data if not isinstance(d, (OrderBookDeltas, OrderBookDelta))]
        if book:
            engine.add_data(book, sort=False)
        if rest:
            engine.add_data(rest, validate=False, sort=False)
        engine.sort_data()  # stable: at equal ts_init, book first, as in self.data


def load_window(
    catalog_path: str | Path,
    instrument_id: str,
    start: TimeLike,
    end: TimeLike,
    book_type: str,
) -> Window:
    """Return the instrument and the data a ``book_type`` venue replays, sorted by ``ts_init``.

    Parameters
    ----------
    catalog_path : str or Path
        A ``ParquetDataCatalog`` directory.
    instrument_id : str
        E.g. ``BTCUSDT-PERP.BINANCE``.
    start, end : str, int or None
        Inclusive window bounds (ISO-8601, or UNIX ns); None = from the first / to the last event.
    book_type : {"L1_MBP", "L2_MBP", "L3_MBO"}
        Venue book type (see module docstring).

    Raises
    ------
    CatalogDataError
        If the catalog lacks the instrument, a required data type, or any data in the window.
    """
    required, optional = data_classes(book_type)
    catalog = open_catalog(catalog_path)
    instrument = load_instrument(catalog, instrument_id)
    start_ns, end_ns = to_ns(start, name="start"), to_ns(end, name="end")
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        raise ValueError(f"end ({end}) is before start ({start})")
    data: list[Data] = []
    book = None
    if book_type != "L1_MBP" and start_ns is not None:
        # Per order even for an L2 venue: an order-by-order series is aggregated below, and
        # that needs the orders resting at the start (an MBP series restates its levels).
        book = start_book(catalog_path, instrument_id, start_ns, per_order=True)
    for cls in required + optional:
        if not _has_files(catalog, cls, instrument_id):
            if cls in optional:
                continue
            raise CatalogDataError(
                f"{catalog.path}: no {cls.__name__} data for {instrument_id}, which a {book_type} "
                f"venue needs; " + INGEST_HINT.format(catalog=catalog.path),
            )
        query_cls = OrderBookDeltas if cls is OrderBookDelta else cls
        chunk = catalog.query(query_cls, identifiers=[instrument_id], start=start_ns, end=end_ns)
        if not chunk and cls in required:
            span = data_span(catalog_path, instrument_id)
            raise CatalogDataError(
                f"{catalog.path}: no {cls.__name__} for {instrument_id} between {start} and {end}; "
                f"the catalog covers {_fmt(span[0])} .. {_fmt(span[1])}",
            )
        if cls is OrderBookDelta and book_type == "L2_MBP" and _per_order(book, chunk):
            book, chunk = _levels_of(instrument, book, chunk)
        data.extend(chunk)
    if book is not None:
        data.insert(0, book)
    data.sort(key=lambda d: d.ts_init)  # stable: keeps each type's own order at equal ts_init
    raised = 0
    if book_type == "L1_MBP":
        data, raised = monotonic_ts_event(data)
    return Window(instrument, data, start_ns, end_ns, book, raised)


def _per_order(book: OrderBookDeltas | None, chunk: list[Data]) -> bool:
    """Whether the series is order by order: its first non-CLEAR delta carries an order id."""
    for item in chunk[:1000] + ([book] if book is not None else []):
        for d in item.deltas if isinstance(item, OrderBookDeltas) else [item]:
            if d.order is not None and d.action != BookAction.CLEAR:
                return book_type_of(d) == BookType.L3_MBO
    return False


def _levels_of(
    instrument: Instrument,
    book: OrderBookDeltas | None,
    chunk: list[Data],
) -> tuple[OrderBookDeltas | None, list[Data]]:
    """An order-by-order start book and deltas as price levels, for an L2 venue (catalog.mbp_view)."""
    view = MbpView(instrument.size_precision)
    levels_book = view.apply(book) if book is not None else None
    out: list[Data] = []
    for item in chunk:
        batch = view.apply(item if isinstance(item, OrderBookDeltas) else [item])
        if batch is not None:
            out.append(batch)
    return levels_book, out


def monotonic_ts_event(data: list[Data], floor_ns: int = -1) -> tuple[list[Data], int]:
    """Raise each quote's / trade's ``ts_event`` to the latest one replayed before it.

    Why: on an L1 book NautilusTrader 1.231's matching engine skips a quote or trade whose
    ``ts_event`` is earlier than the last one it applied ("Skipping stale quote/trade"). Binance's
    ``bookTicker`` and ``trade`` streams arrive interleaved with their own delays, so in arrival
    order 14% of the USD-M capture's trades (3,023 of 21,313) and 5% of its quotes (3,388 of
    66,089) carry an exchange time earlier than an event before them, and would neither move the
    book nor fill anyone. The replay order is arrival order
    (``ts_init``): that is what a strategy sees. So every event keeps its place and its ``ts_init``;
    a ``ts_event`` behind the running maximum is raised to it (the event is treated as happening
    when it could first be known). Returns the data and the number of events raised.

    ``floor_ns`` carries the running maximum over from an earlier chunk of the same stream (the
    last returned item's ``ts_event``).
    """
    out: list[Data] = []
    latest = floor_ns
    raised = 0
    for d in data:
        ts_event = d.ts_event
        if ts_event >= latest:
            latest = ts_event
        elif isinstance(d, QuoteTick):
            d = QuoteTick(d.instrument_id, d.bid_price, d.ask_price, d.bid_size, d.ask_size, latest, d.ts_init)
            raised += 1
        elif isinstance(d, TradeTick):
            d = TradeTick(d.instrument_id, d.price, d.size, d.aggressor_side, d.trade_id, latest, d.ts_init)
            raised += 1
        out.append(d)
    return out, raised


def data_span(catalog_path: str | Path, instrument_id: str) -> tuple[int, int]:
    """Return ``(first_ts_init_ns, last_ts_init_ns)`` over all market data of ``instrument_id``.

    Read from the catalog's file names (``<first>_<last>.parquet``), so it costs no data read.
    """
    catalog = open_catalog(catalog_path)
    intervals = [
        iv
        for cls in (QuoteTick, TradeTick, OrderBookDelta)
        for iv in catalog.get_intervals(cls, instrument_id)
    ]
    if not intervals:
        raise CatalogDataError(
            f"{catalog.path}: no market data for {instrument_id}; "
            + INGEST_HINT.format(catalog=catalog.path),
        )
    return min(iv[0] for iv in intervals), max(iv[1] for iv in intervals)


def _fmt(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()
