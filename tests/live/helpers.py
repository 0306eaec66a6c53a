"""Test doubles and builders shared by the live tests."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.config import StrategyConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.examples.strategies.simpler_quoter import SimpleQuoterStrategy, SimpleQuoterStrategyConfig
from nautilus_trader.execution.reports import OrderStatusReport, PositionStatusReport
from nautilus_trader.live.factories import LiveExecClientFactory
from nautilus_trader.model.enums import OrderSide, OrderStatus, OrderType, PositionSide, TimeInForce
from nautilus_trader.model.identifiers import AccountId, InstrumentId, VenueOrderId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.live.node import TradingNode
from nautilus_trader.trading.strategy import Strategy

USDM_CAPTURE = "binance_ws/usdm/btcusdt_20240808.gz"
"""hftbacktest's Binance USD-M BTCUSDT capture (see PROVENANCE.md of the data directory)."""


def sigterm_when(node: TradingNode, look: Callable[[], object]) -> list:
    """Poll ``look()`` every 50 ms on the node's loop; on its first non-None value, send SIGTERM.

    The signal goes through the kernel's own handler, as an operator's would. Returns a list that
    then holds that value (empty if the node stopped first), for the test to assert on.
    """
    loop = node.get_event_loop()
    seen: list = []

    def poll() -> None:
        value = look()
        if value is None:
            loop.call_later(0.05, poll)
            return
        seen.append(value)
        os.kill(os.getpid(), signal.SIGTERM)

    loop.call_later(0.05, poll)
    return seen


class NoCancelQuoterConfig(SimpleQuoterStrategyConfig, frozen=True):
    """Config of :class:`NoCancelQuoter` (Nautilus' SimpleQuoter options)."""


class NoCancelQuoter(SimpleQuoterStrategy):
    """Nautilus' simple quoter with a careless ``on_stop``: leaves every order resting.

    The node's kill switch, not the strategy, has to cancel them.
    """

    def on_stop(self) -> None:
        pass


def write_capture_catalog(out: Path, window_secs: float, with_deltas: bool = False) -> tuple[int, int]:
    """Write the first ``window_secs`` of the USD-M capture (from its first quote) to a catalog.

    Returns ``(first_quote_ts_init, last_ts_init)``.
    """
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from catalog.loaders.binance_ws import BinanceWsLoader
    from catalog.quality import QualityReport
    from catalog.settings import data_file

    shutil.rmtree(out, ignore_errors=True)
    loader = BinanceWsLoader()
    data, first = [], None
    for item in loader.iter_data([data_file(USDM_CAPTURE)], QualityReport("binance-ws")):
        if first is None and type(item).__name__ == "QuoteTick":
            first = item.ts_init
        if first is not None and item.ts_init - first > window_secs * 1e9:
            break
        if isinstance(item, OrderBookDelta) and not with_deltas:
            continue
        data.append(item)
    catalog = ParquetDataCatalog(str(out))
    catalog.write_data(loader.instruments())
    data.sort(key=lambda d: d.ts_init)
    catalog.write_data(data)
    return first, data[-1].ts_init


class ConstantPolicy:
    """A stand-in for a trained model: always the same action."""

    def __init__(self, action: int = 0) -> None:
        self.action = action

    def predict(self, observation, deterministic: bool = True):  # noqa: ANN001, ANN201
        return self.action, None


LOADED: list[str] = []
"""Model paths :func:`load_constant_policy` was called with (in this process)."""


def load_constant_policy(model_path: str | None, **kwargs) -> ConstantPolicy:  # noqa: ANN003
    """``PolicyMarketMakerConfig.policy_loader`` for tests: reads the file like a real loader would."""
    Path(model_path).read_bytes()
    LOADED.append(str(model_path))
    return ConstantPolicy(**kwargs)


# -- a venue account that already holds an order and a position (a restart) ---------------------

RESTING_VENUE_ORDER_ID = VenueOrderId("VENUE-RESTING-1")


class RestartedVenueConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    """The sandbox plus what the venue reports on (re)connection: one resting BUY and a long."""

    instrument_id: str
    resting_price: str
    resting_qty: str
    position_qty: str


