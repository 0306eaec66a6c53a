"""Turn a replay window into tables and matrices a researcher can plot.

What the notebooks (``notebooks/*.ipynb``) draw comes from here, so that no computation lives
only in a notebook: a depth heat map and the top of book sampled on a time grid
(:func:`depth_heatmap`), the trade prints (:func:`trades_frame`), the shared market features
sampled on a grid (:func:`feature_frame`) and an ingest's quality report as a table
(:func:`quality_frame`).

Every function takes the events of :func:`catalog.window.load_window` (``Window.data``: sorted by
``ts_init``, an L2 window opening with the full book) and follows the convention of
:mod:`catalog.features`: the value at grid time ``t`` reflects every event with
``ts_init <= t``, which is what a strategy's timer firing at ``t`` sees. The book is the data
layer's :class:`~catalog.book.L2Book` and the features are
:class:`~catalog.features.IncrementalFeatures`: the one definition used in training,
backtests and live, not a re-implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.objects import FIXED_SCALAR

from catalog.book import L2Book
from catalog.features import FEATURE_NAMES, FeatureConfig, IncrementalFeatures

if TYPE_CHECKING:
    from catalog.quality import QualityReport

__all__ = [
    "DepthHeatmap",
    "depth_heatmap",
    "feature_frame",
    "quality_frame",
    "time_grid",
    "trades_frame",
]


def time_grid(data: Sequence[Data], interval_ns: int, start_ns: int | None = None,
              end_ns: int | None = None) -> np.ndarray:
    """Sample times every ``interval_ns`` from ``start_ns`` to ``end_ns`` (both inclusive).

    ``start_ns`` / ``end_ns`` default to the first / last event's ``ts_init``. The first grid
    point is the first multiple of ``interval_ns`` (since the UNIX epoch) at or after the start,
    the grid of the features' volatility clock.

    Raises
    ------
    ValueError
        If ``interval_ns`` is not positive, or there are no events and no bounds.
    """
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
    if start_ns is None or end_ns is None:
        if not data:
            raise ValueError("no events: pass start_ns and end_ns")
        start_ns = data[0].ts_init if start_ns is None else start_ns
        end_ns = data[-1].ts_init if end_ns is None else end_ns
    first = -(-int(start_ns) // interval_ns) * interval_ns
    if first > end_ns:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, int(end_ns) + 1, interval_ns, dtype=np.int64)


@dataclass(frozen=True)
class DepthHeatmap:
    """Resting size per price bucket at each sample time, with the touch.

    Attributes
    ----------
    times_ns : ndarray of int64, shape (T,)
        Sample times (UNIX ns, ``ts_init`` clock).
    prices : ndarray of float64, shape (P,)
        Lower edge of each price bucket, ascending; bucket ``j`` holds prices in
        ``[prices[j], prices[j] + price_step)``.
    price_step : float
        Bucket width in price units.
    bid_size, ask_size : ndarray of float64, shape (T, P)
        Summed displayed size of the bid / ask levels in each bucket (0 where none).
    best_bid, best_ask : ndarray of float64, shape (T,)
        Touch at each sample time (NaN while a side is empty).
    """

    times_ns: np.ndarray
    prices: np.ndarray
    price_step: float
    bid_size: np.ndarray
    ask_size: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray

    @property
    def times(self) -> pd.DatetimeIndex:
        """Sample times as UTC timestamps."""
        return pd.DatetimeIndex(pd.to_datetime(self.times_ns, unit="ns", utc=True))

    @property
    def mid(self) -> np.ndarray:
        return 0.5 * (self.best_bid + self.best_ask)

    @property
    def spread(self) -> np.ndarray:
        """Best ask - best bid, in price units."""
        return self.best_ask - self.best_bid

    @property
    def depth(self) -> np.ndarray:
        """Total displayed size (bids + asks) per bucket, shape (T, P): the heat map's values."""
        return self.bid_size + self.ask_size

    def top_of_book(self) -> pd.DataFrame:
        """``best_bid``, ``best_ask``, ``mid`` and ``spread`` indexed by UTC sample time."""
        return pd.DataFrame(
            {"best_bid": self.best_bid, "best_ask": self.best_ask, "mid": self.mid, "spread": self.spread},
            index=self.times,
        )


