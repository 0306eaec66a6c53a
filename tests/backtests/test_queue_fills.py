"""Queue position on the venue the shipped configs build: a resting quote waits for the queue ahead.

The scenario (hand-built, BTCUSDT-PERP.BINANCE from ``catalog/instruments.toml``): the best bid
50000.0 shows 0.300 BTC when our post-only BUY 0.100 @ 50000.0 arrives, so 0.300 is ahead of us.
Seller-initiated trades of 0.200 @ 50000.0 follow, one per second. With the queue the first trade
only eats the queue (0.100 left ahead), the second exhausts it and fills us with its excess
(0.100); without the queue, the first trade fills us. Each test runs the same events on an L1
venue (quotes + trades) and on an L2 venue (delta batches + trades).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.trading.strategy import Strategy

from backtests.config import load_run_config
from catalog.window import Window
from backtests.venue import VenueModelConfig
from catalog.instruments import build_instrument, get_spec


IID = "BTCUSDT-PERP.BINANCE"
S = 1_000_000_000
SHIPPED = Path(__file__).resolve().parents[2] / "backtests" / "configs" / "usdm_btcusdt_baselines.toml"


class _PlaceOnceConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    at_ns: int
    price: str
    qty: str


class _PlaceOnce(Strategy):
    """Submit one post-only BUY at ``at_ns`` and record every fill (time, quantity)."""

    def __init__(self, config: _PlaceOnceConfig) -> None:
        super().__init__(config)
        self.fills: list[tuple[int, Decimal]] = []

    def on_start(self) -> None:
        self.clock.set_time_alert_ns("place", self.config.at_ns, self._place)

    def _place(self, _event) -> None:  # noqa: ANN001
        order = self.order_factory.limit(
            self.config.instrument_id, OrderSide.BUY, Quantity.from_str(self.config.qty),
            Price.from_str(self.config.price), time_in_force=TimeInForce.GTC, post_only=True,
        )
        self.submit_order(order)

    def on_order_filled(self, event) -> None:  # noqa: ANN001
        self.fills.append((event.ts_event, event.last_qty.as_decimal()))


def _quote(iid, t, bid_size="0.300"):
    return QuoteTick(iid, Price.from_str("50000.0"), Price.from_str("50000.1"),
                     Quantity.from_str(bid_size), Quantity.from_str("0.500"), t, t)


def _book(iid, t):
    levels = [(OrderSide.BUY, "50000.0", "0.300"), (OrderSide.BUY, "49999.9", "1.000"),
              (OrderSide.SELL, "50000.1", "0.500"), (OrderSide.SELL, "50000.2", "1.000")]
    deltas = [OrderBookDelta(iid, BookAction.CLEAR, None, RecordFlag.F_SNAPSHOT, 0, t, t)]
    for i, (side, px, size) in enumerate(levels, start=1):
        flags = RecordFlag.F_SNAPSHOT | (RecordFlag.F_LAST if i == len(levels) else 0)
        deltas.append(OrderBookDelta(iid, BookAction.ADD, BookOrder(side, Price.from_str(px), Quantity.from_str(size), 0),
                                     flags, 0, t, t))
    return OrderBookDeltas(iid, deltas)


def _bid_update(iid, t, size):
    d = OrderBookDelta(iid, BookAction.UPDATE, BookOrder(OrderSide.BUY, Price.from_str("50000.0"), Quantity.from_str(size), 0),
                       RecordFlag.F_LAST, 0, t, t)
    return OrderBookDeltas(iid, [d])


def _trade(iid, t, n):
    return TradeTick(iid, Price.from_str("50000.0"), Quantity.from_str("0.200"), AggressorSide.SELLER,
                     TradeId(f"T{n}"), t, t)


def _events(book_type: str, iid):
    """Book at t=0, our order at t=1 s, trades at t=2, 3, 4 s; the bid level shrinks as real data does.

    An unchanged book update at 1.5 s lets the order (10 ms latency) reach the matching engine:
    commands in flight are processed when market data moves the clock past their arrival time.
    """
    out: list = [_quote(iid, 1_500_000_000) if book_type == "L1_MBP" else _bid_update(iid, 1_500_000_000, "0.300")]
    sizes_after = ["0.300", "0.100", "0.100", "0.100"]  # the venue refills the level after the 2nd trade
    for k, t in enumerate((0, 2 * S, 3 * S, 4 * S)):
        if k:
            out.append(_trade(iid, t, k))
        tb = t + 1_000_000  # the book update for that trade, 1 ms later
        if book_type == "L1_MBP":
            out.append(_quote(iid, tb if k else t, sizes_after[k]))
        else:
            out.append(_book(iid, t) if k == 0 else _bid_update(iid, tb, sizes_after[k]))
    out.append(_quote(iid, 5 * S) if book_type == "L1_MBP" else _bid_update(iid, 5 * S, "0.100"))
    return out


def _shipped_venue(book_type: str) -> VenueModelConfig:
    venue = load_run_config(SHIPPED).venue
    if book_type == "L1_MBP":  # the shipped L1 setting (NOTES §8: no liquidity consumption on L1)
        venue = venue.replace(book_type="L1_MBP", liquidity_consumption=False)
    return venue


def _run(venue: VenueModelConfig) -> list[tuple[int, Decimal]]:
    instrument = build_instrument(get_spec(IID))
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        venue.add_to_engine(engine, [instrument])
        events = sorted(_events(venue.book_type, instrument.id), key=lambda e: e.ts_init)
        Window(instrument, events, None, None).add_to_engine(engine)  # as every backtest is fed
        strategy = _PlaceOnce(_PlaceOnceConfig(instrument_id=instrument.id, at_ns=1 * S, price="50000.0", qty="0.100"))
        engine.add_strategy(strategy)
        engine.run()
        return strategy.fills
    finally:
        engine.dispose()


def test_the_shipped_venue_is_queue_aware():
    venue = load_run_config(SHIPPED).venue
    assert (venue.book_type, venue.trade_execution, venue.queue_position, venue.liquidity_consumption) == (
        "L2_MBP", True, True, True,
    )
    assert venue.prob_fill_on_limit == 1.0


@pytest.mark.parametrize("book_type", ["L1_MBP", "L2_MBP"])
def test_resting_quote_fills_only_on_the_trade_that_exhausts_the_queue(book_type):
    fills = _run(_shipped_venue(book_type))
    # 0.300 ahead: the trade at 2 s leaves 0.100 ahead, the trade at 3 s fills us with its excess
    assert [t // S for t, _ in fills] == [3]
    assert sum(q for _, q in fills) == Decimal("0.100")


@pytest.mark.parametrize("book_type", ["L1_MBP", "L2_MBP"])
def test_without_the_queue_the_first_trade_fills(book_type):
    venue = _shipped_venue(book_type).replace(queue_position=False, liquidity_consumption=False)
    fills = _run(venue)
    assert fills and fills[0][0] // S == 2  # what every result before 1.231 stood on
