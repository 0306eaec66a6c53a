"""Tests of ``catalog.explore`` (what the notebooks plot): hand-made events with hand-computed
heat maps, trade tables and quality tables, and on the real USD-M capture
(``binance_ws/usdm/btcusdt_20240808.gz``, the session ``usdm_catalog``) that the sampled top of
book equals a Nautilus ``OrderBook`` rebuilt from the same deltas and the feature table equals
:class:`IncrementalFeatures` fed directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, BookType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.objects import Price, Quantity

from catalog.explore import depth_heatmap, feature_frame, quality_frame, time_grid, trades_frame
from catalog.features import FEATURE_NAMES, FeatureConfig, IncrementalFeatures
from catalog.quality import Issue, QualityReport

IID = InstrumentId.from_str("BTCUSDT.BINANCE")
S = 1_000_000_000
T0 = 1_700_000_000 * S


def _delta(ts: int, action: BookAction, side: OrderSide, price: float, size: float) -> OrderBookDelta:
    return OrderBookDelta(IID, action, BookOrder(side, Price(price, 2), Quantity(size, 3), 0), 0, 0, ts, ts)


def _batch(ts: int, *deltas: tuple[BookAction, OrderSide, float, float]) -> OrderBookDeltas:
    return OrderBookDeltas(IID, [_delta(ts, *d) for d in deltas])


def _trade(ts: int, price: float, size: float, side: AggressorSide, n: int) -> TradeTick:
    return TradeTick(IID, Price(price, 2), Quantity(size, 3), side, TradeId(str(n)), ts - 5, ts)


ADD, UPDATE, DELETE, CLEAR = BookAction.ADD, BookAction.UPDATE, BookAction.DELETE, BookAction.CLEAR
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _events() -> list:
    return [
        # t0: a snapshot with two levels a side
        _batch(T0, (CLEAR, BUY, 0.0, 0.0), (ADD, BUY, 100.00, 1.0), (ADD, BUY, 99.50, 2.0),
               (ADD, SELL, 100.50, 1.5), (ADD, SELL, 101.20, 3.0)),
        _trade(T0 + S // 2, 100.50, 0.5, AggressorSide.BUYER, 1),
        # t0 + 1 s: the best bid grows, a new ask inside the spread
        _batch(T0 + S, (UPDATE, BUY, 100.00, 4.0), (ADD, SELL, 100.30, 0.7)),
        _trade(T0 + S + 1, 100.00, 0.2, AggressorSide.SELLER, 2),
        # t0 + 2.5 s: the bid at 99.50 goes; shows at the 3 s sample, not the 2 s one
        _batch(T0 + 5 * S // 2, (DELETE, BUY, 99.50, 0.0)),
    ]


def test_time_grid_is_aligned_and_inclusive() -> None:
    events = _events()
    assert time_grid(events, S).tolist() == [T0, T0 + S, T0 + 2 * S]
    assert time_grid(events, S, start_ns=T0 + 1, end_ns=T0 + 3 * S).tolist() == [T0 + S, T0 + 2 * S, T0 + 3 * S]
    with pytest.raises(ValueError, match="interval_ns"):
        time_grid(events, 0)


def test_depth_heatmap_by_hand() -> None:
    heat = depth_heatmap(_events(), interval_ns=S, price_step=0.5, depth=1.0, end_ns=T0 + 3 * S)
    # Buckets from the lowest touch - depth, floor((100.00 - 1.0) / 0.5) * 0.5 = 99.0, to the
    # highest touch + depth, 100.50 + 1.0 = 101.5.
    assert heat.prices.tolist() == [99.0, 99.5, 100.0, 100.5, 101.0, 101.5]
    assert heat.times_ns.tolist() == [T0, T0 + S, T0 + 2 * S, T0 + 3 * S]
    np.testing.assert_allclose(heat.best_bid, [100.0, 100.0, 100.0, 100.0])
    np.testing.assert_allclose(heat.best_ask, [100.5, 100.3, 100.3, 100.3])
    np.testing.assert_allclose(heat.spread, [0.5, 0.3, 0.3, 0.3], atol=1e-9)
    np.testing.assert_allclose(heat.bid_size, [
        [0, 2.0, 1.0, 0, 0, 0],
        [0, 2.0, 4.0, 0, 0, 0],
        [0, 2.0, 4.0, 0, 0, 0],
        [0, 0.0, 4.0, 0, 0, 0],
    ])
    # 100.30 falls in the [100.0, 100.5) bucket; 101.20 in [101.0, 101.5).
    np.testing.assert_allclose(heat.ask_size, [
        [0, 0, 0.0, 1.5, 3.0, 0],
        [0, 0, 0.7, 1.5, 3.0, 0],
        [0, 0, 0.7, 1.5, 3.0, 0],
        [0, 0, 0.7, 1.5, 3.0, 0],
    ])
    np.testing.assert_allclose(heat.depth, heat.bid_size + heat.ask_size)
    top = heat.top_of_book()
    assert list(top.columns) == ["best_bid", "best_ask", "mid", "spread"]
    assert top.index[0].value == T0 and str(top.index.tz) == "UTC"


def test_depth_heatmap_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no order book deltas"):
        depth_heatmap([_trade(T0, 1.0, 1.0, AggressorSide.BUYER, 1)], interval_ns=S, price_step=1.0, depth=1.0)
    with pytest.raises(ValueError, match="price_step"):
        depth_heatmap(_events(), interval_ns=S, price_step=0.0, depth=1.0)


def test_trades_frame() -> None:
    trades = trades_frame(_events())
    assert trades["price"].tolist() == [100.50, 100.00]
    assert trades["size"].tolist() == [0.5, 0.2]
    assert trades["aggressor"].tolist() == [1, -1]
    assert trades.index[0].value == T0 + S // 2
    assert trades["ts_event"].iloc[0].value == T0 + S // 2 - 5


def test_feature_frame_equals_incremental_features() -> None:
    config = FeatureConfig(tick_size=0.01, book_levels=2, trade_window_ns=10 * S)
    frame = feature_frame(_events(), config, interval_ns=S, end_ns=T0 + 3 * S)
    assert list(frame.columns) == list(FEATURE_NAMES)
    assert frame["mid"].tolist() == [100.25, 100.15, 100.15, 100.15]
    # imbalance over 2 levels at t0: (3 - 4.5) / 7.5
    assert math.isclose(frame["imbalance"].iloc[0], (3.0 - 4.5) / 7.5)
    # the second trade (t0 + 1 s + 1 ns) comes after the t0 + 1 s sample
    assert frame["trade_count"].tolist() == [0, 1, 2, 2]
    assert frame["buy_volume"].iloc[1] == pytest.approx(0.5)
    assert frame["sell_volume"].tolist()[1:3] == pytest.approx([0.0, 0.2])


def test_quality_frame() -> None:
    report = QualityReport(source_format="binance-ws")
    report.read("depth", 10)
    report.read("trade", 4)
    report.written("OrderBookDelta", 30)
    report.problem(Issue.STALE_UPDATE, file="x.gz", line=3, n=2)
    report.problem(Issue.TIME_GAP, file="x.gz", line=9, detail="5 s without data")
    table = quality_frame(report)
    assert table.values.tolist() == [
        ["read", "depth", 10], ["read", "trade", 4], ["written", "OrderBookDelta", 30],
        ["dropped", "stale_update", 2], ["marked", "time_gap", 1],
    ]


def test_on_real_capture_top_of_book_and_features_match(usdm_catalog) -> None:
    """``binance_ws/usdm/btcusdt_20240808.gz``, one minute: the heat map's touch is a Nautilus
    ``OrderBook``'s, and its depth at the touch is the book's size there; the features are
    ``IncrementalFeatures`` fed directly."""
    from catalog.window import load_window

    window = load_window(usdm_catalog, "BTCUSDT-PERP.BINANCE", "2024-08-08T23:56:00Z", "2024-08-08T23:57:00Z", "L2_MBP")
    heat = depth_heatmap(window.data, interval_ns=5 * S, price_step=0.1, depth=5.0)
    book = OrderBook(window.instrument.id, BookType.L2_MBP)
    events = [d for d in window.data if isinstance(d, OrderBookDeltas)]
    i = 0
    for k, t in enumerate(heat.times_ns):
        while i < len(events) and events[i].ts_init <= t:
            book.apply_deltas(events[i])
            i += 1
        assert heat.best_bid[k] == book.best_bid_price().as_double()
        assert heat.best_ask[k] == book.best_ask_price().as_double()
        j = int(round((heat.best_bid[k] - heat.prices[0]) / 0.1))
        assert heat.bid_size[k, j] == pytest.approx(book.best_bid_size().as_double())
    config = FeatureConfig(tick_size=0.1)
    frame = feature_frame(window.data, config, interval_ns=S)
    direct = IncrementalFeatures(config)
    data = [d for d in window.data if isinstance(d, (OrderBookDeltas, QuoteTick, TradeTick))]
    i = 0
    for ts, row in zip(frame.index.asi8, frame.to_numpy(), strict=True):
        while i < len(data) and data[i].ts_init <= ts:
            direct.on_data(data[i])
            i += 1
        np.testing.assert_array_equal(row, direct.sample(int(ts)).as_array())
