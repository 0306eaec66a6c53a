"""The in-engine side of the environment: a Nautilus strategy that observes, decides and quotes.

:class:`DecisionStrategy` is the one decision loop of the project's RL agents. On a clock timer
every ``decision_interval_ms`` of simulated time (or every ``decision_events`` market events) it

1. builds the observation (:class:`rl.observation.ObservationBuilder` over the shared
   :class:`catalog.features.IncrementalFeatures`, plus inventory, PnL, time left, own quotes);
2. asks :meth:`DecisionStrategy.decide` for an action;
3. turns the action into a quote target (:class:`rl.actions.ActionMapper`) and works it on the
   venue with the shared :class:`strategies.quoting.QuoteManager` (post-only, ``modify_order``
   amendments, hard inventory limit).

Two subclasses answer step 2 differently and share everything else:

* :class:`EnvHostStrategy` (here) hands ``(obs, reward, terminated, truncated, info)`` to the
  Gymnasium environment's ``step()`` and blocks until the action comes back, through a
  :class:`Channel` (a greenlet stack switch, or a thread handshake);
* :class:`strategies.policy.PolicyMarketMaker` calls ``policy.predict(obs, deterministic=True)``.

So a trained policy sends, in a backtest or live, exactly the orders it sent in training.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType, OrderSide
from nautilus_trader.model.events import OrderEvent, OrderFilled
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from rl.actions import ActionMapper
from rl.config import AgentConfig
from rl.observation import ObservationBuilder
from rl.reward import PnLTracker, RewardFunction
from strategies.quoting import QuoteManager, QuoteManagerConfig


def build_codecs(agent: AgentConfig, instrument: Instrument) -> tuple[ActionMapper, ObservationBuilder]:
    """The action mapper and observation builder for ``agent`` on ``instrument``.

    The env takes its spaces from these and the in-engine strategy decides with them: one
    constructor, so the spaces a policy was trained on and the code that runs it cannot drift.

    Inverse (COIN-M) contracts are refused: rewards and the PnL observation are measured in
    quote-currency ticks of ``order_qty`` (``tick * qty * multiplier``), while an inverse
    contract's PnL is in base currency, so both would be off by a factor of about ``mid**2``.
    """
    if instrument.is_inverse:
        raise ValueError(
            f"instrument {instrument.id} is inverse (COIN-M): the agent's reward and PnL observation "
            "are scaled for linear contracts; use a spot or USD-M instrument",
        )
    tick = instrument.price_increment.as_double()
    mapper = ActionMapper(agent.action, tick_size=tick, order_qty=agent.order_qty)
    observer = ObservationBuilder(
        agent.feature_config(tick),
        order_qty=agent.order_qty,
        max_inventory=agent.max_inventory,
        multiplier=instrument.multiplier.as_double(),
        horizon_steps=agent.horizon_steps,
        pnl_scale_ticks=agent.pnl_scale_ticks,
        obs_clip=agent.obs_clip,
    )
    return mapper, observer


class EpisodeAborted(BaseException):
    """Thrown into a paused engine to end an episode early (``reset``/``close``).

    A ``BaseException`` so that Nautilus' handler wrappers (which log ``Exception``) let it
    through silently and it unwinds ``BacktestEngine.run`` back to the environment.
    """


class DecisionStrategy(Strategy):
    """Base of the agent strategies: market data -> features, fills -> PnL, timer -> decision.

    Parameters
    ----------
    config : StrategyConfig
        Nautilus identity of the strategy (``strategy_id``, ``order_id_tag``, ...).
    agent : AgentConfig
        Instrument, decision clock, order size, limits, actions, features.
    first_decision_ns : int, optional
        Time of the first decision; default: start time + ``agent.warmup_ms``.
    max_decisions : int, optional
        Stop deciding (and acting) after this many decisions; None = no limit.
    """

    def __init__(
        self,
        config: StrategyConfig,
        agent: AgentConfig,
        *,
        first_decision_ns: int | None = None,
        max_decisions: int | None = None,
    ) -> None:
        super().__init__(config)
        self.agent = agent
        self._instrument_id = InstrumentId.from_str(agent.instrument_id)
        self._first_decision_ns = first_decision_ns
        self._max_decisions = max_decisions
        self._l2 = agent.book_type != "L1_MBP"
        self.instrument: Instrument | None = None
        self.actions: ActionMapper | None = None
        self.observer: ObservationBuilder | None = None
        self.quotes: QuoteManager | None = None
        self.pnl: PnLTracker | None = None
        self.step_index = 0
        self._events = 0
        self._next_decision_ns = 0
        self._book = None
        self._direct_subs: list[tuple[str, Callable[[Any], None]]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def on_start(self) -> None:
        instrument = self.cache.instrument(self._instrument_id)
        if instrument is None:
            self.log.error(f"Could not find instrument {self._instrument_id}: stopping")
            self.stop()
            return
        self.instrument = instrument
        agent = self.agent
        self.actions, self.observer = build_codecs(agent, instrument)
        self.pnl = PnLTracker(
            multiplier=instrument.multiplier.as_double(),
            is_inverse=instrument.is_inverse,
        )
        self.quotes = QuoteManager(
            self,
            instrument,
            QuoteManagerConfig(
                max_inventory=Decimal(str(agent.max_inventory)),
                refresh_threshold_ticks=agent.refresh_threshold_ticks,
            ),
        )
        self.step_index = 0
        self._events = 0
        now = self.clock.timestamp_ns()
        first = self._first_decision_ns
        if first is None or first < now:
            first = now + agent.warmup_ns
        self._next_decision_ns = first
        self._bind_handlers()
        if self._l2:
            self.subscribe_order_book_deltas(self._instrument_id, book_type=BookType.L2_MBP)
        # L2 too: where the catalog has quotes they give the touch (features "auto" mode).
        self.subscribe_quote_ticks(self._instrument_id)
        self.subscribe_trade_ticks(self._instrument_id)
        self._direct_data_handlers()
        if agent.decision_events is None:
            self.clock.set_timer_ns(
                "decide",
                agent.decision_interval_ns,
                first,
                0,
                self._on_timer,
                True,  # allow_past
                True,  # fire_immediately: the first decision is at `first`
            )

    def on_stop(self) -> None:
        if self.quotes is not None:
            self.quotes.cancel_all()
        self._drop_direct_handlers()

    def on_dispose(self) -> None:
        # Nautilus (1.221 and 1.231) leaves a disposed strategy's message-bus subscriptions (quotes, trades,
        # its order/position events) in place. An engine recycled over many episodes
        # (``engine.reset()`` + ``clear_strategies()``) then dispatches every quote and order
        # event to every strategy it ever ran, each a no-op past the FSM check: the cost per
        # event grows with the episode count. Drop ours.
        self.clock.cancel_timers()
        self._drop_direct_handlers()
        msgbus = self.msgbus
        if msgbus is not None:
            for sub in msgbus.subscriptions():
                if getattr(sub.handler, "__self__", None) is self:
                    msgbus.unsubscribe(sub.topic, sub.handler)
        self._release_state()

    def _release_state(self) -> None:
        """Let go of everything an episode built: the shell of a disposed strategy is not freed.

        An episode ends inside ``engine.run`` (the decision callback hands its result to the env
        and is never resumed; the next ``reset()`` unwinds it with an exception). NautilusTrader
        1.231 then never drops the time-event handlers of that run, whose callbacks are bound
        methods of this strategy held from Rust, out of the garbage collector's sight: every
        episode's strategy stays alive. Its own state is what is big (an L2 feature ladder of
        ~9,000 levels): releasing it here took an L2 env from +5.6 MB per episode to flat
        (``tests/rl/test_memory.py``).
        """
        self.actions = self.observer = self.quotes = self.pnl = None
        self._book = None
        for name in ("on_quote_tick", "on_trade_tick", "on_order_book_deltas"):
            self.__dict__.pop(name, None)  # the feature module's bound methods (see _bind_handlers)

    # -- market data ------------------------------------------------------------------------------
    # Handlers are bound per instance in on_start: in timer mode market data goes straight to the
    # feature module (no extra Python frame per event; Nautilus' cpdef dispatch finds instance
    # attributes). L2 deltas feed the feature module's own ladder (``on_book_deltas``): reading
    # a grown Nautilus ``OrderBook`` level by level costs milliseconds per decision.

    def _bind_handlers(self) -> None:
        features = self.observer.features
        if self.agent.decision_events is None:
            self.on_quote_tick = features.on_quote
            self.on_trade_tick = features.on_trade
            if self._l2:
                self.on_order_book_deltas = features.on_book_deltas
            return
        count = self._count_event

        def on_quote_tick(tick: QuoteTick) -> None:
            features.on_quote(tick)
            count(tick.ts_init)

        def on_trade_tick(tick: TradeTick) -> None:
            features.on_trade(tick)
            count(tick.ts_init)

        def on_order_book_deltas(deltas: OrderBookDeltas) -> None:
            features.on_book_deltas(deltas)
            count(deltas.ts_init)

        self.on_quote_tick = on_quote_tick
        self.on_trade_tick = on_trade_tick
        if self._l2:
            self.on_order_book_deltas = on_order_book_deltas

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
        subs = getattr(self, "_direct_subs", None)
        if subs is None:
            self._direct_subs = []
            return
        msgbus = self.msgbus
        for topic, handler in subs:
            if msgbus is not None:
                msgbus.unsubscribe(topic, handler)
        subs.clear()

    def _count_event(self, ts_ns: int) -> None:
        if ts_ns < self._next_decision_ns:
            return
        self._events += 1
        if self._events >= self.agent.decision_events:
            self._events = 0
            self._decide_now(ts_ns)

    # -- orders -----------------------------------------------------------------------------------

    def on_order_event(self, event: OrderEvent) -> None:
        if self.quotes is None:
            return
        if isinstance(event, OrderFilled) and event.instrument_id == self._instrument_id:
            self.pnl.on_fill(
                is_buy=event.order_side == OrderSide.BUY,
                qty=event.last_qty.as_double(),
                price=event.last_px.as_double(),
                commission=event.commission.as_double(),
            )
        self.quotes.on_order_event(event)

    # -- the decision loop ------------------------------------------------------------------------

    def top_of_book(self) -> tuple[float, float] | None:
        """Best bid and ask the agent acts on: the L1 quote, or the L2 book of the cache."""
        if self._l2:
            book = self._book or self.cache.order_book(self._instrument_id)
            self._book = book
            if book is None:
                return None
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if bid is None or ask is None:
                return None
            return bid.as_double(), ask.as_double()
        quote = self.cache.quote_tick(self._instrument_id)
        if quote is None:
            return None
        return quote.bid_price.as_double(), quote.ask_price.as_double()

    def observe(self, ts_ns: int, top: tuple[float, float] | None) -> np.ndarray:
        """The observation now (shared by the env and the policy strategy)."""
        mid = 0.5 * (top[0] + top[1]) if top is not None else None
        bid = self.quotes.bid
        ask = self.quotes.ask
        return self.observer.build(
            ts_ns,
            position=self.pnl.position,
            unrealised_pnl=self.pnl.unrealised(mid) if mid is not None else 0.0,
            step=self.step_index,
            bid_price=None if bid is None else bid.price.as_double(),
            ask_price=None if ask is None else ask.price.as_double(),
        )

    def act(self, action: Any, top: tuple[float, float] | None) -> None:
        """Work the quote target of ``action`` (pull both sides when the market is unknown)."""
        if top is None:
            self.quotes.cancel_all()
            return
        target = self.actions.quotes(action, top[0], top[1])
        self.quotes.update(target, best_bid=top[0], best_ask=top[1])

    def decide(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> Any:
        """Return the action for ``obs`` (None = leave the quotes as they are)."""
        raise NotImplementedError

    def _on_timer(self, event) -> None:
        self._decide_now(event.ts_event)

    def _decide_now(self, ts_ns: int) -> None:
        if self._max_decisions is not None and self.step_index >= self._max_decisions:
            return
        top = self.top_of_book()
        obs = self.observe(ts_ns, top)
        action = self.decide(obs, ts_ns, top)
        if action is not None:
            self.act(action, top)
        self.step_index += 1


# -- env side -----------------------------------------------------------------------------------


@dataclass(slots=True)
class StepResult:
    """What the engine side hands to ``step()``."""

    obs: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


class EnvHostStrategy(DecisionStrategy):
    """Hosts the environment's side inside the engine: each decision blocks on ``step()``.

    Parameters
    ----------
    config, agent, first_decision_ns
        As :class:`DecisionStrategy`.
    channel : Channel
        The handshake with the environment.
    """

    def __init__(
        self,
        config: StrategyConfig,
        agent: AgentConfig,
        *,
        channel: Channel,
        first_decision_ns: int | None = None,
    ) -> None:
        super().__init__(config, agent, first_decision_ns=first_decision_ns)
        self._channel = channel
        self._reward_fn: RewardFunction | None = None
        self._last_pnl = 0.0
        self._last_mid: float | None = None
        self._last_position = 0.0
        self.finished = False

    def on_start(self) -> None:
        super().on_start()
        if self.instrument is None:
            return
        tick = self.instrument.price_increment.as_double()
        mult = self.instrument.multiplier.as_double()
        self._reward_fn = RewardFunction(
            self.agent.reward,
            value_per_tick=tick * self.agent.order_qty * mult,
            order_qty=self.agent.order_qty,
            max_inventory=self.agent.max_inventory,
        )

    def result(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> StepResult:
        """Reward and end flags for the transition that ends at this decision."""
        pnl = self.pnl
        k = self.step_index
        horizon = self.agent.horizon_steps
        mid = 0.5 * (top[0] + top[1]) if top is not None else self._last_mid
        total = pnl.total(mid) if mid is not None else self._last_pnl
        info: dict[str, Any] = {
            "ts_ns": ts_ns,
            "step": k,
            "mid": mid,
            "position": pnl.position,
            "pnl": total,
            "fees": pnl.fees,
            "fills": pnl.fills,
        }
        if k == 0:
            self._last_pnl, self._last_mid, self._last_position = total, mid, pnl.position
            return StepResult(obs, 0.0, False, False, info)
        inv_pnl = 0.0
        if mid is not None and self._last_mid is not None:
            inv_pnl = pnl.inventory_pnl(self._last_position, self._last_mid, mid)
        terminated = self._reward_fn.ruined(total)
        truncated = not terminated and k >= horizon
        terms = self._reward_fn(
            pnl_change=total - self._last_pnl,
            inventory_pnl=inv_pnl,
            position=pnl.position,
            last=terminated or truncated,
        )
        info["reward_terms"] = terms
        self._last_pnl, self._last_mid, self._last_position = total, mid, pnl.position
        return StepResult(obs, terms.reward, terminated, truncated, info)

    def decide(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> Any:
        if self.finished or not self._channel.active:
            # No episode to hand to: NautilusTrader 1.231's engine.end() fires the timers that
            # were due when an aborted episode's engine is disposed.
            return None
        res = self.result(obs, ts_ns, top)
        if res.terminated or res.truncated:
            self.finished = True
            self._channel.to_env(res)
            # The environment never resumes a finished episode; reaching here means it did.
            raise RuntimeError("episode resumed after it ended")
        return self._channel.to_env(res)

    def final_result(self) -> StepResult:
        """Result when the data ran out before the horizon: ``truncated`` at the last time."""
        ts_ns = self.clock.timestamp_ns()
        top = self.top_of_book()
        obs = self.observe(ts_ns, top)
        res = self.result(obs, ts_ns, top)
        if not res.terminated:
            res.truncated = True
        res.info["data_exhausted"] = True
        self.finished = True
        return res


# -- channels between step() and the engine ------------------------------------------------------


@dataclass(slots=True)
class EngineDone:
    """The engine's run returned (end of data) without another decision."""


