"""A minimal top-of-book quoter used to exercise the backtest runner before the real baselines.

It re-quotes on a timer: cancel everything, then post-only bid ``half_spread_ticks`` below the best
bid and ask as far above the best ask, skipping a side once ``max_inventory`` is reached. Small on
purpose: the tests check the runner, venue and metrics, not the strategy.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.enums import BookType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy


class ToyQuoterConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    order_qty: Decimal = Decimal("0.01")
    max_inventory: Decimal = Decimal("0.05")
    half_spread_ticks: int = 0
    requote_ms: int = 1000
    use_book: bool = False


class ToyQuoter(Strategy):
    def __init__(self, config: ToyQuoterConfig) -> None:
        super().__init__(config)
        self._instrument = None

    def on_start(self) -> None:
        self._instrument = self.cache.instrument(self.config.instrument_id)
        if self._instrument is None:
            self.log.error(f"instrument {self.config.instrument_id} not found")
            self.stop()
            return
        if self.config.use_book:
            self.subscribe_order_book_deltas(self.config.instrument_id, BookType.L2_MBP)
        else:
            self.subscribe_quote_ticks(self.config.instrument_id)
        self.clock.set_timer("requote", timedelta(milliseconds=self.config.requote_ms), callback=self._requote)

    def _top(self):
        iid = self.config.instrument_id
        if self.config.use_book:
            book = self.cache.order_book(iid)
            if book is None:
                return None
            b, a = book.best_bid_price(), book.best_ask_price()
            return None if b is None or a is None else (b.as_double(), a.as_double())
        q = self.cache.quote_tick(iid)
        return None if q is None else (q.bid_price.as_double(), q.ask_price.as_double())

    def _requote(self, event) -> None:
        top = self._top()
        if top is None:
            return
        iid = self.config.instrument_id
        self.cancel_all_orders(iid)
        tick = self._instrument.price_increment.as_double()
        pos = float(self.portfolio.net_position(iid))
        qty = self._instrument.make_qty(self.config.order_qty)
        k = self.config.half_spread_ticks
        if pos < float(self.config.max_inventory):
            self._post(OrderSide.BUY, top[0] - k * tick, qty)
        if pos > -float(self.config.max_inventory):
            self._post(OrderSide.SELL, top[1] + k * tick, qty)

    def _post(self, side, px, qty) -> None:
        order = self.order_factory.limit(
            self.config.instrument_id, side, qty, self._instrument.make_price(px),
            time_in_force=TimeInForce.GTC, post_only=True,
        )
        self.submit_order(order)

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        self.close_all_positions(self.config.instrument_id)