class RestartedVenueExecClient(SandboxExecutionClient):
    """Sandbox execution whose venue state survived a node restart (a previous run's order/position).

    Orders of this process go to the sandbox exchange as usual; the pre-existing order lives only
    "at the venue", so canceling it is answered here, as the venue would.
    """

    def __init__(self, *args, config: RestartedVenueConfig, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, config=config, **kwargs)
        self._state = config
        self._iid = InstrumentId.from_str(config.instrument_id)
        self.cancel_requests: list[str] = []

    def _account(self) -> AccountId:
        return self.account_id or AccountId(f"{self.venue}-001")

    def _resting_report(self) -> OrderStatusReport:
        now = self._clock.timestamp_ns()
        return OrderStatusReport(
            account_id=self._account(), instrument_id=self._iid, venue_order_id=RESTING_VENUE_ORDER_ID,
            order_side=OrderSide.BUY, order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC,
            order_status=OrderStatus.ACCEPTED, quantity=Quantity.from_str(self._state.resting_qty),
            filled_qty=Quantity.zero(len(self._state.resting_qty.partition(".")[2])),
            price=Price.from_str(self._state.resting_price), post_only=True,
            report_id=UUID4(), ts_accepted=now, ts_last=now, ts_init=now,
        )

    async def generate_order_status_reports(self, command) -> list[OrderStatusReport]:  # noqa: ANN001
        return [self._resting_report()]

    async def generate_order_status_report(self, command) -> OrderStatusReport | None:  # noqa: ANN001
        return self._resting_report() if command.venue_order_id == RESTING_VENUE_ORDER_ID else None

    async def generate_position_status_reports(self, command) -> list[PositionStatusReport]:  # noqa: ANN001
        now = self._clock.timestamp_ns()
        return [PositionStatusReport(
            account_id=self._account(), instrument_id=self._iid, position_side=PositionSide.LONG,
            quantity=Quantity.from_str(self._state.position_qty), report_id=UUID4(), ts_last=now, ts_init=now,
        )]

    def cancel_order(self, command) -> None:  # noqa: ANN001
        if command.venue_order_id == RESTING_VENUE_ORDER_ID:
            self.cancel_requests.append(command.client_order_id.value)
            self.generate_order_canceled(
                command.strategy_id, command.instrument_id, command.client_order_id,
                command.venue_order_id, self._clock.timestamp_ns(),
            )
            return
        super().cancel_order(command)


class RestartedVenueExecClientFactory(LiveExecClientFactory):
    """Factory of :class:`RestartedVenueExecClient`; the last client built is kept for assertions.

    Nautilus' node builder hands the portfolio only to its own sandbox factory (by class name),
    so set :attr:`portfolio` to the node's before ``node.build()``.
    """

    portfolio = None
    last: RestartedVenueExecClient | None = None

    @staticmethod
    def create(loop, name, config, msgbus, cache, clock):  # noqa: ANN001, ANN205
        client = RestartedVenueExecClient(
            loop=loop, portfolio=RestartedVenueExecClientFactory.portfolio, msgbus=msgbus, cache=cache,
            clock=clock, config=config,
        )
        RestartedVenueExecClientFactory.last = client
        return client


# -- a strategy that asks the replay for history ---------------------------------------------------

class HistoryProbeConfig(StrategyConfig, frozen=True):
    """Config of :class:`HistoryProbe`."""

    instrument_id: str
    history_start: str

HISTORY: list[int] = []
"""``ts_init`` of every historical quote :class:`HistoryProbe` received (in this process)."""

class HistoryProbe(Strategy):
    """Requests quote history on start (as a strategy warming up its estimators would)."""

    def on_start(self) -> None:
        iid = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(iid)
        start: datetime = pd.Timestamp(self.config.history_start).floor("us").to_pydatetime()
        self.request_quote_ticks(iid, start=start)

    def on_historical_data(self, data) -> None:  # noqa: ANN001
        HISTORY.append(data.ts_init)


# -- a strategy that copies the book it sees at the first book event ---------------------------------

class BookProbeConfig(StrategyConfig, frozen=True):
    """Config of :class:`BookProbe`."""

    instrument_id: str


FIRST_BOOK: list[list[tuple[str, float, float]]] = []
"""Levels ``(side, price, size)`` of the book :class:`BookProbe` saw at its first book event."""


class BookProbe(Strategy):
    """Subscribes to the book and records every level of it once, at the first book event."""

    def on_start(self) -> None:
        from nautilus_trader.model.enums import BookType

        self.subscribe_order_book_deltas(InstrumentId.from_str(self.config.instrument_id), BookType.L2_MBP)

    def on_order_book_deltas(self, deltas) -> None:  # noqa: ANN001
        if FIRST_BOOK:
            return
        book = self.cache.order_book(InstrumentId.from_str(self.config.instrument_id))
        FIRST_BOOK.append(book_levels(book))


def book_levels(book) -> list[tuple[str, float, float]]:  # noqa: ANN001 - nautilus OrderBook
    return [
        (side, level.price.as_double(), sum(o.size.as_double() for o in level.orders()))
        for side, levels in (("bid", book.bids()), ("ask", book.asks()))
        for level in levels
    ]