class Channel:
    """Hand-over between ``env.step()`` and the engine; subclasses pick the mechanism.

    The engine side calls :meth:`to_env` with a :class:`StepResult` and gets the action back;
    the environment side calls :meth:`start` / :meth:`resume` and gets the next ``StepResult``
    (or :class:`EngineDone`). An exception raised in the engine is re-raised by
    :meth:`start`/:meth:`resume`; :meth:`abort` unwinds a paused engine with
    :class:`EpisodeAborted`.
    """

    def start(self, run: Callable[[], None]) -> StepResult | EngineDone:
        raise NotImplementedError

    def resume(self, action: Any) -> StepResult | EngineDone:
        raise NotImplementedError

    def to_env(self, result: StepResult) -> Any:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    @property
    def active(self) -> bool:
        raise NotImplementedError


def _run_to_done(run: Callable[[], None]) -> EngineDone:
    try:
        run()
    except EpisodeAborted:
        pass
    return EngineDone()


class GreenletChannel(Channel):
    """The engine runs in a greenlet: ``step()`` and the timer callback switch stacks (~1 µs).

    Everything stays on the calling thread (Nautilus' process-global logger and clocks are
    never touched from two threads) and an exception in the engine propagates to the switch in
    ``step()`` by greenlet semantics.
    """

    def __init__(self) -> None:
        import greenlet

        self._greenlet_cls = greenlet.greenlet
        self._g = None

    @property
    def active(self) -> bool:
        return self._g is not None and not self._g.dead

    def start(self, run: Callable[[], None]) -> StepResult | EngineDone:
        self.abort()
        self._g = self._greenlet_cls(lambda: _run_to_done(run))
        return self._g.switch()

    def resume(self, action: Any) -> StepResult | EngineDone:
        return self._g.switch(action)

    def to_env(self, result: StepResult) -> Any:
        return self._g.parent.switch(result)

    def abort(self) -> None:
        g, self._g = self._g, None
        if g is not None and not g.dead:
            g.throw(EpisodeAborted())


