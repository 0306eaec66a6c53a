"""Tests of ``catalog.features``: hand-computed formulas, and on real Binance data
(``fixtures/binance/btcusdt-*.parquet`` and ``binance_ws/spot/btcusdt_20240808.gz``) that every way
of feeding :class:`IncrementalFeatures` (events directly, book deltas through its ``L2Book`` or a
Nautilus ``OrderBook``, inside a ``BacktestEngine`` strategy on a timer) gives the same values."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import (
    BookOrder,
    OrderBookDelta,
    OrderBookDeltas,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import AggressorSide, BookAction, BookType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.objects import FIXED_SCALAR, Price, Quantity

from catalog.features import (
    FEATURE_NAMES,
    FeatureConfig,
    FeatureVector,
    IncrementalFeatures,
)
from catalog.book import L2Book
from catalog.settings import data_dir

IID = InstrumentId.from_str("BTCUSDT.BINANCE")
S = 1_000_000_000  # one second in ns
T0 = 1_700_000_000 * S  # a grid-aligned origin for hand-made events


# -- helpers --------------------------------------------------------------------------------------


def quote(ts: int, bid: float, ask: float, bid_size: float, ask_size: float) -> QuoteTick:
    return QuoteTick(
        IID,
        Price(bid, 2),
        Price(ask, 2),
        Quantity(bid_size, 5),
        Quantity(ask_size, 5),
        ts,
        ts,
    )


_trade_ids = iter(range(1, 10**9))


def trade(ts: int, price: float, size: float, side: AggressorSide) -> TradeTick:
    return TradeTick(
        IID,
        Price(price, 2),
        Quantity(size, 5),
        side,
        TradeId(str(next(_trade_ids))),
        ts,
        ts,
    )


def delta(
    ts: int,
    action: BookAction,
    side: OrderSide,
    price: float,
    size: float,
) -> OrderBookDelta:
    order = BookOrder(side, Price(price, 2), Quantity(size, 5), 0)
    return OrderBookDelta(IID, action, order, 0, 0, ts, ts)


def replay(
    events: Iterable,
    sample_ts: Sequence[int],
    config: FeatureConfig,
    book_mode: str = "l2book",
) -> pd.DataFrame:
    """Feed ``events`` (ts_init order) one by one; sample at each time once all events
    with ``ts_init <= t`` were fed. ``book_mode``: "l2book" (on_book_deltas) or "nautilus"
    (apply to an OrderBook and call on_book)."""
    feats = IncrementalFeatures(config)
    book = OrderBook(IID, BookType.L2_MBP) if book_mode == "nautilus" else None
    times = np.sort(np.asarray(sample_ts, dtype=np.int64))
    rows: list[np.ndarray] = []
    i = 0
    for ev in events:
        ts = ev.ts_init
        while i < len(times) and times[i] < ts:
            rows.append(feats.sample(int(times[i])).as_array())
            i += 1
        if isinstance(ev, QuoteTick):
            feats.on_quote(ev)
        elif isinstance(ev, TradeTick):
            feats.on_trade(ev)
        elif isinstance(ev, OrderBookDelta):
            if book is None:
                feats.on_book_deltas(ev)
            else:
                book.apply_delta(ev)
                feats.on_book(book, ts_init_ns=ts)
    while i < len(times):
        rows.append(feats.sample(int(times[i])).as_array())
        i += 1
    return pd.DataFrame(np.vstack(rows), columns=list(FEATURE_NAMES), index=times)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two feature frames are equal bit for bit (NaN where the other has NaN)."""
    assert list(a.columns) == list(b.columns) == list(FEATURE_NAMES)
    np.testing.assert_array_equal(a.index.to_numpy(), b.index.to_numpy())
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(a[name].to_numpy(np.float64), b[name].to_numpy(np.float64),
                                      err_msg=name)


def one(config: FeatureConfig, events: list, t: int) -> FeatureVector:
    feats = IncrementalFeatures(config)
    for ev in events:
        feats.on_data(ev)
    return feats.sample(t)


# -- formulas on tiny hand-computed inputs --------------------------------------------------------


def test_top_of_book_from_a_quote() -> None:
    cfg = FeatureConfig(tick_size=0.25)
    fv = one(cfg, [quote(T0, 100.0, 101.0, 3.0, 1.0)], T0)
    assert fv.mid == 100.5
    assert fv.microprice == pytest.approx((100.0 * 1.0 + 101.0 * 3.0) / 4.0)  # 100.75
    assert fv.spread_ticks == 4.0
    assert fv.imbalance == pytest.approx((3.0 - 1.0) / 4.0)  # k = 1 from the quote


