"""The one market-maker runtime: data, features, decision clock, quoting, risk, sessions.

Every market maker of the project is a :class:`MarketMakerStrategy`, in a backtest, in the RL
training environment and on a live ``TradingNode``. A concrete one only answers one question,
:meth:`MarketMakerStrategy.decide`: given the market now, where and how much to quote. The
baselines answer with a closed form (:meth:`MarketMakerStrategy.compute_quotes` on the current
:class:`~catalog.features.FeatureVector`); a trained agent answers with ``observe ->
policy.predict -> action mapping`` (:class:`strategies.policy.PolicyMarketMaker`); the training
environment's host strategy hands the observation to ``env.step()``. Everything else is here and
identical for all of them, so that comparisons measure the quoting rule and nothing else, and
a deployed agent has every control a baseline has:

- market data subscriptions (L1 quotes or L2/L3 book deltas, plus trades) feeding
  :class:`catalog.features.IncrementalFeatures`;
- the decision clock: a timer every ``quote_interval_ms`` from the first decision, or every
  ``decision_events`` market events when the interval is 0;
- the :class:`~strategies.quoting.QuoteManager` (post-only quotes, amendments, hard inventory
  limit) and an optional linear inventory skew on top of the quotes;
- the one PnL ledger (:class:`strategies.ledger.FillLedger`) and the kill switch on it (loss and
  drawdown: cancel, flatten, stop), ``client_id`` routing, the safety net for orders the quote
  manager does not track, and the flatten on stop;
- the operator's controls (:meth:`MarketMakerStrategy.pause_quoting`, ``resume_quoting``,
  ``cancel_quotes``, ``kill``), which the live console (:mod:`live.console`) calls;
- exchange trading hours (:mod:`strategies.session`): no quote outside the session, flat before
  each close, nothing held overnight.
"""

from __future__ import annotations

import math
import typing
from decimal import Decimal

from nautilus_trader.config import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrategyConfig,
)
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, book_type_from_str
from nautilus_trader.model.events import OrderEvent, OrderFilled
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from catalog.config_io import validate_constraints
from catalog.features import FeatureConfig, FeatureVector, IncrementalFeatures
from strategies.calibration import IntensityFit, TradeIntensityEstimator
from strategies.ledger import FillLedger
from strategies.quoting import QuoteManager, QuoteManagerConfig, Quotes
from strategies.session import TradingSession

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000

BookTypeName = typing.Literal["L1_MBP", "L2_MBP", "L3_MBO"]


