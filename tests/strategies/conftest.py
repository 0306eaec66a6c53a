"""A small simulated Binance venue with real data, and factories for the baseline strategies.

Data: the first ``WINDOW_S`` seconds of the Binance USD-M BTCUSDT perpetual capture
``binance_ws/usdm/btcusdt_20240808.gz`` (bookTicker quotes + trades, loaded by
``catalog.loaders.binance_ws.BinanceWsLoader``). If that loader is unavailable the recorded
Binance spot sample ``fixtures/binance/btcusdt-quotes.parquet`` / ``btcusdt-trades.parquet`` is
wrangled instead, quoted on ``BTCUSDT.BINANCE`` (its 0.01 tick matches the data).

Venue (NOTES.md §2): L1_MBP book fed by quotes and trades, ``trade_execution=False`` so that a
trade at or through a resting quote fills it for the trade size; NETTING, MARGIN, 100k USDT,
the instrument's maker/taker fees, seeded ``FillModel``, 1 ms base latency.
"""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal
from functools import lru_cache

import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import FillModel, LatencyModel, MakerTakerFeeModel
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AccountType, BookType, OmsType, PositionSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money

from catalog.instruments import build_instrument, get_spec
from catalog.settings import data_dir
from strategies import (
    AlphaGLFTMarketMaker,
    AlphaGLFTMarketMakerConfig,
    AvellanedaStoikovMarketMakerConfig,
    AvellanedaStoikovMarketMaker,
    FixedSpreadMarketMakerConfig,
    FixedSpreadMarketMaker,
    GLFTMarketMakerConfig,
    GLFTMarketMaker,
    MarketMakerStrategy,
)

WINDOW_S = 90
PERP_FILE = "binance_ws/usdm/btcusdt_20240808.gz"


@dataclasses.dataclass(frozen=True)
class MarketData:
    source: str
    instrument: Instrument
    data: list  # QuoteTick and TradeTick, ts_init order
    deltas: list  # OrderBookDelta over the same window (empty for the fixture fallback)


def _ws_data() -> MarketData:
    from catalog.loaders.binance_ws import BinanceWsLoader
    from catalog.quality import QualityReport

    path = data_dir() / PERP_FILE
    loader = BinanceWsLoader()
    out: list = []
    deltas: list = []
    start = None
    for item in loader.iter_data([path], QualityReport("binance-ws")):
        if start is None:
            start = item.ts_init
        if item.ts_init - start > WINDOW_S * 1_000_000_000:
            break
        if isinstance(item, (QuoteTick, TradeTick)):
            out.append(item)
        elif isinstance(item, OrderBookDelta):
            deltas.append(item)
    instrument = build_instrument(get_spec("BTCUSDT-PERP.BINANCE"), ts_init=0)
    assert out and out[0].instrument_id == instrument.id
    return MarketData(f"{PERP_FILE} (first {WINDOW_S} s)", instrument, out, deltas)


def _fixture_data() -> MarketData:
    from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler, TradeTickDataWrangler

    root = data_dir() / "fixtures" / "binance"
    instrument = build_instrument(get_spec("BTCUSDT.BINANCE"), ts_init=0)
    q = pd.read_parquet(root / "btcusdt-quotes.parquet").set_index("timestamp")
    quotes = QuoteTickDataWrangler(instrument).process(
        q[["bid", "ask", "bid_size", "ask_size"]].rename(
            columns={"bid": "bid_price", "ask": "ask_price"},
        ),
    )
    t = pd.read_parquet(root / "btcusdt-trades.parquet").set_index("timestamp")
    t = t.rename(columns={"trade_id": "trade_id", "quantity": "quantity"})
    t["side"] = t["buyer_maker"].map({True: "SELL", False: "BUY"})
    trades = TradeTickDataWrangler(instrument).process(t[["price", "quantity", "side", "trade_id"]])
    data = sorted([*quotes, *trades], key=lambda d: d.ts_init)
    return MarketData("fixtures/binance/btcusdt-{quotes,trades}.parquet", instrument, data, [])


@lru_cache(maxsize=1)
def load_market_data() -> MarketData:
    try:
        return _ws_data()
    except ImportError:
        return _fixture_data()


@pytest.fixture(scope="session")
def market() -> MarketData:
    return load_market_data()