_ABORT = object()


class ThreadChannel(Channel):
    """The engine runs on a worker thread; a queue handshake per step (NOTES §3 design B)."""

    def __init__(self) -> None:
        self._to_env: queue.SimpleQueue = queue.SimpleQueue()
        self._to_engine: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _worker(self, run: Callable[[], None]) -> None:
        try:
            self._to_env.put(("ok", _run_to_done(run)))
        except BaseException as e:  # noqa: BLE001 - forwarded to step()
            self._to_env.put(("error", e))

    def _receive(self) -> StepResult | EngineDone:
        kind, value = self._to_env.get()
        if kind == "error":
            self._thread.join()
            raise value
        if isinstance(value, EngineDone):
            self._thread.join()
        return value

    def start(self, run: Callable[[], None]) -> StepResult | EngineDone:
        self.abort()
        self._thread = threading.Thread(target=self._worker, args=(run,), daemon=True)
        self._thread.start()
        return self._receive()

    def resume(self, action: Any) -> StepResult | EngineDone:
        self._to_engine.put(action)
        return self._receive()

    def to_env(self, result: StepResult) -> Any:
        self._to_env.put(("ok", result))
        action = self._to_engine.get()
        if action is _ABORT:
            raise EpisodeAborted()
        return action

    def abort(self) -> None:
        if self.active:
            self._to_engine.put(_ABORT)
            kind, value = self._to_env.get()
            self._thread.join()
            if kind == "error" and not isinstance(value, EpisodeAborted):
                raise value
        self._thread = None


def make_channel(kind: str) -> Channel:
    """``"greenlet"`` or ``"thread"``."""
    if kind == "greenlet":
        return GreenletChannel()
    if kind == "thread":
        return ThreadChannel()
    raise ValueError(f"unknown coroutine kind {kind!r}; use 'greenlet' or 'thread'")