class MarketMakerConfig(StrategyConfig, frozen=True):
    """
    Configuration shared by every market maker in ``strategies``.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument to quote.
    order_qty : Decimal
        Size of each quote (base units / contracts). Also the inventory unit ("one lot") of the
        models: AS/GLFT inventory ``q`` is ``position / order_qty``. Must be a multiple of the
        instrument's size increment and at least its minimum quantity: checked when the
        strategy starts (the instrument is known only then), which it refuses otherwise, so
        the size quoted, the model's lot and the inventory check are one number.
    max_inventory : Decimal
        Hard bound on ``|position|``, enforced by the quote manager against the worst case
        where every resting order on a side is filled. Must be >= ``order_qty`` and, like it, a
        multiple of the instrument's size increment (checked at start).
    refresh_threshold_ticks : NonNegativeInt, default 1
        Re-price a resting quote only once its target moved by at least this many ticks.
    quote_interval_ms : NonNegativeInt, default 100
        Decide quotes on a timer every this many milliseconds; 0 decides on market events
        instead (see ``decision_events``). A timer keeps the message rate bounded whatever the
        data rate, which is what live venues' rate limits require.
    decision_events : PositiveInt, default 1
        With ``quote_interval_ms = 0``: decide every this many market events (quote ticks, book
        delta batches, trades).
    use_microprice : bool, default False
        Use the size-weighted microprice instead of the mid as the reference price.
    inventory_skew_ticks_per_unit : NonNegativeFloat, default 0.0
        Extra linear skew added on top of the strategy's quotes: both quotes move by
        ``-skew * position / order_qty`` ticks (a long position lowers the quotes, making the
        ask more likely to be hit). 0 disables it.
    max_drawdown : PositiveFloat, optional
        Kill switch: stop when equity falls this far below its running peak. Equity is the
        strategy's realised + unrealised PnL net of fees, marked to the mid, in the settlement
        currency (quote for linear instruments, base for inverse ones).
    max_loss : PositiveFloat, optional
        Kill switch: stop when equity is this far below zero (same currency).
    flatten_on_stop : bool, default True
        Close the position with a reduce-only market order when the strategy stops. (The kill
        switch always flattens.)
    book_type : str, default 'L1_MBP'
        ``L1_MBP`` subscribes quote ticks; ``L2_MBP`` / ``L3_MBO`` subscribe order book deltas
        and compute features from the book.
    subscribe_trades : bool, default True
        Subscribe trade ticks (trade-flow features, intensity calibration).
    amend_quantity : bool, default True
        Whether the venue supports amending order size in place (else cancel/replace).
    feature_book_levels : PositiveInt, default 5
        Book levels used by the imbalance feature.
    vol_sample_interval_ms : PositiveInt, default 1000
        Mid-price sampling interval of the realised-volatility feature.
    vol_window : PositiveInt, default 60
        Number of sampled returns in the realised-volatility window.
    trade_window_ms : PositiveInt, default 10000
        Window of the trade-flow features.
    client_id : ClientId, optional
        The execution/data client to route to (``None`` = inferred from the venue).
    session_timezone : str, optional
        IANA time zone of the exchange's trading session (``America/New_York``); ``None`` (the
        default) trades around the clock, as crypto venues do. With a session the strategy quotes
        only from ``session_open`` to ``flat_before_close_s`` before ``session_close``, then
        cancels its quotes and closes its position: nothing is held overnight.
    session_open, session_close : str, default '09:30', '16:00'
        Local session bounds (NASDAQ's regular hours by default).
    flat_before_close_s : NonNegativeInt, default 60
        Seconds before the close from which the strategy is flat and quotes nothing.
    """

    instrument_id: InstrumentId
    order_qty: Decimal
    max_inventory: Decimal
    refresh_threshold_ticks: NonNegativeInt = 1
    quote_interval_ms: NonNegativeInt = 100
    decision_events: PositiveInt = 1
    use_microprice: bool = False
    inventory_skew_ticks_per_unit: NonNegativeFloat = 0.0
    max_drawdown: PositiveFloat | None = None
    max_loss: PositiveFloat | None = None
    flatten_on_stop: bool = True
    book_type: BookTypeName = "L1_MBP"
    subscribe_trades: bool = True
    amend_quantity: bool = True
    feature_book_levels: PositiveInt = 5
    vol_sample_interval_ms: PositiveInt = 1000
    vol_window: PositiveInt = 60
    trade_window_ms: PositiveInt = 10_000
    client_id: ClientId | None = None
    session_timezone: str | None = None
    session_open: str = "09:30"
    session_close: str = "16:00"
    flat_before_close_s: NonNegativeInt = 60

    def __post_init__(self) -> None:
        validate_constraints(self)
        self.session()  # validates the session fields
        if Decimal(self.order_qty) <= 0:
            raise ValueError(f"{type(self).__name__}.order_qty: must be > 0, got {self.order_qty}")
        if Decimal(self.max_inventory) < Decimal(self.order_qty):
            raise ValueError(
                f"{type(self).__name__}.max_inventory: must be >= order_qty "
                f"({self.order_qty}), got {self.max_inventory}",
            )
        if self.book_type not in typing.get_args(BookTypeName):
            raise ValueError(
                f"{type(self).__name__}.book_type: must be one of {typing.get_args(BookTypeName)}, "
                f"got {self.book_type!r}",
            )

    def session(self) -> TradingSession | None:
        """The trading session, or None for a venue that never closes."""
        if self.session_timezone is None:
            return None
        try:
            return TradingSession(self.session_timezone, self.session_open, self.session_close,
                                  self.flat_before_close_s)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__}.{e}") from e


