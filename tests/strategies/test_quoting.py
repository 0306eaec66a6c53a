"""QuoteManager order handling against a recording stub of the strategy (no engine).

The stub records the commands the manager sends; venue answers are applied to the orders with
Nautilus' own event stubs, so order states follow the real state machine.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.common.component import TestClock
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import StrategyId, TraderId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.stubs.events import TestEventStubs

from catalog.instruments import build_instrument, get_spec
from strategies.quoting import QuoteManager, QuoteManagerConfig, Quotes

INSTRUMENT = build_instrument(get_spec("BTCUSDT-PERP.BINANCE"))  # tick 0.1, lot 0.001


class _Cache:
    def __init__(self) -> None:
        self.positions: list = []
        self.orders: dict = {}

    def positions_open(self, venue=None, instrument_id=None, strategy_id=None) -> list:
        return self.positions

    def order(self, client_order_id):
        return self.orders.get(client_order_id)

    def order_book(self, instrument_id):
        return None

    def quote_tick(self, instrument_id):
        return None


class _Strategy:
    """The subset of ``Strategy`` the manager uses, recording commands."""

    def __init__(self) -> None:
        self.id = StrategyId("MM-001")
        self.cache = _Cache()
        self.order_factory = OrderFactory(TraderId("TESTER-001"), self.id, TestClock())
        self.submitted: list = []
        self.modified: list = []
        self.canceled: list = []

    def submit_order(self, order, client_id=None) -> None:
        self.cache.orders[order.client_order_id] = order
        self.submitted.append(order)

    def modify_order(self, order, quantity=None, price=None, client_id=None) -> None:
        order.apply(TestEventStubs.order_pending_update(order))
        self.modified.append((order, quantity, price))

    def cancel_order(self, order, client_id=None) -> None:
        order.apply(TestEventStubs.order_pending_cancel(order))
        self.canceled.append(order)


def _accept(order) -> None:
    order.apply(TestEventStubs.order_submitted(order))
    order.apply(TestEventStubs.order_accepted(order))


def _manager(max_inventory: str = "0.05", **kwargs) -> tuple[QuoteManager, _Strategy]:
    strategy = _Strategy()
    qm = QuoteManager(
        strategy,
        INSTRUMENT,
        QuoteManagerConfig(max_inventory=Decimal(max_inventory), **kwargs),
    )
    return qm, strategy


def test_prices_rounded_to_the_passive_side_and_post_only_gtc() -> None:
    qm, s = _manager()
    qm.update(Quotes(100.07, 100.23, 0.0109, 0.01), best_bid=99.0, best_ask=101.0)
    bid, ask = s.submitted
    # bid 100.07 -> 100.0 (down), ask 100.23 -> 100.3 (up), size 0.0109 -> 0.010 (down)
    assert (bid.side, bid.price) == (OrderSide.BUY, Price.from_str("100.0"))
    assert bid.quantity == Quantity.from_str("0.010")
    assert (ask.side, ask.price) == (OrderSide.SELL, Price.from_str("100.3"))
    assert bid.is_post_only and ask.is_post_only
    assert bid.time_in_force.name == "GTC"
    assert qm.bid is bid and qm.ask is ask
    assert qm.counters.submitted == 2


def test_targets_clamped_behind_the_opposite_best() -> None:
    qm, s = _manager()
    # a bid at/through the best ask and an ask at/through the best bid would be rejected
    qm.update(Quotes(100.5, 99.0, 0.01, 0.01), best_bid=100.0, best_ask=100.1)
    bid, ask = s.submitted
    assert bid.price == Price.from_str("100.0")  # best ask - 1 tick
    assert ask.price == Price.from_str("100.1")  # best bid + 1 tick
    # a self-crossed target keeps the bid and moves the ask above it
    qm2, s2 = _manager()
    qm2.update(Quotes(100.5, 100.2, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    assert [o.price for o in s2.submitted] == [Price.from_str("100.5"), Price.from_str("100.6")]


def test_amends_only_beyond_the_refresh_threshold() -> None:
    qm, s = _manager(refresh_threshold_ticks=3)
    qm.update(Quotes(100.0, 101.0, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    bid, ask = s.submitted
    # in flight (SUBMITTED): nothing is sent until the venue answers
    qm.update(Quotes(99.0, 102.0, 0.01, 0.01), best_bid=98.0, best_ask=103.0)
    assert not s.modified
    _accept(bid)
    _accept(ask)
    qm.update(Quotes(99.8, 101.2, 0.01, 0.01), best_bid=98.0, best_ask=103.0)  # 2 ticks: keep
    assert not s.modified
    qm.update(Quotes(99.7, 101.0, 0.01, 0.01), best_bid=98.0, best_ask=103.0)  # 3 ticks: amend
    assert s.modified == [(bid, None, Price.from_str("99.7"))]
    assert len(s.submitted) == 2 and not s.canceled
    assert qm.counters.amended == 1


def test_size_changes_amend_or_cancel_replace() -> None:
    qm, s = _manager()
    qm.update(Quotes(100.0, 101.0, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    for o in s.submitted:
        _accept(o)
    qm.update(Quotes(100.0, 101.0, 0.02, 0.01), best_bid=99.0, best_ask=102.0)
    assert s.modified == [(s.submitted[0], Quantity.from_str("0.020"), None)]

    qm2, s2 = _manager(amend_quantity=False)
    qm2.update(Quotes(100.0, 101.0, 0.02, 0.01), best_bid=99.0, best_ask=102.0)
    for o in s2.submitted:
        _accept(o)
    # shrinking needs a new order; the old one still counts against the limit until canceled
    qm2.update(Quotes(100.0, 101.0, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    assert s2.canceled == [s2.submitted[0]]
    assert s2.submitted[2].quantity == Quantity.from_str("0.010")
    assert not s2.modified


def test_inventory_limit_counts_every_live_order() -> None:
    qm, s = _manager(max_inventory="0.03")
    qm.update(Quotes(100.0, 101.0, 0.05, 0.05), best_bid=99.0, best_ask=102.0)
    bid, ask = s.submitted
    assert bid.quantity == Quantity.from_str("0.030")  # clipped to the limit
    assert qm.counters.inventory_clipped == 2
    _accept(bid)
    _accept(ask)
    # pull the bid: while its cancel is pending it may still fill, so a new bid has no room
    qm.update(Quotes(None, 101.0, 0.0, 0.03), best_bid=99.0, best_ask=102.0)
    assert s.canceled == [bid]
    qm.update(Quotes(99.0, 101.0, 0.01, 0.03), best_bid=98.0, best_ask=102.0)
    assert len(s.submitted) == 2
    assert qm.worst_case_position(OrderSide.BUY) == Decimal("0.030")
    # once the venue confirms the cancel, the room is back
    canceled = TestEventStubs.order_canceled(bid)
    bid.apply(canceled)
    qm.on_order_event(canceled)
    assert qm.worst_case_position(OrderSide.BUY) == Decimal(0)
    qm.update(Quotes(99.0, 101.0, 0.01, 0.03), best_bid=98.0, best_ask=102.0)
    assert s.submitted[-1].side == OrderSide.BUY and len(s.submitted) == 3


def test_rejected_order_is_forgotten_and_requoted() -> None:
    qm, s = _manager()
    qm.update(Quotes(100.0, 101.0, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    bid = s.submitted[0]
    bid.apply(TestEventStubs.order_submitted(bid))
    rejected = TestEventStubs.order_rejected(bid)
    bid.apply(rejected)
    qm.on_order_event(rejected)
    assert qm.bid is None and qm.counters.rejected == 1
    qm.update(Quotes(100.0, 101.0, 0.01, 0.01), best_bid=99.0, best_ask=102.0)
    assert s.submitted[-1].side == OrderSide.BUY and len(s.submitted) == 3


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="max_inventory"):
        QuoteManagerConfig(max_inventory=Decimal(0))
    with pytest.raises(ValueError, match="refresh_threshold_ticks"):
        QuoteManagerConfig(max_inventory=Decimal(1), refresh_threshold_ticks=-1)