def test_everything_undefined_before_events() -> None:
    fv = IncrementalFeatures(FeatureConfig(tick_size=0.01)).sample(T0)
    assert all(math.isnan(getattr(fv, n)) for n in ("mid", "microprice", "spread_ticks",
                                                    "imbalance", "volatility",
                                                    "time_since_trade_s"))
    assert (fv.trade_flow, fv.buy_volume, fv.sell_volume, fv.trade_count) == (0.0, 0.0, 0.0, 0)


def test_event_at_sample_time_is_included() -> None:
    cfg = FeatureConfig(tick_size=0.01)
    events = [quote(T0, 100.0, 100.02, 1.0, 1.0), quote(T0 + 5, 200.0, 200.02, 1.0, 1.0)]
    assert one(cfg, events, T0 + 5).mid == pytest.approx(200.01)
    assert replay(events, [T0 + 4, T0 + 5], cfg)["mid"].tolist() == pytest.approx([100.01, 200.01])


def _book_events(ts: int) -> list[OrderBookDelta]:
    b, a = OrderSide.BUY, OrderSide.SELL
    return [
        OrderBookDelta.clear(IID, 0, ts, ts),
        delta(ts, BookAction.ADD, b, 100.0, 1.0),
        delta(ts, BookAction.ADD, b, 99.0, 2.0),
        delta(ts, BookAction.ADD, b, 98.0, 10.0),
        delta(ts, BookAction.ADD, a, 101.0, 1.0),
        delta(ts, BookAction.ADD, a, 102.0, 1.0),
        delta(ts, BookAction.ADD, a, 103.0, 5.0),
    ]


@pytest.mark.parametrize("book_mode", ["l2book", "nautilus"])
def test_book_imbalance_over_k_levels(book_mode: str) -> None:
    cfg = FeatureConfig(tick_size=1.0, book_levels=2)
    events = _book_events(T0)
    out = replay(events, [T0], cfg, book_mode).iloc[0]
    assert out["imbalance"] == pytest.approx((3.0 - 2.0) / 5.0)  # bids 1+2, asks 1+1
    assert out["mid"] == 100.5 and out["spread_ticks"] == 1.0
    assert out["microprice"] == pytest.approx(100.5)  # equal touch sizes
    # a later update: delete the best bid, grow the second ask level
    later = [
        delta(T0 + 1, BookAction.DELETE, OrderSide.BUY, 100.0, 0.0),
        delta(T0 + 1, BookAction.UPDATE, OrderSide.SELL, 102.0, 4.0),
    ]
    out = replay(events + later, [T0 + 1], cfg, book_mode).iloc[0]
    assert out["imbalance"] == pytest.approx((12.0 - 5.0) / 17.0)  # bids 2+10, asks 1+4
    assert out["mid"] == 100.0 and out["spread_ticks"] == 2.0
    assert out["microprice"] == pytest.approx((99.0 * 1.0 + 101.0 * 2.0) / 3.0)


def test_book_with_fewer_levels_than_k_and_empty_side() -> None:
    cfg = FeatureConfig(tick_size=1.0, book_levels=5)
    events = _book_events(T0) + [delta(T0 + 1, BookAction.DELETE, OrderSide.SELL, p, 0.0)
                                 for p in (101.0, 102.0, 103.0)]
    out = replay(events, [T0, T0 + 1], cfg)
    assert out["imbalance"].iloc[0] == pytest.approx((13.0 - 7.0) / 20.0)
    assert out["imbalance"].iloc[1] == 1.0  # no asks: all bid
    assert math.isnan(out["mid"].iloc[1])  # one-sided book: no mid
    assert_same(out, replay(events, [T0, T0 + 1], cfg, "nautilus"))


def test_auto_top_of_book_prefers_quotes_and_book_imbalance() -> None:
    cfg = FeatureConfig(tick_size=1.0, book_levels=2)
    events = [*_book_events(T0), quote(T0 + 10, 100.0, 102.0, 3.0, 1.0)]
    out = replay(events, [T0, T0 + 10], cfg)
    assert out["mid"].tolist() == [100.5, 101.0]  # book first, then the quote
    assert out["imbalance"].tolist() == pytest.approx([0.2, 0.2])  # from the book throughout
    book_cfg = FeatureConfig(tick_size=1.0, book_levels=2, top_of_book="book")
    quotes_cfg = FeatureConfig(tick_size=1.0, book_levels=2, top_of_book="quotes")
    book_only = replay(events, [T0 + 10], book_cfg)
    assert book_only["mid"].iloc[0] == 100.5
    quotes_only = replay(events, [T0, T0 + 10], quotes_cfg)
    assert math.isnan(quotes_only["mid"].iloc[0]) and quotes_only["mid"].iloc[1] == 101.0
    for c in (cfg, quotes_cfg, book_cfg):
        times = [T0 - 1, T0, T0 + 9, T0 + 10]
        assert_same(replay(events, times, c), replay(events, times, c, "nautilus"))