def check_lot_grid(config: MarketMakerConfig, instrument: Instrument) -> None:
    """Refuse sizes off the instrument's lot grid: ``order_qty`` and ``max_inventory`` must be
    whole multiples of ``size_increment``, and ``order_qty`` at least ``min_quantity``.

    The quote manager rounds every order down to whole lots, while the models count inventory
    in units of the configured ``order_qty`` and the skew divides by it: an ``order_qty`` of
    0.0015 on a 0.001 lot would quote 0.001 but reason about 0.0015, and one below the minimum
    quantity would never quote at all. Both are configuration errors, so the strategy does not
    start (NautilusTrader logs the exception and re-raises it from ``start()``).

    Raises
    ------
    ValueError
        ``Config.field: value is not a multiple of the lot size ... of INSTRUMENT``.
    """
    owner = type(config).__name__
    lot = instrument.size_increment.as_decimal()
    for name in ("order_qty", "max_inventory"):
        value = Decimal(str(getattr(config, name)))
        if value % lot != 0:
            below = (value // lot) * lot
            raise ValueError(
                f"{owner}.{name}: {value} is not a multiple of the lot size {lot} of "
                f"{instrument.id} (orders are whole lots: use {below} or {below + lot})",
            )
    if instrument.min_quantity is not None:
        minimum = instrument.min_quantity.as_decimal()
        if Decimal(str(config.order_qty)) < minimum:
            raise ValueError(
                f"{owner}.order_qty: {config.order_qty} is below the minimum quantity {minimum} "
                f"of {instrument.id} (no quote would ever be sent)",
            )


class MarketMakerStrategy(Strategy):
    """
    The market-maker runtime; a subclass supplies the quoting rule (:meth:`decide`).

    Parameters
    ----------
    config : MarketMakerConfig
        The configuration for the instance.
    """

    TIMER_NAME = "mm-quote"
    best_bid: float | None = None
    """Top of book the last decision acted on, when the quoting rule read it (else the cache's)."""
    best_ask: float | None = None
    QUOTES_WITH_BOOK = False
    """Also subscribe quote ticks on L2/L3 data (the features take the top of book from them where
    the data has them). The agent does: its observation was trained on that stream."""

    def __init__(self, config: MarketMakerConfig) -> None:
        super().__init__(config)
        self.instrument: Instrument | None = None  # Initialized in on_start
        self.features: IncrementalFeatures | None = None
        self.quote_manager: QuoteManager | None = None
        self.ledger: FillLedger | None = None
        self.kill_reason: str | None = None
        self.kill_ts_ns: int | None = None
        self.pause_reason: str | None = None
        self.last_features: FeatureVector | None = None
        self.equity_peak: float = 0.0
        self._tick: float = math.nan
        self._flattened = False
        self._session: TradingSession | None = None
        self._flat_day: int | None = None  # the trading day we last went flat for the close
        self._next_decision_ns = 0
        self._events = 0
        self._direct_subs: list[tuple[str, typing.Any]] = []

    # -- To implement -----------------------------------------------------------------------------

    def decide(self, ts_ns: int) -> Quotes | None:
        """The quote target now, or ``None`` to make no decision (leave the quotes as they are).

        The baselines' rule: sample the features and hand them to :meth:`compute_quotes` (no
        decision until there is a mid).
        """
        fv = self.features.sample(ts_ns)
        if fv.mid is None or not math.isfinite(fv.mid):
            return None  # No market yet
        self.last_features = fv
        return self.compute_quotes(fv, float(self.quote_manager.position()))

    def compute_quotes(self, features: FeatureVector, inventory: float) -> Quotes:
        """Return the target quotes (the closed-form baselines implement this).

        Parameters
        ----------
        features : FeatureVector
            Market features sampled now (``mid`` is finite).
        inventory : float
            Signed position in base units / contracts.
        """
        raise NotImplementedError("market makers must implement `compute_quotes` or `decide`")

    def make_features(self, instrument: Instrument) -> IncrementalFeatures:
        """The feature module the market data feeds (from the config's feature settings)."""
        cfg: MarketMakerConfig = self.config
        return IncrementalFeatures(
            FeatureConfig(
                tick_size=float(instrument.price_increment),
                book_levels=cfg.feature_book_levels,
                vol_sample_interval_ns=cfg.vol_sample_interval_ms * _NS_PER_MS,
                vol_window=cfg.vol_window,
                trade_window_ns=cfg.trade_window_ms * _NS_PER_MS,
            ),
        )

    def first_decision_ns(self, now_ns: int) -> int:
        """Time of the first decision: one interval after the start (an agent adds its warm-up)."""
        return now_ns + self.config.quote_interval_ms * _NS_PER_MS

    def on_market_maker_start(self) -> None:
        """Hook called at the end of ``on_start`` (instrument, features and ledger ready)."""

    def on_market_trade(self, tick: TradeTick, mid_before: float) -> None:
        """Hook called for each trade with the mid that prevailed before it."""

    # -- Lifecycle --------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Look up the instrument, build features, ledger and quote manager, subscribe, start the clock."""
        cfg: MarketMakerConfig = self.config
        self.instrument = self.cache.instrument(cfg.instrument_id)
        if self.instrument is None:
            self.log.error(f"Could not find instrument for {cfg.instrument_id}")
            self.stop()
            return
        check_lot_grid(cfg, self.instrument)  # raises: Nautilus halts the start and reports it
        self._tick = float(self.instrument.price_increment)
        self.features = self.make_features(self.instrument)
        self.quote_manager = QuoteManager(
            self,
            self.instrument,
            QuoteManagerConfig(
                max_inventory=Decimal(cfg.max_inventory),
                refresh_threshold_ticks=cfg.refresh_threshold_ticks,
                amend_quantity=cfg.amend_quantity,
                client_id=cfg.client_id,
            ),
        )
        self.ledger = FillLedger(self.instrument)
        self.kill_reason = None
        self.kill_ts_ns = None
        self.pause_reason = None
        self.equity_peak = 0.0
        self._flattened = False
        self._session = cfg.session()
        self._flat_day = None
        self._events = 0
        fills_topic = f"events.order.{self.id}"
        if not self.msgbus.is_subscribed(fills_topic, self._book_fill):
            self.msgbus.subscribe(fills_topic, self._book_fill)
        self.on_market_maker_start()

        self._bind_handlers()
        if cfg.book_type == "L1_MBP" or self.QUOTES_WITH_BOOK:
            self.subscribe_quote_ticks(cfg.instrument_id, client_id=cfg.client_id)
        if cfg.book_type != "L1_MBP":
            self.subscribe_order_book_deltas(
                cfg.instrument_id,
                book_type=book_type_from_str(cfg.book_type),
                client_id=cfg.client_id,
            )
        if cfg.subscribe_trades:
            self.subscribe_trade_ticks(cfg.instrument_id, client_id=cfg.client_id)
        self._direct_data_handlers()
        first = self.first_decision_ns(self.clock.timestamp_ns())
        self._next_decision_ns = first
        if cfg.quote_interval_ms > 0:
            self.clock.set_timer_ns(
                self.TIMER_NAME,
                cfg.quote_interval_ms * _NS_PER_MS,
                first,
                0,  # no stop time
                self._on_timer,
                True,  # allow_past
                True,  # fire_immediately: the first decision is at `first`
            )

    def on_stop(self) -> None:
        """Cancel every order and, if configured (or killed), flatten the position."""
        cfg: MarketMakerConfig = self.config
        if self.TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(self.TIMER_NAME)
        self._drop_direct_handlers()
        if self.instrument is None:
            return
        self._cancel_everything()
        if cfg.flatten_on_stop:
            self._flatten()
        if cfg.book_type == "L1_MBP" or self.QUOTES_WITH_BOOK:
            self.unsubscribe_quote_ticks(cfg.instrument_id, client_id=cfg.client_id)
        if cfg.book_type != "L1_MBP":
            self.unsubscribe_order_book_deltas(cfg.instrument_id, client_id=cfg.client_id)
        if cfg.subscribe_trades:
            self.unsubscribe_trade_ticks(cfg.instrument_id, client_id=cfg.client_id)

    def on_reset(self) -> None:
        """Drop per-run state so the strategy can be run again after ``engine.reset()``."""
        if self.quote_manager is not None:
            self.quote_manager.reset()
        if self.ledger is not None:
            self.ledger.reset()
        self._unbind_handlers()
        self.features = None
        self.last_features = None
        self.kill_reason = None
        self.kill_ts_ns = None
        self.pause_reason = None
        self.equity_peak = 0.0
        self._flattened = False

    def on_dispose(self) -> None:
        """Drop what a disposed strategy would otherwise keep alive.

        NautilusTrader (1.221 and 1.231) leaves a disposed strategy's message-bus subscriptions
        (quotes, trades, its order/position events) in place, and never drops the time-event
        handlers of a run that ended inside ``engine.run`` (as an RL episode does), whose
        callbacks are bound methods of the strategy held from Rust: an engine recycled over many
        episodes then dispatches every event to every strategy it ever ran and keeps each one's
        state (an L2 feature ladder of ~9,000 levels) alive. Unsubscribing and releasing the
        state here took an L2 env from +5.6 MB per episode to flat (``tests/rl/test_memory.py``).
        """
        self.clock.cancel_timers()
        self._drop_direct_handlers()
        msgbus = self.msgbus
        if msgbus is not None:
            for sub in msgbus.subscriptions():
                if getattr(sub.handler, "__self__", None) is self:
                    msgbus.unsubscribe(sub.topic, sub.handler)
        self._unbind_handlers()
        self.release_state()

    def release_state(self) -> None:
        """Let go of the run's big state (see :meth:`on_dispose`); subclasses add theirs."""
        self.features = None
        self.last_features = None

    # -- Data -------------------------------------------------------------------------------------
    # In timer mode, market data goes straight to the feature module: its bound methods are set
    # as instance attributes (Nautilus' cpdef dispatch finds them), no Python frame of ours per
    # event. L2 deltas feed the feature module's own ladder: reading a grown Nautilus
    # ``OrderBook`` level by level costs milliseconds per decision. The methods below are the
    # general path (event-driven decisions, L3 books, the trade hook of the calibrated models).

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.features.on_quote(tick)
        if self.config.quote_interval_ms == 0:
            self._count_event(tick.ts_init)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        if self.config.book_type == "L2_MBP":
            self.features.on_book_deltas(deltas)  # O(levels touched), see catalog.features
        else:
            book = self.cache.order_book(self.config.instrument_id)
            if book is None:
                return
            self.features.on_book(book, deltas.ts_init)
        if self.config.quote_interval_ms == 0:
            self._count_event(deltas.ts_init)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.on_market_trade(tick, self.features.mid)
        self.features.on_trade(tick)
        if self.config.quote_interval_ms == 0:
            self._count_event(tick.ts_init)

    def _bind_handlers(self) -> None:
        if self.config.quote_interval_ms == 0:
            return
        features = self.features
        self.on_quote_tick = features.on_quote
        if type(self).on_market_trade is MarketMakerStrategy.on_market_trade:
            self.on_trade_tick = features.on_trade
        if self.config.book_type == "L2_MBP":
            self.on_order_book_deltas = features.on_book_deltas

    def _unbind_handlers(self) -> None:
        for name in ("on_quote_tick", "on_trade_tick", "on_order_book_deltas"):
            self.__dict__.pop(name, None)

    def _direct_data_handlers(self) -> None:
        """Have the message bus call our quote/trade handlers without ``Actor.handle_*``.

        ``Actor.handle_quote_tick`` / ``handle_trade_tick`` only look up indicators (none are
        registered here; the lookup hashes a fresh ``InstrumentId`` per tick, i.e. formats
        its string) and check that the strategy is running before calling ``on_*_tick``. The
        same handlers, in the same order, are subscribed directly instead (a few % of a
        replay); :meth:`on_stop` removes them, so nothing reaches a stopped strategy.
        """
        self._drop_direct_handlers()
        if self.registered_indicators:
            return
        msgbus = self.msgbus
        swaps = {
            self.handle_quote_tick: self.on_quote_tick,
            self.handle_trade_tick: self.on_trade_tick,
        }
        for sub in msgbus.subscriptions():
            direct = swaps.get(sub.handler)
            if direct is None or getattr(sub.handler, "__self__", None) is not self:
                continue
            msgbus.unsubscribe(sub.topic, sub.handler)
            msgbus.subscribe(sub.topic, direct, sub.priority)
            self._direct_subs.append((sub.topic, direct))

    def _drop_direct_handlers(self) -> None:
        msgbus = self.msgbus
        for topic, handler in self._direct_subs:
            if msgbus is not None:
                msgbus.unsubscribe(topic, handler)
        self._direct_subs.clear()

    def _book_fill(self, event: OrderEvent) -> None:
        """Every fill of this strategy's orders into the ledger, whatever the strategy's state.

        Subscribed on the message bus, not through ``on_order_filled``: Nautilus hands a strategy
        its events only while it is running, and the reduce-only order that flattens on a kill or
        on stop fills after the strategy has stopped. Booked through ``on_order_filled``, those
        fills were missing from the ledger (a killed policy's ledger still held 0.004 BTC that the
        venue had closed; ``tests/strategies/test_policy_runtime.py``).
        """
        if isinstance(event, OrderFilled) and self.ledger is not None:
            if event.instrument_id == self.config.instrument_id:
                self.ledger.on_fill(event)

    def on_order_event(self, event: OrderEvent) -> None:
        if self.quote_manager is not None:
            self.quote_manager.on_order_event(event)

    # -- Decision step ----------------------------------------------------------------------------

    def _on_timer(self, event) -> None:
        self._step(event.ts_event)

    def _count_event(self, ts_ns: int) -> None:
        if ts_ns < self._next_decision_ns:
            return
        self._events += 1
        if self._events >= self.config.decision_events:
            self._events = 0
            self._step(ts_ns)

    def _step(self, ts_ns: int) -> None:
        if self.kill_reason is not None or self.features is None:
            return
        mid = self.features.mid
        if mid == mid and self._check_kill_switch(mid):
            return
        if self.pause_reason is not None:  # the kill switch above still watches the position
            return
        if self._session is not None and not self._session.quoting_allowed(ts_ns):
            self._flat_for_close(ts_ns)
            return
        quotes = self.decide(ts_ns)
        if quotes is None:
            return
        skew = self.config.inventory_skew_ticks_per_unit
        if skew > 0:
            inventory = float(self.quote_manager.position())
            if inventory != 0.0:
                shift = -skew * inventory / float(self.config.order_qty) * self._tick
                quotes = Quotes(
                    None if quotes.bid_price is None else quotes.bid_price + shift,
                    None if quotes.ask_price is None else quotes.ask_price + shift,
                    quotes.bid_qty,
                    quotes.ask_qty,
                )
        self.quote_manager.update(quotes, best_bid=self.best_bid, best_ask=self.best_ask)

    def reference_price(self, features: FeatureVector) -> float:
        """Mid or microprice (``use_microprice``), falling back to the mid."""
        if self.config.use_microprice and features.microprice is not None:
            if math.isfinite(features.microprice):
                return features.microprice
        return features.mid

    # -- Risk -------------------------------------------------------------------------------------

    def equity(self, mid: float) -> float:
        """Realised + unrealised PnL of this strategy's fills, net of fees, marked to ``mid``.

        In the instrument's settlement currency (see :mod:`strategies.ledger`).
        """
        return self.ledger.equity(mid) if self.ledger is not None else 0.0

    def _check_kill_switch(self, mid: float) -> bool:
        cfg: MarketMakerConfig = self.config
        if cfg.max_drawdown is None and cfg.max_loss is None:
            return False
        equity = self.equity(mid)
        self.equity_peak = max(self.equity_peak, equity)
        drawdown = self.equity_peak - equity
        if cfg.max_loss is not None and -equity > cfg.max_loss:
            self.kill(f"loss {-equity:.2f} exceeds max_loss {cfg.max_loss}")
            return True
        if cfg.max_drawdown is not None and drawdown > cfg.max_drawdown:
            self.kill(
                f"drawdown {drawdown:.2f} from peak {self.equity_peak:.2f} "
                f"exceeds max_drawdown {cfg.max_drawdown}",
            )
            return True
        return False

    def kill(self, reason: str) -> None:
        """Cancel every order, flatten with a reduce-only market order and stop."""
        self.kill_reason = reason
        self.kill_ts_ns = self.clock.timestamp_ns()
        self.log.error(f"Kill switch: {reason}; canceling quotes, flattening and stopping")
        self._cancel_everything()
        self._flatten()
        self.stop()

    def pause_quoting(self, reason: str) -> None:
        """Withdraw every quote and place none until :meth:`resume_quoting` (an operator's pause).

        The strategy keeps running: its features, ledger and kill switch stay live, and a position
        it holds is kept (pause is not flatten; :meth:`kill` is).
        """
        self.pause_reason = reason
        self.log.warning(f"Quoting paused: {reason}; canceling quotes")
        self._cancel_everything()

    def resume_quoting(self) -> None:
        """Quote again from the next decision."""
        if self.pause_reason is not None:
            self.log.warning(f"Quoting resumed (was paused: {self.pause_reason})")
        self.pause_reason = None

    def cancel_quotes(self) -> None:
        """Cancel every working order of the strategy now; the next decision quotes again."""
        self._cancel_everything()

    def _flat_for_close(self, ts_ns: int) -> None:
        """Outside the session: cancel quotes once per trading day; close any position left.

        Checked on every step, so a quote filled while its cancel was in flight is closed too.
        """
        day = self._session.day_of(ts_ns)
        if self._flat_day != day:
            self._flat_day = day
            self._cancel_everything()
        if self.quote_manager.position() == 0:
            return
        if self.cache.orders_inflight(None, self.config.instrument_id, self.id) or self.cache.orders_open(
            None, self.config.instrument_id, self.id,
        ):
            return  # the cancel or the closing order is still on its way
        self.log.info("Session closing: closing the position (nothing held overnight)")
        self.close_all_positions(
            self.config.instrument_id,
            client_id=self.config.client_id,
            reduce_only=True,
        )

    def _cancel_everything(self) -> None:
        if self.quote_manager is not None:
            self.quote_manager.cancel_all()
        # Safety net for orders the quote manager does not track (once, off the hot path).
        for order in self.cache.orders_open(None, self.config.instrument_id, self.id):
            if not order.is_pending_cancel:
                self.cancel_order(order, client_id=self.config.client_id)

    def _flatten(self) -> None:
        if self._flattened:
            return
        self._flattened = True
        self.close_all_positions(
            self.config.instrument_id,
            client_id=self.config.client_id,
            reduce_only=True,
        )


# -- Shared by the model-based market makers (Avellaneda-Stoikov, GLFT) --------------------------


class CalibratedMarketMakerConfig(MarketMakerConfig, frozen=True):
    """
    Market-parameter settings shared by the Avellaneda-Stoikov and GLFT market makers.

    Each of ``sigma_ticks``, ``k_per_tick`` and ``a_per_s`` is used as given when set, and
    estimated online when ``None`` (see ``strategies.calibration``); the strategy does not quote
    until every parameter it needs has a value.

    Parameters
    ----------
    sigma_ticks : PositiveFloat, optional
        Mid-price volatility in ticks per sqrt(second). ``None`` = the features' realised
        volatility.
    k_per_tick : PositiveFloat, optional
        Decay of the fill intensity with depth, per tick. ``None`` = fitted online.
    a_per_s : PositiveFloat, optional
        Fill intensity at zero depth, per second. ``None`` = fitted online.
    intensity_window_s : PositiveInt, default 600
        Trailing window of trades used for the intensity fit.
    intensity_refit_interval_s : PositiveFloat, default 5.0
        Seconds between intensity refits.
    intensity_min_orders : PositiveInt, default 50
        Market orders needed in the window before the first fit.
    intensity_max_depth_ticks : PositiveFloat, default 50.0
        Deepest level used in the intensity regression.
    min_spread_ticks : PositiveFloat, default 1.0
        Lower clamp of the quoted total spread (bid to ask), in ticks.
    max_spread_ticks : PositiveFloat, default 500.0
        Upper clamp of the quoted total spread, in ticks.
    """

    sigma_ticks: PositiveFloat | None = None
    k_per_tick: PositiveFloat | None = None
    a_per_s: PositiveFloat | None = None
    intensity_window_s: PositiveInt = 600
    intensity_refit_interval_s: PositiveFloat = 5.0
    intensity_min_orders: PositiveInt = 50
    intensity_max_depth_ticks: PositiveFloat = 50.0
    min_spread_ticks: PositiveFloat = 1.0
    max_spread_ticks: PositiveFloat = 500.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_spread_ticks > self.max_spread_ticks:
            raise ValueError(
                f"{type(self).__name__}.min_spread_ticks ({self.min_spread_ticks}) must be <= "
                f"max_spread_ticks ({self.max_spread_ticks})",
            )


class ModelParams(typing.NamedTuple):
    """Market parameters in tick units: sigma (ticks/sqrt(s)), k (1/tick), A (1/s)."""

    sigma_ticks: float
    k_per_tick: float
    a_per_s: float


class CalibratedMarketMaker(MarketMakerStrategy):
    """Base of the model-based market makers: supplies calibrated :class:`ModelParams`.

    Parameters
    ----------
    config : CalibratedMarketMakerConfig
        The configuration for the instance.
    """

    def __init__(self, config: CalibratedMarketMakerConfig) -> None:
        super().__init__(config)
        self.intensity: TradeIntensityEstimator | None = None
        self.intensity_fit: IntensityFit | None = None
        self._next_refit_ns = 0

    def on_market_maker_start(self) -> None:
        cfg: CalibratedMarketMakerConfig = self.config
        self.intensity = TradeIntensityEstimator(
            tick_size=self._tick,
            window_ns=cfg.intensity_window_s * _NS_PER_S,
            max_depth_ticks=cfg.intensity_max_depth_ticks,
            min_orders=cfg.intensity_min_orders,
        )
        self.intensity_fit = None
        self._next_refit_ns = 0

    def on_market_trade(self, tick: TradeTick, mid_before: float) -> None:
        if self.intensity is None or not math.isfinite(mid_before):
            return
        side = tick.aggressor_side
        aggressor = 1 if side == AggressorSide.BUYER else -1 if side == AggressorSide.SELLER else 0
        self.intensity.on_trade(tick.ts_event, tick.price.as_double(), mid_before, aggressor)

    def model_params(self, features: FeatureVector) -> ModelParams | None:
        """Current parameters, or ``None`` while any needed estimate is unavailable."""
        cfg: CalibratedMarketMakerConfig = self.config
        sigma = cfg.sigma_ticks
        if sigma is None:
            vol = features.volatility
            if vol is None or not math.isfinite(vol) or vol <= 0:
                return None
            sigma = vol / self._tick
        k, a = cfg.k_per_tick, cfg.a_per_s
        if k is None or a is None:
            now = features.ts_ns
            if now >= self._next_refit_ns and self.intensity is not None:
                fit = self.intensity.fit(now)
                if fit is not None:
                    self.intensity_fit = fit
                self._next_refit_ns = now + int(cfg.intensity_refit_interval_s * _NS_PER_S)
            if self.intensity_fit is None:
                return None
            k = self.intensity_fit.k_per_tick if k is None else k
            a = self.intensity_fit.a_per_s if a is None else a
        return ModelParams(float(sigma), float(k), float(a))

    def on_reset(self) -> None:
        super().on_reset()
        if self.intensity is not None:
            self.intensity.reset()
        self.intensity_fit = None
        self._next_refit_ns = 0


def clamp(value: float, lo: float, hi: float) -> float:
    """``value`` limited to ``[lo, hi]``."""
    return min(max(value, lo), hi)


__all__ = [
    "CalibratedMarketMaker",
    "CalibratedMarketMakerConfig",
    "MarketMakerConfig",
    "MarketMakerStrategy",
    "ModelParams",
    "clamp",
]