def depth_heatmap(
    data: Iterable[Data],
    *,
    interval_ns: int,
    price_step: float,
    depth: float,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> DepthHeatmap:
    """Rebuild the L2 book from ``data`` and sample it on a time grid into price buckets.

    Parameters
    ----------
    data : iterable of Data
        A window's events in ``ts_init`` order (``OrderBookDeltas`` batches or single
        ``OrderBookDelta``; other types are skipped). An L2 window from
        :func:`catalog.window.load_window` opens with the full book, so the first sample already
        has depth.
    interval_ns : int
        Sampling interval.
    price_step : float
        Width of a price bucket (e.g. the tick size, or 10 ticks for a coarser picture).
    depth : float
        How far from the touch to look, in price units: the buckets span
        ``[min best bid - depth, max best ask + depth]`` over the window; levels outside are left
        out.
    start_ns, end_ns : int, optional
        Grid bounds (default: the first / last event's ``ts_init``).

    Raises
    ------
    ValueError
        If ``price_step`` or ``depth`` is not positive, or the data hold no book.
    """
    if not price_step > 0:
        raise ValueError(f"price_step must be > 0, got {price_step}")
    if not depth > 0:
        raise ValueError(f"depth must be > 0, got {depth}")
    events = [d for d in data if isinstance(d, (OrderBookDeltas, OrderBookDelta))]
    if not events:
        raise ValueError("depth_heatmap: the data hold no order book deltas")
    times = time_grid(events, interval_ns, start_ns, end_ns)
    book = L2Book()
    snapshots: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    best = np.full((len(times), 2), np.nan)
    i = 0
    n = len(events)
    for k, t in enumerate(times):
        while i < n and events[i].ts_init <= t:
            item = events[i]
            book.apply_deltas(item.deltas if isinstance(item, OrderBookDeltas) else (item,))
            i += 1
        bid, ask = book.best_bid(), book.best_ask()
        best[k] = (np.nan if bid is None else bid / FIXED_SCALAR, np.nan if ask is None else ask / FIXED_SCALAR)
        snapshots.append((
            np.fromiter(book.bids.keys(), dtype=np.float64, count=len(book.bids)) / FIXED_SCALAR,
            np.fromiter(book.bids.values(), dtype=np.float64, count=len(book.bids)),
            np.fromiter(book.asks.keys(), dtype=np.float64, count=len(book.asks)) / FIXED_SCALAR,
            np.fromiter(book.asks.values(), dtype=np.float64, count=len(book.asks)),
        ))
    if np.all(np.isnan(best)):
        raise ValueError("depth_heatmap: the book is empty at every sample time")
    lo = np.floor((np.nanmin(best) - depth) / price_step) * price_step
    hi = np.nanmax(best) + depth
    prices = np.arange(lo, hi + price_step * 0.5, price_step)
    bid_size = np.zeros((len(times), len(prices)))
    ask_size = np.zeros((len(times), len(prices)))
    for k, (bp, bs, ap, asz) in enumerate(snapshots):
        for px, sz, out in ((bp, bs, bid_size), (ap, asz, ask_size)):
            j = np.floor((px - lo) / price_step + 1e-9).astype(np.int64)
            keep = (j >= 0) & (j < len(prices))
            np.add.at(out[k], j[keep], sz[keep])
    return DepthHeatmap(times, prices, float(price_step), bid_size, ask_size, best[:, 0], best[:, 1])


_AGGRESSOR = {AggressorSide.BUYER: 1, AggressorSide.SELLER: -1}


def trades_frame(data: Iterable[Data]) -> pd.DataFrame:
    """The trade prints of ``data`` as a table indexed by UTC receive time (``ts_init``).

    Columns: ``price``, ``size`` and ``aggressor`` (+1 buyer-initiated, -1 seller-initiated,
    0 unknown), plus ``ts_event`` (exchange time, UTC).
    """
    rows = [
        (t.ts_init, t.ts_event, t.price.as_double(), t.size.as_double(), _AGGRESSOR.get(t.aggressor_side, 0))
        for t in data
        if isinstance(t, TradeTick)
    ]
    frame = pd.DataFrame(rows, columns=["ts_init", "ts_event", "price", "size", "aggressor"])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts_init"), unit="ns", utc=True), name="time")
    frame["ts_event"] = pd.to_datetime(frame["ts_event"], unit="ns", utc=True)
    frame["aggressor"] = frame["aggressor"].astype(np.int8)
    return frame


def feature_frame(
    data: Iterable[Data],
    config: FeatureConfig,
    *,
    interval_ns: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> pd.DataFrame:
    """The shared market features sampled every ``interval_ns`` over ``data``.

    ``data`` is fed event by event to one :class:`~catalog.features.IncrementalFeatures` (quotes,
    trades, MBP delta batches; other types are skipped) and sampled on :func:`time_grid`,
    exactly as a strategy's decision timer would. Columns are
    :data:`~catalog.features.FEATURE_NAMES`, indexed by UTC sample time; NaN where a feature is
    not yet defined (volatility during its warm-up, time since trade before the first trade).
    """
    events = list(data)
    times = time_grid(events, interval_ns, start_ns, end_ns)
    features = IncrementalFeatures(config)
    out = np.empty((len(times), len(FEATURE_NAMES)))
    i, n = 0, len(events)
    usable = (OrderBookDeltas, OrderBookDelta, QuoteTick, TradeTick)
    for k, t in enumerate(times):
        while i < n and events[i].ts_init <= t:
            item = events[i]
            if isinstance(item, usable):
                features.on_data(item)
            i += 1
        features.sample_into(int(t), out[k])
    frame = pd.DataFrame(out, columns=list(FEATURE_NAMES),
                         index=pd.DatetimeIndex(pd.to_datetime(times, unit="ns", utc=True), name="time"))
    frame["trade_count"] = frame["trade_count"].astype(np.int64)
    return frame


def quality_frame(report: QualityReport) -> pd.DataFrame:
    """An ingest's quality report as one table: a row per input kind and per issue.

    Columns: ``section`` (``read``, ``written``, ``dropped`` or ``marked``), ``name`` (the input
    kind, e.g. ``depth`` / ``trade``; the output type, e.g. ``OrderBookDelta``; or the issue,
    e.g. ``stale_update``) and ``rows``. The report's events and notes are in ``report.events``
    and ``report.notes``.
    """
    rows = [
        (section, name, int(count))
        for section, counter in (("read", report.rows_read), ("written", report.rows_written),
                                 ("dropped", report.dropped), ("marked", report.marked))
        for name, count in sorted(counter.items())
    ]
    return pd.DataFrame(rows, columns=["section", "name", "rows"])
