"""Gymnasium market-making environment over the NautilusTrader backtest engine.

Design (NOTES §3, design B, with a greenlet instead of a thread): the ``BacktestEngine`` replays
the catalog window and hosts :class:`rl.host.EnvHostStrategy`, the agent's market maker
(:class:`strategies.policy.PolicyMarketMaker`) with ``step()`` as its policy. On its decision clock
that strategy builds the observation and reward, hands them to :meth:`step` and blocks until the
action comes back; then it quotes through the shared ``QuoteManager`` and the engine runs on to
the next decision. The hand-over is a greenlet stack switch (~1 µs; the engine's C frames are
switched like any other), so stepping costs almost nothing over a strategy acting in its own
timer, and everything stays on one thread.

The venue is built by :meth:`backtests.venue.VenueModelConfig.add_to_engine` and the data read by
:func:`catalog.window.load_window`: exactly what the backtests use.

Episodes
    ``reset()`` picks the first decision time (uniformly from the window with ``self.np_random``,
    or the window start for evaluation), reseeds the fill model, swaps in a fresh host strategy
    on the *same* engine (``engine.reset()`` keeps the venue and instruments: ~ms instead of a
    rebuild) and runs the engine from ``warmup_ms`` before the first decision so the features
    are warm. The engine is rebuilt every ``recycle_engine_episodes`` episodes, which keeps
    memory flat over thousands of episodes.
Episode data
    The engine holds no static data: :class:`EpisodeFeed` streams the window from the
    episode's first event, in chunks, through Nautilus' ``add_data_iterator``. A static data
    list would cost every reset a re-sort of the whole window and every run a linear scan for
    the start, both O(window): a reset on an 8-hour window took 48.9 ms that way, 7.8 ms now.
    The event sequence the engine sees is the same (``tests/rl/test_feed.py``).
End of episode
    ``truncated`` after ``horizon_steps`` decisions or when the data runs out; ``terminated``
    only on ruin (``RewardConfig.max_loss``).
Errors
    An exception raised inside the engine (a strategy handler, the matching engine) propagates
    out of :meth:`step`/:meth:`reset`; the episode is then over and the next ``reset()`` starts
    a fresh engine. Nothing can hang: there is no second thread with the greenlet channel.
L2 data
    The window comes from :func:`catalog.window.load_window`, so it opens with the full book
    (``catalog.checkpoints``). For episodes starting later, the book is imaged in memory every
    ``book_checkpoint_s`` of the window (:func:`catalog.checkpoints.book_images`, Nautilus'
    ``OrderBook``), and an episode's feed is that image as one snapshot batch followed by the
    window's own events after it. The image is never part of the stream of a later episode: with
    queue position on, a snapshot in mid-stream would reset every resting order's queue to zero.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.instruments import Instrument

from catalog.window import data_span, load_window, to_ns
from catalog.checkpoints import BookImage, book_images
from rl.config import EnvConfig
from rl.host import EngineDone, EnvHostStrategy, GreenletChannel, StepResult
from strategies.policy import PolicyMarketMakerConfig, build_codecs

ENV_ID = "amm/MarketMaking-v0"
STRATEGY_ID = "RLHost-001"
FEED_STREAM = "episode"
"""Name of the engine data stream an :class:`EpisodeFeed` attaches."""
FEED_CHUNK = 4_096
"""Events per chunk the engine pulls (and sorts, already sorted) at a time."""


class MarketMakingEnv(gym.Env):
    """Market making on a catalog window replayed through a Nautilus ``BacktestEngine``.

    Parameters
    ----------
    config : EnvConfig
        The whole environment definition (catalog window, agent, venue, seeding).
    render_mode : None
        No rendering.

    Notes
    -----
    Observation: ``Box(-obs_clip, obs_clip, (n,), float32)``, with the components of
    :func:`strategies.observation.observation_names` (16 without the optional ones). Action: ``Discrete(n)`` quote-offset grid or
    ``Box([-1, 1]^2)`` (see :mod:`strategies.actions`). Reward: :mod:`rl.reward`.
    ``info`` carries ``ts_ns``, ``step``, ``mid``, ``position``, ``pnl`` (quote currency, fees
    included), ``fees``, ``fills`` and ``reward_terms``.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: EnvConfig, render_mode: str | None = None) -> None:
        if not isinstance(config, EnvConfig):
            raise TypeError(f"config must be an rl.config.EnvConfig, got {type(config).__name__}")
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} not supported (none available)")
        self.config = config
        agent = config.agent
        start_ns = to_ns(config.window_start, name="window_start")
        end_ns = to_ns(config.window_end, name="window_end")
        if start_ns is None or end_ns is None:
            span = data_span(config.catalog_path, agent.instrument_id)
            start_ns = span[0] if start_ns is None else start_ns
            end_ns = span[1] if end_ns is None else end_ns
        window = load_window(config.catalog_path, agent.instrument_id, start_ns, end_ns, config.venue.book_type)
        instrument, data = window.instrument, window.data
        images: list[BookImage] = []
        if agent.book_type != "L1_MBP":
            images = book_images(data, int(config.book_checkpoint_s * 1e9))
            if not images:
                raise ValueError("L2 environment: the window holds no order book deltas")
            start_ns = max(start_ns, images[0].ts_ns)
        self._images: dict[int, BookImage] = {image.ts_ns: image for image in images}
        self._checkpoints_ns: list[int] = [image.ts_ns for image in images]
        self.instrument: Instrument = instrument
        self._feed = EpisodeFeed(data)
        self._window = (start_ns, end_ns)
        self._events_per_s = len(data) / max(1e-9, (end_ns - start_ns) / 1e9)
        self._check_window()

        mapper, observer = build_codecs(agent, instrument)
        self.action_space = mapper.space
        self.observation_space = observer.space
        self.render_mode = render_mode

        self._channel = GreenletChannel()
        # No per-event / per-command INFO logs: Nautilus formats each event's repr before the
        # level filter drops it (~10% of a step at ERROR level); orders are unchanged. An episode
        # ends without trading (no flatten on stop).
        self._host_config = PolicyMarketMakerConfig(
            agent=agent, strategy_id=STRATEGY_ID, log_events=False, log_commands=False,
            flatten_on_stop=False,
        )
        self._engine: BacktestEngine | None = None
        self._episodes_on_engine = 0
        self._host: EnvHostStrategy | None = None
        self._running = False
        self.episodes = 0
        self.engines_built = 0

    # -- gymnasium API ------------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        ``options`` may hold ``first_decision_ns`` (an explicit start, e.g. for evaluation).
        """
        super().reset(seed=seed)
        self._end_episode()
        first = None if options is None else options.get("first_decision_ns")
        first_decision_ns = self._draw_start() if first is None else int(first)
        run_start_ns = self._run_start(first_decision_ns)
        fill_seed = (
            self.config.venue.seed
            if self.config.seed_policy == "venue"
            else int(self.np_random.integers(0, 2**31 - 1))
        )
        engine = self._engine_for_episode()
        host = EnvHostStrategy(
            self._host_config,
            reward=self.config.reward,
            channel=self._channel,
            first_decision_ns=first_decision_ns,
        )
        engine.add_strategy(host)
        self._host = host
        self.episodes += 1
        # FillModel draws from Python's global `random` (NOTES §2): seed it per episode.
        random.seed(fill_seed)
        self._running = True
        self.attach_feed(engine, run_start_ns)
        end_ns = self._feed.end_ns
        result = self._start(lambda: engine.run(start=run_start_ns, end=end_ns, streaming=True))
        result.info["fill_seed"] = fill_seed
        result.info["first_decision_ns"] = first_decision_ns
        return result.obs, result.info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._running:
            raise RuntimeError("step() called without a running episode: call reset() first")
        try:
            msg = self._channel.resume(action)
        except BaseException:
            self._fail()
            raise
        result = self._finish_if_done(msg)
        return result.obs, float(result.reward), result.terminated, result.truncated, result.info

    def close(self) -> None:
        """Abort a running episode and dispose of the engine (idempotent)."""
        self._end_episode()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            _dispose(engine)
        super().close()

    # -- introspection (tests, evaluation) ------------------------------------------------------

    @property
    def engine(self) -> BacktestEngine | None:
        """The engine of the current episode (paused at the last decision while it runs)."""
        return self._engine

    @property
    def host(self) -> EnvHostStrategy | None:
        """The in-engine strategy of the current episode."""
        return self._host

    @property
    def window_ns(self) -> tuple[int, int]:
        return self._window

    @property
    def feed(self) -> EpisodeFeed:
        """The window's data stream (``feed.data``: the events, sorted by ``ts_init``)."""
        return self._feed

    def attach_feed(self, engine: BacktestEngine, run_start_ns: int) -> None:
        """Stream an episode's data into ``engine`` from ``run_start_ns`` (a :meth:`_run_start`).

        L2: the book image at the run start, then the window's events after it. The env calls
        this after every ``engine.reset()``; benchmarks and tests use it to replay an episode's
        exact stream on an engine of their own.
        """
        if self._images:
            self._feed.attach_after_image(engine, self._images[run_start_ns].to_deltas())
        else:
            self._feed.attach(engine, run_start_ns)

    # -- internals ------------------------------------------------------------------------------

    def _start(self, run) -> StepResult:
        try:
            msg = self._channel.start(run)
        except BaseException:
            self._fail()
            raise
        return self._finish_if_done(msg)

    def _finish_if_done(self, msg: StepResult | EngineDone) -> StepResult:
        if isinstance(msg, EngineDone):
            # Data ran out before the next decision: the episode is truncated at the last event.
            result = self._host.final_result()
        else:
            result = msg
        if result.terminated or result.truncated:
            self._running = False
        return result

    def _fail(self) -> None:
        """An exception escaped the engine: its state is unknown, so build a new one next time."""
        self._running = False
        self._host = None
        if self._engine is not None:
            engine, self._engine = self._engine, None
            try:
                _dispose(engine)
            except Exception:  # noqa: BLE001 - already failing; the original error matters
                pass

    def _end_episode(self) -> None:
        if self._channel.active:
            self._channel.abort()
        self._running = False

    def _engine_for_episode(self) -> BacktestEngine:
        engine = self._engine
        if engine is not None and self._episodes_on_engine < self.config.recycle_engine_episodes:
            engine.reset()
            engine.clear_strategies()
            self._episodes_on_engine += 1
            return engine
        if engine is not None:
            _dispose(engine)
        engine = BacktestEngine(
            BacktestEngineConfig(
                trader_id=TraderId(self.config.trader_id),
                logging=self.config.logging_config(),
                run_analysis=False,
            ),
        )
        self.config.venue.add_to_engine(engine, [self.instrument])
        self._feed.register(engine)
        self._engine = engine
        self._episodes_on_engine = 1
        self.engines_built += 1
        return engine

    def _episode_span_ns(self) -> int:
        agent = self.config.agent
        if agent.decision_events is None:
            return agent.horizon_steps * agent.decision_interval_ns
        # Event-driven decisions: estimate the duration from the mean event rate.
        return int(agent.horizon_steps * agent.decision_events / self._events_per_s * 1e9)

    def _check_window(self) -> None:
        start, end = self._window
        need = self.config.agent.warmup_ns + self._episode_span_ns()
        if end - start < need:
            raise ValueError(
                f"EnvConfig: the window {start}..{end} ({(end - start) / 1e9:.1f} s) is shorter "
                f"than warm-up + one episode ({need / 1e9:.1f} s); shorten horizon_steps or "
                f"widen the window",
            )

    def _draw_start(self) -> int:
        start, end = self._window
        if self._checkpoints_ns:  # L2: a replay can only start at a book checkpoint
            i = bisect.bisect_left(self._checkpoints_ns, start)
            start = self._checkpoints_ns[min(i, len(self._checkpoints_ns) - 1)]
        earliest = start + self.config.agent.warmup_ns
        if not self.config.random_start:
            # A backtest run started at `start` decides first at start + warm-up: the same.
            return earliest
        latest = max(earliest, end - self._episode_span_ns())
        ms = int(self.np_random.integers(0, (latest - earliest) // 1_000_000 + 1))
        return earliest + ms * 1_000_000

    def _run_start(self, first_decision_ns: int) -> int:
        warm = first_decision_ns - self.config.agent.warmup_ns
        if not self._checkpoints_ns:
            return warm
        i = bisect.bisect_right(self._checkpoints_ns, warm) - 1
        return self._checkpoints_ns[max(i, 0)]

    def __del__(self) -> None:  # best effort: never leave a paused engine behind
        try:
            self._end_episode()
        except Exception:  # noqa: BLE001
            pass


class EpisodeFeed:
    """Hands an engine the window's data one episode at a time, from the episode's start.

    ``register`` once per engine, ``attach`` after every ``engine.reset()`` (which drops the
    stream), then ``engine.run(start=..., end=feed.end_ns)``. The engine sees the events from
    the first one at or after the start, in the same order as from a static list.
    """

    def __init__(self, data: list[Data], chunk: int = FEED_CHUNK) -> None:
        if not data:
            raise ValueError("EpisodeFeed: no data")
        self._data = data
        self._ts = [d.ts_init for d in data]
        self._is_book = [isinstance(d, (OrderBookDeltas, OrderBookDelta)) for d in data]
        if any(b < a for a, b in zip(self._ts, self._ts[1:])):
            raise ValueError("EpisodeFeed: data must be sorted by ts_init")
        self._chunk = chunk

    @property
    def data(self) -> list[Data]:
        """The window's events, sorted by ``ts_init``."""
        return self._data

    @property
    def end_ns(self) -> int:
        """Time of the last event (the run's end, as for a static list)."""
        return self._ts[-1]

    def register(self, engine: BacktestEngine) -> None:
        """Let ``engine`` know the data's types and instrument, then leave its static list empty.

        ``add_data`` registers the market data client and the backtest subscriptions (one
        event of each type is enough); ``clear_data`` drops the list and the L2 "has data
        but no book" flags, which describe the static list only.
        """
        one_of_each = list({type(d): d for d in self._data}.values())
        # book data first: add_data looks at the first item only to decide it holds a book
        one_of_each.sort(key=lambda d: not isinstance(d, (OrderBookDeltas, OrderBookDelta)))
        engine.add_data(one_of_each, sort=False)
        engine.clear_data()

    def attach(self, engine: BacktestEngine, start_ns: int) -> None:
        """Stream the data from the first event at or after ``start_ns`` into ``engine``."""
        engine.add_data_iterator(FEED_STREAM, self._chunks(bisect.bisect_left(self._ts, start_ns)))

    def attach_after_image(self, engine: BacktestEngine, image: OrderBookDeltas) -> None:
        """Stream ``image`` (the book at its ``ts_init`` T), then the data it does not contain.

        The image holds every book event with ``ts_init <= T``; the stream goes on with the
        other events at T (trades, quotes) and everything after T.
        """
        t = image.ts_init
        first = bisect.bisect_left(self._ts, t)
        last = bisect.bisect_right(self._ts, t)
        while first < last and self._is_book[first]:
            first += 1
        engine.add_data_iterator(FEED_STREAM, self._chunks(first, head=[image]))

    def _chunks(self, first: int, head: list[Data] | None = None) -> Iterator[list[Data]]:
        data, chunk = self._data, self._chunk
        if head:
            yield head
        for i in range(first, len(data), chunk):
            yield data[i : i + chunk]


def _dispose(engine: BacktestEngine) -> None:
    """Stop a (possibly paused, mid-run) engine's components, then release it."""
    if engine.kernel.trader.is_running:
        engine.end()
    engine.dispose()
