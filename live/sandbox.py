"""Paper trading with the backtests' matching rules: Nautilus' sandbox exchange with queue position.

Why this exists: NautilusTrader 1.231's ``SandboxExecutionClient`` (``adapters/sandbox``) builds
its ``SimulatedExchange`` with hard-coded models and without ``queue_position`` or
``liquidity_consumption`` (its config has no such fields). A paper node would then fill every
touch of our price, the optimistic rule the backtests left behind (3.6x hftbacktest's fills at
the touch), and paper results would not be comparable with backtest or training results.

:class:`QueueAwareSandboxExecutionClient` is that client with the exchange rebuilt from the same
switches :meth:`backtests.venue.VenueModelConfig.matching_rules` gives a backtest:
``trade_execution``, ``queue_position`` and ``liquidity_consumption``. Everything else (account,
zero latency, instrument fees, fills reported on the live message bus) is the sandbox's own.
"""

from __future__ import annotations

import asyncio

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.backtest.engine import SimulatedExchange
from nautilus_trader.backtest.execution_client import BacktestExecClient
from nautilus_trader.backtest.models import FillModel, LatencyModel, MakerTakerFeeModel
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.live.factories import LiveExecClientFactory
from nautilus_trader.model.enums import account_type_from_str, book_type_from_str, oms_type_from_str
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Currency, Money
from nautilus_trader.portfolio import PortfolioFacade


class QueueAwareSandboxConfig(SandboxExecutionClientConfig, frozen=True):
    """``SandboxExecutionClientConfig`` plus the matching rules 1.231's sandbox leaves out.

    Parameters
    ----------
    queue_position : bool, default True
        A resting order fills only after the displayed size ahead of it has traded.
    liquidity_consumption : bool, default False
        Our fills consume a level's displayed size until fresh data arrives there (L2/L3 only
        with ``queue_position`` in 1.231, see ``backtests.venue``).
    """

    queue_position: bool = True
    liquidity_consumption: bool = False


class QueueAwareSandboxExecutionClient(SandboxExecutionClient):
    """The sandbox execution client on an exchange with queue position (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: QueueAwareSandboxConfig,
    ) -> None:
        super().__init__(loop=loop, portfolio=portfolio, msgbus=msgbus, cache=cache, clock=clock, config=config)
        base_currency = Currency.from_str(config.base_currency) if config.base_currency else None
        # The sandbox's own exchange, rebuilt with the same arguments plus the queue switches.
        self.exchange = SimulatedExchange(
            venue=Venue(config.venue),
            oms_type=oms_type_from_str(config.oms_type),
            account_type=account_type_from_str(config.account_type),
            starting_balances=[Money.from_str(b) for b in config.starting_balances],
            base_currency=base_currency,
            default_leverage=config.default_leverage,
            leverages=config.leverages or {},
            modules=[],
            portfolio=portfolio,
            msgbus=self._msgbus,
            cache=cache,
            clock=self.test_clock,
            fill_model=FillModel(),
            fee_model=MakerTakerFeeModel(),
            latency_model=LatencyModel(0),
            book_type=book_type_from_str(config.book_type),
            frozen_account=config.frozen_account,
            bar_execution=config.bar_execution,
            trade_execution=config.trade_execution,
            liquidity_consumption=config.liquidity_consumption,
            queue_position=config.queue_position,
            reject_stop_orders=config.reject_stop_orders,
            support_gtd_orders=config.support_gtd_orders,
            support_contingent_orders=config.support_contingent_orders,
            use_position_ids=config.use_position_ids,
            use_random_ids=config.use_random_ids,
            use_reduce_only=config.use_reduce_only,
            use_message_queue=False,  # as the sandbox: no internal queue in real time
        )
        self._client = BacktestExecClient(exchange=self.exchange, msgbus=msgbus, cache=cache, clock=self.test_clock)
        self.exchange.register_client(self._client)
        self.exchange.initialize_account()


class SandboxLiveExecClientFactory(LiveExecClientFactory):
    """Creates :class:`QueueAwareSandboxExecutionClient` for ``TradingNode.add_exec_client_factory``.

    The class name is Nautilus' own on purpose: 1.231's ``TradingNodeBuilder`` hands a factory the
    portfolio (which the simulated exchange needs) only when the factory's ``__name__`` is
    ``SandboxLiveExecClientFactory``.
    """

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: QueueAwareSandboxConfig,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> QueueAwareSandboxExecutionClient:
        return QueueAwareSandboxExecutionClient(
            loop=loop, portfolio=portfolio, msgbus=msgbus, cache=cache, clock=clock, config=config,
        )