def test_trade_flow_window_is_half_open() -> None:
    cfg = FeatureConfig(tick_size=0.01, trade_window_ns=2 * S)
    events = [
        trade(T0 + 1 * S, 100.0, 2.0, AggressorSide.BUYER),
        trade(T0 + 2 * S, 100.0, 1.0, AggressorSide.SELLER),
        trade(T0 + 3 * S, 100.0, 1.0, AggressorSide.BUYER),
        trade(T0 + 3 * S, 100.0, 0.5, AggressorSide.NO_AGGRESSOR),
    ]
    times = [T0, T0 + 1 * S, T0 + 2 * S, T0 + 3 * S, T0 + 3 * S + S // 2, T0 + 5 * S, T0 + 6 * S]
    out = replay(events, times, cfg)
    # window (t - 2 s, t]
    assert out["buy_volume"].tolist() == [0.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0]
    assert out["sell_volume"].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert out["trade_count"].tolist() == [0, 1, 2, 3, 3, 0, 0]
    assert out["trade_flow"].tolist() == pytest.approx([0.0, 1.0, 1 / 3, 0.0, 0.0, 0.0, 0.0])
    since = out["time_since_trade_s"].tolist()
    assert math.isnan(since[0]) and since[1:] == [0.0, 0.0, 0.0, 0.5, 2.0, 3.0]
    feats = IncrementalFeatures(cfg)
    for ev in events[:3]:
        feats.on_trade(ev)
    assert (feats.last_trade_price, feats.last_trade_side) == (100.0, 1)


def test_realised_volatility_on_the_grid() -> None:
    # mids at grid points T0..T0+4 s: 100, 101, 99, 99, 102 -> returns 1, -2, 0, 3
    cfg = FeatureConfig(tick_size=0.01, vol_sample_interval_ns=S, vol_window=3, vol_min_returns=2)
    mids = [100.0, 101.0, 99.0, 99.0, 102.0]
    events = []
    for j, m in enumerate(mids):
        events.append(quote(T0 + j * S, m - 0.01, m + 0.01, 1.0, 1.0))  # exactly on the grid
        events.append(quote(T0 + j * S + S // 3, m + 50.0, m + 50.02, 1.0, 1.0))  # noise between
        events.append(quote(T0 + (j + 1) * S - 1, m - 0.01, m + 0.01, 1.0, 1.0))  # back before g
    times = [T0, T0 + S, T0 + 2 * S, T0 + 3 * S, T0 + 4 * S, T0 + 4 * S + S // 2]
    out = replay(events, times, cfg)
    vol = out["volatility"].tolist()
    assert math.isnan(vol[0]) and math.isnan(vol[1])  # 0 then 1 return: below vol_min_returns
    assert vol[2] == pytest.approx(math.sqrt((1 + 4) / 2))
    assert vol[3] == pytest.approx(math.sqrt((1 + 4 + 0) / 3))
    assert vol[4] == pytest.approx(math.sqrt((4 + 0 + 9) / 3))  # window slides
    assert vol[5] == vol[4]  # unchanged until the next grid point
    # per sqrt(second): a 2 s grid with the same returns gives 1/sqrt(2) of the value
    cfg2 = FeatureConfig(tick_size=0.01, vol_sample_interval_ns=2 * S, vol_window=3)
    slow = [quote(T0 + 2 * j * S, m - 0.01, m + 0.01, 1.0, 1.0) for j, m in enumerate(mids)]
    out2 = replay(slow, [T0 + 8 * S], cfg2)
    assert out2["volatility"].iloc[0] == pytest.approx(math.sqrt(13 / 3 / 2))


def test_volatility_across_a_gap_counts_zero_returns() -> None:
    cfg = FeatureConfig(tick_size=0.01, vol_window=8, vol_min_returns=1)
    events = [quote(T0, 99.99, 100.01, 1, 1), quote(T0 + S, 101.99, 102.01, 1, 1),
              quote(T0 + 1000 * S + 7, 103.99, 104.01, 1, 1)]
    times = [T0 + S, T0 + 7 * S, T0 + 500 * S, T0 + 1000 * S, T0 + 1001 * S, T0 + 1003 * S]
    out = replay(events, times, cfg)
    vol = out["volatility"].tolist()
    assert vol[0] == pytest.approx(2.0)  # one return of 2 over 1 s
    assert vol[1] == pytest.approx(math.sqrt(4 / 7))  # six grid points closed at once: 2, 0 x 6
    assert vol[2] == 0.0 and vol[3] == 0.0  # flat for longer than the window
    assert vol[4] == pytest.approx(math.sqrt(4 / 8)) and vol[5] == vol[4]


def test_sample_into_and_as_array_use_feature_names_order() -> None:
    cfg = FeatureConfig(tick_size=0.01)
    feats = IncrementalFeatures(cfg)
    feats.on_quote(quote(T0, 100.0, 100.02, 2.0, 1.0))
    feats.on_trade(trade(T0, 100.02, 0.5, AggressorSide.BUYER))
    fv = feats.sample(T0 + S)
    arr = fv.as_array(np.float32)
    assert arr.dtype == np.float32 and arr.shape == (len(FEATURE_NAMES),)
    want = np.array([getattr(fv, name) for name in FEATURE_NAMES], dtype=np.float32)
    np.testing.assert_array_equal(arr, want)  # NaN == NaN here
    assert math.isnan(fv.volatility) and fv.trade_count == 1
    out = np.empty(len(FEATURE_NAMES))
    feats.sample_into(T0 + S, out)
    np.testing.assert_array_equal(out, fv.as_array())
    feats.reset()
    assert math.isnan(feats.sample(T0 + S).mid)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="tick_size"):
        FeatureConfig(tick_size=0.0)
    with pytest.raises(ValueError, match="vol_window"):
        FeatureConfig(tick_size=0.01, vol_window=0)
    with pytest.raises(ValueError, match="vol_min_returns"):
        FeatureConfig(tick_size=0.01, vol_window=3, vol_min_returns=4)
    with pytest.raises(ValueError, match="top_of_book"):
        FeatureConfig(tick_size=0.01, top_of_book="mid")  # type: ignore[arg-type]


# -- real data ------------------------------------------------------------------------------------


def _fixture_instrument():
    """BTCUSDT.BINANCE as of the fixture: in January 2021 Binance's lot size was 1e-6
    (``btcusdt-instrument.txt``), finer than the 2024 spec; the fixture has 0.000001 BTC trades."""
    from catalog.instruments import build_instrument, get_spec

    lot = Decimal("0.000001")
    return build_instrument(replace(get_spec("BTCUSDT.BINANCE"), lot_size=lot, min_quantity=lot))


def _fixture_stream() -> list:
    """Binance spot BTCUSDT quotes and trades of ``fixtures/binance/btcusdt-*.parquet``,
    wrangled into Nautilus objects with the project's instrument, merged in ts_init order."""
    from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler, TradeTickDataWrangler

    root = data_dir() / "fixtures" / "binance"
    if not (root / "btcusdt-quotes.parquet").exists():
        pytest.skip(f"{root}: real fixture data not found (set AMM_DATA_DIR)")
    instrument = _fixture_instrument()
    qdf = pd.read_parquet(root / "btcusdt-quotes.parquet").set_index("timestamp")
    qdf = qdf.rename(columns={"bid": "bid_price", "ask": "ask_price"})
    tdf = pd.read_parquet(root / "btcusdt-trades.parquet").set_index("timestamp")
    # buyer_maker is stored as the strings "True"/"False"; the wrangler tests `x is True`.
    maker = tdf["buyer_maker"].map({"True": True, "False": False, True: True, False: False})
    assert maker.notna().all(), "unexpected buyer_maker values in the fixture"
    tdf["buyer_maker"] = maker.astype(object)
    quotes = QuoteTickDataWrangler(instrument).process(
        qdf[["bid_price", "ask_price", "bid_size", "ask_size"]].copy(),
    )
    trades = TradeTickDataWrangler(instrument).process(
        tdf[["trade_id", "price", "quantity", "buyer_maker"]].copy(),
    )
    return sorted([*quotes, *trades], key=lambda d: d.ts_init)  # stable: quotes first on ties


def _sample_grid(events: list, step_ns: int, rng: np.random.Generator) -> np.ndarray:
    """Regular grid + random times + exact event times (to hit the <= boundary)."""
    first, last = events[0].ts_init, events[-1].ts_init
    grid = np.arange(first - 2 * S, last + 15 * S, step_ns, dtype=np.int64)
    rand = rng.integers(first, last, size=200, dtype=np.int64)
    exact = np.array([ev.ts_init for ev in rng.choice(np.array(events, dtype=object), 200)],
                     dtype=np.int64)
    return np.unique(np.concatenate([grid, rand, exact, exact - 1]))


def test_features_on_binance_fixture() -> None:
    events = _fixture_stream()
    assert sum(isinstance(e, QuoteTick) for e in events) == 451 and len(events) == 451 + 2001
    times = _sample_grid(events, 100_000_000, np.random.default_rng(7))
    for cfg in (
        FeatureConfig(tick_size=0.01),
        FeatureConfig(tick_size=0.01, vol_sample_interval_ns=250_000_000, vol_window=20,
                      trade_window_ns=1_500_000_000, vol_min_returns=5),
    ):
        out = replay(events, times, cfg)
        body = out.loc[events[0].ts_init + 5 * S: events[-1].ts_init]
        assert body[list(FEATURE_NAMES)].notna().all().all()  # defined once data flows
        assert (body["trade_count"] > 0).all() and (body["volatility"] > 0).all()


@pytest.fixture(scope="module")
def ws_stream() -> list:
    """The first 4 minutes of ``binance_ws/spot/btcusdt_20240808.gz`` through the project's loader
    (quotes from bookTicker, trades, L2 deltas from the snapshot + depth diffs)."""
    loaders = pytest.importorskip("catalog.loaders.binance_ws")
    from catalog.quality import QualityReport

    path = data_dir() / "binance_ws" / "spot" / "btcusdt_20240808.gz"
    if not path.exists():
        pytest.skip(f"{path}: real data not found (set AMM_DATA_DIR)")
    report = QualityReport("binance-ws")
    stream = loaders.BinanceWsLoader().iter_data([path], report)
    events = []
    end = None
    for ev in stream:
        end = end or ev.ts_init + 240 * S
        if ev.ts_init > end:
            break
        events.append(ev)
    kinds = {type(e) for e in events}
    assert {QuoteTick, TradeTick, OrderBookDelta} <= kinds
    return events


def test_l2book_matches_nautilus_order_book_on_binance_depth(ws_stream: list) -> None:
    l2 = L2Book()
    book = OrderBook(IID, BookType.L2_MBP)
    deltas = [e for e in ws_stream if isinstance(e, OrderBookDelta)]
    checked = 0
    for j, d in enumerate(deltas):
        l2.apply_deltas((d,))
        book.apply_delta(d)
        if j + 1 == len(deltas) or deltas[j + 1].ts_init != d.ts_init:
            if checked % 10 == 0 or j + 1 == len(deltas):
                want_b = [(lv.price.as_double(), lv.size()) for lv in book.bids()[:10]]
                want_a = [(lv.price.as_double(), lv.size()) for lv in book.asks()[:10]]
                got_b = [(p / FIXED_SCALAR, size) for p, size in l2.top(True, 10)]
                got_a = [(p / FIXED_SCALAR, size) for p, size in l2.top(False, 10)]
                assert got_b == want_b and got_a == want_a
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("top_of_book", ["auto", "book"])
def test_l2book_and_order_book_agree_on_binance_ws_capture(ws_stream: list, top_of_book: str) -> None:
    cfg = FeatureConfig(tick_size=0.01, book_levels=5, vol_window=30,
                        trade_window_ns=5 * S, top_of_book=top_of_book)
    events = ws_stream
    times = _sample_grid(events, S, np.random.default_rng(11))  # OrderBook.bids() is slow to read
    out = replay(events, times, cfg)
    assert_same(out, replay(events, times, cfg, "nautilus"))
    body = out.loc[events[0].ts_init + 40 * S: events[-1].ts_init]
    assert body[list(FEATURE_NAMES)].notna().all().all()
    assert body["imbalance"].between(-1, 1).all() and body["imbalance"].std() > 0.1
    assert (body["spread_ticks"] >= 1).all() and (body["volatility"] > 0).all()
    # sigma of BTC mid in USD per sqrt(second): a few dollars on a quiet night, not 0 or 1000
    assert 0.1 < body["volatility"].median() < 50
    if top_of_book == "book":  # the book touch differs from bookTicker at some samples
        auto = replay(events, times, FeatureConfig(tick_size=0.01))
        assert (auto["mid"] != out["mid"]).any()


# -- inside a Nautilus strategy -------------------------------------------------------------------


def _run_feature_strategy(
    events: list,
    instrument,
    cfg: FeatureConfig,
    interval_ns: int,
    book: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``events`` through a BacktestEngine whose strategy feeds IncrementalFeatures from its
    handlers and samples on a clock timer; return (sample times, sampled rows)."""
    from datetime import timedelta

    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.trading.strategy import Strategy

    class FeatureProbeConfig(StrategyConfig, frozen=True):
        instrument_id: str
        interval_ns: int
        book: str  # "none" | "deltas" | "cache"

    class FeatureProbe(Strategy):
        def __init__(self, config: FeatureProbeConfig) -> None:
            super().__init__(config)
            self.iid = InstrumentId.from_str(config.instrument_id)
            self.features = IncrementalFeatures(cfg)
            self.times: list[int] = []
            self.rows: list[np.ndarray] = []

        def on_start(self) -> None:
            self.subscribe_quote_ticks(self.iid)
            self.subscribe_trade_ticks(self.iid)
            if self.config.book != "none":
                self.subscribe_order_book_deltas(self.iid, BookType.L2_MBP)
            self.clock.set_timer("features", timedelta(microseconds=self.config.interval_ns / 1e3),
                                 callback=self.on_sample)

        def on_quote_tick(self, tick: QuoteTick) -> None:
            self.features.on_quote(tick)

        def on_trade_tick(self, tick: TradeTick) -> None:
            self.features.on_trade(tick)

        def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
            if self.config.book == "deltas":
                self.features.on_book_deltas(deltas)
            else:
                self.features.on_book(self.cache.order_book(self.iid), deltas.ts_init)

        def on_sample(self, event) -> None:
            self.times.append(event.ts_event)
            self.rows.append(self.features.sample(event.ts_event).as_array())

    engine = BacktestEngine(BacktestEngineConfig(
        trader_id=TraderId("FEATURES-001"), logging=LoggingConfig(log_level="ERROR"),
    ))
    engine.add_venue(
        Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
        starting_balances=[Money(1_000_000, USDT), Money(10, BTC)],
        book_type=BookType.L2_MBP if book != "none" else BookType.L1_MBP,
    )
    engine.add_instrument(instrument)
    # BacktestEngine.add_data looks only at the FIRST object's type to register book data
    # (engine.pyx: `type(first) in BOOK_DATA_TYPES`), so add each type separately.
    for kind in (OrderBookDelta, QuoteTick, TradeTick):
        chunk = [e for e in events if isinstance(e, kind)]
        if chunk:
            engine.add_data(chunk)
    probe = FeatureProbe(FeatureProbeConfig(instrument_id=str(instrument.id),
                                            interval_ns=interval_ns, book=book))
    engine.add_strategy(probe)
    engine.run()
    times, rows = np.array(probe.times, dtype=np.int64), np.vstack(probe.rows)
    engine.dispose()
    return times, rows


def test_same_features_inside_a_backtest_engine_on_fixture() -> None:
    events = _fixture_stream()
    cfg = FeatureConfig(tick_size=0.01, vol_sample_interval_ns=500_000_000, vol_window=20,
                        trade_window_ns=2 * S)
    # 100 ms timer: many samples fall exactly on the 1 ms-resolution event times
    times, rows = _run_feature_strategy(events, _fixture_instrument(), cfg, 100_000_000, "none")
    assert len(times) > 400 and np.isin(times, [e.ts_init for e in events]).sum() > 10
    inc = pd.DataFrame(rows, columns=list(FEATURE_NAMES), index=times)
    assert_same(inc, replay(events, times, cfg))


@pytest.mark.parametrize("book", ["deltas", "cache"])
def test_same_features_inside_a_backtest_engine_on_binance_ws(ws_stream: list, book: str) -> None:
    events = ws_stream[: len(ws_stream) // 2]  # ~2 minutes
    cfg = FeatureConfig(tick_size=0.01, vol_window=30, trade_window_ns=5 * S)
    from catalog.instruments import build_instrument, get_spec

    instrument = build_instrument(get_spec("BTCUSDT.BINANCE"))
    times, rows = _run_feature_strategy(events, instrument, cfg, 500_000_000, book)
    assert len(times) > 200
    inc = pd.DataFrame(rows, columns=list(FEATURE_NAMES), index=times)
    assert_same(inc, replay(events, times, cfg))