def make_engine(
    market: MarketData,
    *,
    seed: int = 42,
    prob_fill_on_limit: float = 1.0,
    latency_ms: float = 1.0,
    book_type: BookType = BookType.L1_MBP,
) -> BacktestEngine:
    """A BacktestEngine with the venue of the module docstring, instrument and data added.

    ``book_type=L2_MBP`` adds the order book deltas too (the matching engine then fills from
    book changes only, NOTES.md §2).
    """
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("TESTER-001"),
            logging=LoggingConfig(log_level="ERROR"),
            risk_engine=RiskEngineConfig(bypass=True),
            run_analysis=False,
        ),
    )
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(100_000, USDT)],
        base_currency=USDT,
        default_leverage=Decimal(5),
        fill_model=FillModel(prob_fill_on_limit=prob_fill_on_limit, random_seed=seed),
        fee_model=MakerTakerFeeModel(),
        latency_model=LatencyModel(base_latency_nanos=int(latency_ms * 1_000_000)),
        book_type=book_type,
        trade_execution=False,
    )
    engine.add_instrument(market.instrument)
    engine.add_data(market.data)
    if book_type != BookType.L1_MBP:
        engine.add_data(market.deltas)
    return engine


_DEFAULTS: dict[type, tuple[type, dict]] = {
    FixedSpreadMarketMaker: (FixedSpreadMarketMakerConfig, {"half_spread_ticks": 1.0}),
    AvellanedaStoikovMarketMaker: (
        AvellanedaStoikovMarketMakerConfig,
        {"gamma": 1e-3, "horizon_s": 10.0, "intensity_min_orders": 30, "vol_window": 30},
    ),
    GLFTMarketMaker: (
        GLFTMarketMakerConfig,
        {"gamma": 0.01, "intensity_min_orders": 30, "vol_window": 30},
    ),
    AlphaGLFTMarketMaker: (
        AlphaGLFTMarketMakerConfig,
        {"gamma": 0.01, "intensity_min_orders": 30, "vol_window": 30},
    ),
}

_ids = itertools.count(1)


def make_strategy(
    cls: type[MarketMakerStrategy],
    instrument_id: InstrumentId,
    **overrides,
) -> MarketMakerStrategy:
    """Build ``cls`` with test defaults (0.01 BTC quotes, 0.05 BTC inventory bound) + overrides."""
    config_cls, defaults = _DEFAULTS[cls]
    params = {
        "instrument_id": instrument_id,
        "order_id_tag": f"{next(_ids):03d}",
        "order_qty": Decimal("0.010"),
        "max_inventory": Decimal("0.050"),
        "quote_interval_ms": 200,
        "refresh_threshold_ticks": 1,
        "log_events": False,
        "log_commands": False,
        **defaults,
        **overrides,
    }
    return cls(config_cls(**params))


@dataclasses.dataclass
class RunResult:
    engine: BacktestEngine
    strategy: MarketMakerStrategy
    # (ts_event, order_side, last_qty, last_px, net position after the fill) per fill, in the
    # order the execution engine applied them
    fills: list[tuple[int, str, float, float, Decimal]]


def run_strategy(
    market: MarketData,
    cls: type[MarketMakerStrategy],
    *,
    seed: int = 42,
    engine_kwargs: dict | None = None,
    **overrides,
) -> RunResult:
    """Run one strategy over the data; record the net position after every fill."""
    engine = make_engine(market, seed=seed, **(engine_kwargs or {}))
    strategy = make_strategy(cls, market.instrument.id, **overrides)
    engine.add_strategy(strategy)
    fills: list = []
    cache = engine.cache
    iid = market.instrument.id

    def on_fill(event: OrderFilled) -> None:
        net = Decimal(0)
        for p in cache.positions_open(None, iid):
            qty = p.quantity.as_decimal()
            net += -qty if p.side == PositionSide.SHORT else qty
        fills.append(
            (
                event.ts_event,
                event.order_side.name,
                event.last_qty.as_double(),
                event.last_px.as_double(),
                net,
            ),
        )

    engine.kernel.msgbus.subscribe(topic=f"events.fills.{iid}", handler=on_fill)
    engine.run()
    return RunResult(engine, strategy, fills)

