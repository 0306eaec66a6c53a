"""The one frozen configuration of the market-making environment.

Everything that changes what an agent sees, does or is paid for lives here, split by concern:

* :class:`ActionConfig` — the action space (a Spooner et al. (2018) grid of quote offsets, or a
  continuous half-spread/skew box);
* :class:`RewardConfig` — the reward (PnL marked to mid, dampened PnL, inventory penalties);
* :class:`AgentConfig` — what the *in-engine* side needs: instrument, decision clock, order size,
  inventory limit, features, actions, reward. It is shared verbatim by the environment's host
  strategy and by :class:`strategies.policy.PolicyMarketMaker`, which is what makes a trained
  policy behave in a backtest or live exactly as it did in training;
* :class:`EnvConfig` — the episode side: catalog window, episode length, venue model (the
  *same* :class:`backtests.venue.VenueModelConfig` backtests use), seeding and engine recycling.

References
----------
Spooner, T., Fearnley, J., Savani, R., Koukorinis, A. (2018). "Market Making via Reinforcement
Learning". AAMAS 2018. arXiv:1804.04216.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nautilus_trader.config import LoggingConfig

from backtests.venue import VenueModelConfig
from catalog.features import FeatureConfig

ActionKind = Literal["discrete", "continuous"]
Dampening = Literal["none", "symmetric", "asymmetric"]
SeedPolicy = Literal["episode", "venue"]
Coroutine = Literal["greenlet", "thread"]
ENGINE_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

MIN_DECISION_INTERVAL_MS = 100
MAX_DECISION_INTERVAL_MS = 5_000


def _bad(owner: str, name: str, value: Any, why: str) -> ValueError:
    return ValueError(f"{owner}.{name}: {why} (got {value!r})")


@dataclass(frozen=True, kw_only=True)
class ActionConfig:
    """How an action becomes a two-sided quote target.

    Parameters
    ----------
    kind : {"discrete", "continuous"}
        ``discrete``: ``Discrete(n)`` over every (bid offset, ask offset) pair of the grid below,
        measured in ticks *behind the same-side best price* (0 = join the best bid/ask), as in
        Spooner et al. (2018) §4.2; with ``allow_no_quote`` each side may also be pulled
        (offset ``None``), which adds the one-sided and the flat action.
        ``continuous``: ``Box([-1, 1]^2)``; ``a[0]`` maps linearly to a half-spread in
        ``[min_half_spread_ticks, max_half_spread_ticks]`` around the mid and ``a[1]`` to a skew
        in ``[-max_skew_ticks, +max_skew_ticks]`` that shifts *both* quotes down (positive skew
        = eager to sell, the usual reaction to a long inventory).
    bid_offsets_ticks, ask_offsets_ticks : tuple of int
        Grid of offsets (ticks, >= 0) for ``discrete``.
    allow_no_quote : bool
        Add "do not quote this side" to each side of the grid.
    min_half_spread_ticks, max_half_spread_ticks, max_skew_ticks : float
        Ranges for ``continuous``. A half-spread below half the market spread is clamped by the
        quote manager one tick behind the opposite best (post-only quotes never cross).
    """

    kind: ActionKind = "discrete"
    bid_offsets_ticks: tuple[int, ...] = (0, 1, 2, 4, 8)
    ask_offsets_ticks: tuple[int, ...] = (0, 1, 2, 4, 8)
    allow_no_quote: bool = True
    min_half_spread_ticks: float = 0.5
    max_half_spread_ticks: float = 10.0
    max_skew_ticks: float = 5.0

    def __post_init__(self) -> None:
        o = "ActionConfig"
        if self.kind not in ("discrete", "continuous"):
            raise _bad(o, "kind", self.kind, "must be 'discrete' or 'continuous'")
        for name in ("bid_offsets_ticks", "ask_offsets_ticks"):
            value = tuple(int(v) for v in getattr(self, name))
            if not value or min(value) < 0 or len(set(value)) != len(value):
                raise _bad(o, name, value, "must be distinct integers >= 0, at least one")
            object.__setattr__(self, name, value)
        if not 0 <= self.min_half_spread_ticks < self.max_half_spread_ticks:
            raise _bad(
                o, "max_half_spread_ticks", self.max_half_spread_ticks,
                "need 0 <= min_half_spread_ticks < max_half_spread_ticks",
            )
        if self.max_skew_ticks < 0:
            raise _bad(o, "max_skew_ticks", self.max_skew_ticks, "must be >= 0")


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """The per-step reward, in units of one tick on one order quantity (``tick * order_qty``).

    ``r_t = dPnL_t - damp(eta * inventory_pnl_t) - running_inventory_penalty * (q_t / q_max)^2``
    and, on the last step, ``- terminal_inventory_penalty_ticks * |q_T| / order_qty``.

    Parameters
    ----------
    dampening : {"none", "symmetric", "asymmetric"}
        ``none``: reward = change of PnL marked to mid, fees included. ``symmetric`` and
        ``asymmetric`` are Spooner et al. (2018) eq. (4)/(5): the inventory part of the PnL
        change, ``q_{t-1} * (mid_t - mid_{t-1})``, is damped by ``eta`` (symmetric) or only its
        gains are (asymmetric: ``- max(0, eta * inventory_pnl)``), discouraging speculation.
    eta : float
        Dampening factor in [0, 1].
    running_inventory_penalty : float
        Coefficient of the quadratic running inventory penalty (Guéant, Lehalle &
        Fernandez-Tapia 2013 style), per step, on inventory normalised by ``max_inventory``.
    terminal_inventory_penalty_ticks : float
        Cost, in ticks, of flattening each unit of ``order_qty`` still held when the episode ends.
    max_loss : float or None
        Ruin: the episode *terminates* when PnL (quote currency, fees included) falls below
        ``-max_loss``. ``None`` disables it.

    Notes
    -----
    ``symmetric`` with ``eta = 1`` (built by :meth:`risk_neutral`) is the *risk-neutral
    decomposition* of Cartea, Jaimungal & Penalva (2015, ch. 10): the PnL change marked to mid
    is ``q_{t-1} (S_t - S_{t-1})`` plus the spread captured by the step's fills; when the mid is a
    martingale (the Avellaneda–Stoikov model, :mod:`rl.synth`) the first term has zero
    expectation for any policy, so dropping it leaves every policy's expected return, hence
    the optimal policy, unchanged while removing the noise that dominates the per-step reward.
    On real data, where the mid may drift with the order flow, it is a *dampened* reward
    (Spooner et al. 2018) and changes what is optimal.
    """

    dampening: Dampening = "none"
    eta: float = 0.0
    running_inventory_penalty: float = 0.0
    terminal_inventory_penalty_ticks: float = 0.0
    max_loss: float | None = None

    def __post_init__(self) -> None:
        o = "RewardConfig"
        if self.dampening not in ("none", "symmetric", "asymmetric"):
            raise _bad(o, "dampening", self.dampening, "must be none, symmetric or asymmetric")
        if not 0.0 <= self.eta <= 1.0:
            raise _bad(o, "eta", self.eta, "must be in [0, 1]")
        if self.running_inventory_penalty < 0 or self.terminal_inventory_penalty_ticks < 0:
            raise _bad(o, "running_inventory_penalty", self.running_inventory_penalty,
                       "inventory penalties must be >= 0")
        if self.max_loss is not None and not self.max_loss > 0:
            raise _bad(o, "max_loss", self.max_loss, "must be > 0 or None")

    @classmethod
    def risk_neutral(cls, *, running_inventory_penalty: float = 0.0,
                     terminal_inventory_penalty_ticks: float = 0.0,
                     max_loss: float | None = None) -> RewardConfig:
        """Spread captured at fills - fees - penalties: the mark-to-mid reward without ``q dS``.

        Same expected return as ``dampening="none"`` when the mid is a martingale (see Notes),
        with far less variance; evaluate with ``dampening="none"`` (the true criterion).
        """
        return cls(dampening="symmetric", eta=1.0, running_inventory_penalty=running_inventory_penalty,
                   terminal_inventory_penalty_ticks=terminal_inventory_penalty_ticks, max_loss=max_loss)


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """Everything the in-engine side of an agent needs; identical in training and deployment.

    Parameters
    ----------
    instrument_id : str
        Quoted instrument (e.g. ``BTCUSDT-PERP.BINANCE``).
    book_type : {"L1_MBP", "L2_MBP"}
        Which market data the agent subscribes to: L1 = quotes + trades, L2 = book deltas +
        trades (the book is read from the cache at each decision).
    decision_interval_ms : int
        Simulated time between decisions, 100 ms to 5 s (a clock timer).
    decision_events : int or None
        If set, decide every this many market events (quotes, trades, book batches) instead.
    warmup_ms : int
        Market data the features see before the first decision of an episode / a run.
    horizon_steps : int
        Decisions per episode; drives the "time left" observation (``1 - k / horizon``).
    order_qty : float
        Size of each quote (base units or contracts).
    max_inventory : float
        Hard inventory bound enforced by the quote manager against the worst case.
    refresh_threshold_ticks : int
        Quote manager amends a resting quote only when its target moved this many ticks.
    action : ActionConfig
    reward : RewardConfig
    features : catalog.features.FeatureConfig or None
        Market-feature definition; None = the defaults with the instrument's tick size.
    obs_clip : float
        Observations are normalised and then clipped to ``[-obs_clip, obs_clip]``.
    pnl_scale_ticks : float
        Unrealised PnL is observed as ``pnl / (pnl_scale_ticks * tick * order_qty)``.
    """

    instrument_id: str = "BTCUSDT-PERP.BINANCE"
    book_type: str = "L1_MBP"
    decision_interval_ms: int = 100
    decision_events: int | None = None
    warmup_ms: int = 5_000
    horizon_steps: int = 600
    order_qty: float = 0.001
    max_inventory: float = 0.01
    refresh_threshold_ticks: int = 1
    action: ActionConfig = field(default_factory=ActionConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    features: FeatureConfig | None = None
    obs_clip: float = 5.0
    pnl_scale_ticks: float = 50.0

    def __post_init__(self) -> None:
        o = "AgentConfig"
        if self.book_type not in ("L1_MBP", "L2_MBP"):
            raise _bad(o, "book_type", self.book_type, "must be L1_MBP or L2_MBP")
        if not MIN_DECISION_INTERVAL_MS <= self.decision_interval_ms <= MAX_DECISION_INTERVAL_MS:
            raise _bad(o, "decision_interval_ms", self.decision_interval_ms,
                       f"must be in [{MIN_DECISION_INTERVAL_MS}, {MAX_DECISION_INTERVAL_MS}]")
        if self.decision_events is not None and self.decision_events < 1:
            raise _bad(o, "decision_events", self.decision_events, "must be >= 1 or None")
        if self.warmup_ms < 0:
            raise _bad(o, "warmup_ms", self.warmup_ms, "must be >= 0")
        if self.horizon_steps < 1:
            raise _bad(o, "horizon_steps", self.horizon_steps, "must be >= 1")
        if not self.order_qty > 0:
            raise _bad(o, "order_qty", self.order_qty, "must be > 0")
        if not self.max_inventory >= self.order_qty:
            raise _bad(o, "max_inventory", self.max_inventory, "must be >= order_qty")
        if self.refresh_threshold_ticks < 0:
            raise _bad(o, "refresh_threshold_ticks", self.refresh_threshold_ticks, "must be >= 0")
        if not self.obs_clip > 0 or not self.pnl_scale_ticks > 0:
            raise _bad(o, "obs_clip", self.obs_clip, "obs_clip and pnl_scale_ticks must be > 0")
        for name, cls in (("action", ActionConfig), ("reward", RewardConfig)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, cls(**value))
        if isinstance(self.features, Mapping):
            object.__setattr__(self, "features", FeatureConfig(**self.features))

    @property
    def decision_interval_ns(self) -> int:
        return self.decision_interval_ms * 1_000_000

    @property
    def warmup_ns(self) -> int:
        return self.warmup_ms * 1_000_000

    def feature_config(self, tick_size: float) -> FeatureConfig:
        """The feature definition to use for an instrument with ``tick_size``."""
        if self.features is None:
            return FeatureConfig(tick_size=float(tick_size))
        if abs(self.features.tick_size - float(tick_size)) > 1e-12:
            raise ValueError(
                f"AgentConfig.features.tick_size {self.features.tick_size} differs from the "
                f"instrument's tick size {tick_size}",
            )
        return self.features

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-safe): what a ``PolicyMarketMakerConfig.agent`` holds."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "agent") -> AgentConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise naming the key and ``where``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown agent field(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from e


@dataclass(frozen=True, kw_only=True)
class EnvConfig:
    """The environment: a catalog window replayed through a Nautilus ``BacktestEngine``.

    Parameters
    ----------
    catalog_path : str or Path
        A ``ParquetDataCatalog`` (``amm ingest`` builds one).
    window_start, window_end : str, int or None
        Data window (ISO-8601 or UNIX ns, inclusive); None = the whole catalog span.
    agent : AgentConfig
        Instrument, decision clock, order size, inventory limit, actions, reward and features.
        ``agent.horizon_steps`` is the episode length in decisions.
    venue : backtests.venue.VenueModelConfig
        The simulated venue: the *same* object type the backtests use. Its ``book_type`` must
        match ``agent.book_type``.
    random_start : bool
        Draw each episode's start uniformly from the window with ``self.np_random`` (training);
        False starts every episode at the window start (evaluation).
    seed_policy : {"episode", "venue"}
        Seed of the fill model for each episode: ``episode`` draws it from ``self.np_random`` (so
        ``reset(seed=s)`` reproduces a trajectory); ``venue`` always uses ``venue.seed``, exactly
        as a backtest of the same window does (parity/evaluation).
    book_checkpoint_s : float
        L2 only: the window's book is imaged in memory (at most) every this many seconds, and an
        episode's replay starts at the last image before its warm-up, with that image as its
        first event (never inserted into the stream: with queue position on, a snapshot would
        reset the resting orders' queues).
    recycle_engine_episodes : int
        Build a fresh engine after this many episodes, so memory stays flat over long training.
    coroutine : {"greenlet", "thread"}
        How ``step()`` hands control to the engine: a greenlet stack switch (~1 µs, default) or a
        worker thread with a semaphore handshake (NOTES §3 design B; kept for comparison).
    trader_id : str
        Trader id of the engine (reports and order ids carry it).
    log_level : {"DEBUG", "INFO", "WARNING", "ERROR"} or None
        Nautilus log level of the env's engines; None (default) bypasses Nautilus logging. Even
        at ERROR every log call of the engine still crosses into Nautilus' Rust logger before
        the level drops it: bypassing makes a step ~12% cheaper (``benchmarks/env.py``). Errors
        in the engine still surface, as exceptions from ``step()``; refused orders still arrive
        as events. Nautilus sets up its logger once per process, from the first engine built:
        a level chosen here only applies if no engine logged before in this process.
    """

    catalog_path: str | Path
    window_start: str | int | None = None
    window_end: str | int | None = None
    agent: AgentConfig = field(default_factory=AgentConfig)
    venue: VenueModelConfig = field(default_factory=VenueModelConfig)
    random_start: bool = True
    seed_policy: SeedPolicy = "episode"
    book_checkpoint_s: float = 10.0
    recycle_engine_episodes: int = 500
    coroutine: Coroutine = "greenlet"
    trader_id: str = "RL-001"
    log_level: str | None = None

    def __post_init__(self) -> None:
        o = "EnvConfig"
        if isinstance(self.agent, Mapping):
            object.__setattr__(self, "agent", AgentConfig.from_dict(self.agent))
        if isinstance(self.venue, Mapping):
            object.__setattr__(self, "venue", VenueModelConfig.from_dict(self.venue))
        if self.venue.book_type != self.agent.book_type:
            raise _bad(o, "venue.book_type", self.venue.book_type,
                       f"must equal agent.book_type {self.agent.book_type!r}")
        if self.venue.venue != self.agent.instrument_id.rsplit(".", 1)[-1]:
            raise _bad(o, "venue.venue", self.venue.venue,
                       f"must be the venue of {self.agent.instrument_id}")
        if self.seed_policy not in ("episode", "venue"):
            raise _bad(o, "seed_policy", self.seed_policy, "must be 'episode' or 'venue'")
        if self.coroutine not in ("greenlet", "thread"):
            raise _bad(o, "coroutine", self.coroutine, "must be 'greenlet' or 'thread'")
        if not self.book_checkpoint_s > 0:
            raise _bad(o, "book_checkpoint_s", self.book_checkpoint_s, "must be > 0")
        if self.recycle_engine_episodes < 1:
            raise _bad(o, "recycle_engine_episodes", self.recycle_engine_episodes, "must be >= 1")
        if self.log_level is not None and self.log_level not in ENGINE_LOG_LEVELS:
            raise _bad(o, "log_level", self.log_level, f"must be null or one of {ENGINE_LOG_LEVELS}")

    def logging_config(self) -> LoggingConfig:
        """The Nautilus ``LoggingConfig`` of the env's engines (see ``log_level``)."""
        if self.log_level is None:
            return LoggingConfig(bypass_logging=True)
        return LoggingConfig(log_level=self.log_level)

    @property
    def episode_steps(self) -> int:
        """Episode length in decisions (``agent.horizon_steps``)."""
        return self.agent.horizon_steps

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with some fields changed (``agent``/``venue`` may be dicts of changes)."""
        for name in ("agent", "venue"):
            if isinstance(changes.get(name), Mapping):
                changes[name] = dataclasses.replace(self.agent, **changes[name]) if name == "agent" else self.venue.replace(**changes[name])
        return dataclasses.replace(self, **changes)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return obj.to_dict()
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
