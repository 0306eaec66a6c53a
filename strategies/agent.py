"""What a trained agent needs to run: its clock, size, limits, actions, features and observation.

These settings travel with a model (the training run's manifest records them) and are all a
:class:`strategies.policy.PolicyMarketMaker` needs besides the model itself; the training harness
(``rl``) adds the episode side (window, reward, venue) around them. They are frozen Nautilus
configs (msgspec): unknown fields, wrong types and out-of-range values are refused when decoded
from a file and when built in Python, naming the field.

References
----------
Spooner, T., Fearnley, J., Savani, R., Koukorinis, A. (2018). "Market Making via Reinforcement
Learning". AAMAS 2018. arXiv:1804.04216 (the discrete quote-offset grid of :class:`ActionConfig`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from nautilus_trader.config import NautilusConfig, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from catalog.config_io import validate_constraints
from catalog.features import FeatureConfig

MIN_DECISION_INTERVAL_MS = 100
MAX_DECISION_INTERVAL_MS = 5_000

DecisionIntervalMs = Annotated[int, msgspec.Meta(ge=MIN_DECISION_INTERVAL_MS, le=MAX_DECISION_INTERVAL_MS)]
Offsets = Annotated[tuple[NonNegativeInt, ...], msgspec.Meta(min_length=1)]


class ActionConfig(NautilusConfig, frozen=True):
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
        Grid of distinct offsets (ticks, >= 0) for ``discrete``.
    allow_no_quote : bool
        Add "do not quote this side" to each side of the grid.
    min_half_spread_ticks, max_half_spread_ticks, max_skew_ticks : float
        Ranges for ``continuous``. A half-spread below half the market spread is clamped by the
        quote manager one tick behind the opposite best (post-only quotes never cross).
    inventory_skew_ticks_per_lot : float, default 0.0
        A linear inventory skew the runtime applies after the action, in training and deployment
        alike (``MarketMakerConfig.inventory_skew_ticks_per_unit``): both quotes move by
        ``-skew * position / order_qty`` ticks. With it the policy learns offsets on top of quotes
        that already lean against the position, the classic heuristic of the baselines and the
        linear part of the Avellaneda & Stoikov (2008) reservation price, so inventory control is
        the default rather than something each action must choose. Issue 14's agents trained
        without it held 250-280 shares where AS held 90-250 (docs/results.md §12). Being part of
        the agent, a deployed policy always runs with the skew it was trained with.
    """

    kind: Literal["discrete", "continuous"] = "discrete"
    bid_offsets_ticks: Offsets = (0, 1, 2, 4, 8)
    ask_offsets_ticks: Offsets = (0, 1, 2, 4, 8)
    allow_no_quote: bool = True
    min_half_spread_ticks: NonNegativeFloat = 0.5
    max_half_spread_ticks: PositiveFloat = 10.0
    max_skew_ticks: NonNegativeFloat = 5.0
    inventory_skew_ticks_per_lot: NonNegativeFloat = 0.0

    def __post_init__(self) -> None:
        validate_constraints(self)
        for name in ("bid_offsets_ticks", "ask_offsets_ticks"):
            value = getattr(self, name)
            if len(set(value)) != len(value):
                raise ValueError(f"ActionConfig.{name}: offsets must be distinct, got {list(value)}")
        if not self.min_half_spread_ticks < self.max_half_spread_ticks:
            raise ValueError(
                f"ActionConfig.max_half_spread_ticks: must be > min_half_spread_ticks "
                f"({self.min_half_spread_ticks}), got {self.max_half_spread_ticks}",
            )


class ObservationConfig(NautilusConfig, frozen=True):
    """Optional observation components on top of the base vector (:data:`strategies.observation.OBS_NAMES`).

    All off by default, so a model trained without them keeps its observation. Every component is
    in ticks or order quantities, never in the instrument's price or share units, so one policy
    can trade instruments of different prices (GOOG and AMZN).

    Parameters
    ----------
    depth_imbalance_levels : tuple of int
        Add the book volume imbalance ``(bid - ask) / (bid + ask)`` over the best ``k`` levels
        per side, one component per ``k`` (e.g. ``(1, 3, 10)``): the order-book signal of Cartea,
        Donnelly & Jaimungal (2018) at several depths. The base ``imbalance`` keeps
        ``features.book_levels``. NaN (observed as 0) without a book.
    queue_ahead : bool
        Add, per side, ``log1p(displayed size at our resting quote's price / order_qty)``: the
        size the venue shows at our price level, which is the queue ahead of us when we join it
        and an upper bound of it afterwards (L2 data cannot say which part of a level is behind
        us; Nautilus' matching engine tracks the true position, the policy cannot see it). 0 when
        that side does not quote or the level is not in the book.
    frame_stack : int
        Observe the last ``frame_stack`` vectors, oldest first (Mnih et al. 2015's frame
        stacking), so a feed-forward policy sees short-term dynamics. The history is part of
        the strategy, so it builds up the same way in training, in a backtest and live; at the
        start of an episode (or a run) the missing frames are copies of the first one.
    """

    depth_imbalance_levels: tuple[PositiveInt, ...] = ()
    queue_ahead: bool = False
    frame_stack: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1

    def __post_init__(self) -> None:
        validate_constraints(self)
        levels = self.depth_imbalance_levels
        if any(k < 1 for k in levels):
            raise ValueError(f"ObservationConfig.depth_imbalance_levels: levels must be >= 1, got {list(levels)}")
        if len(set(levels)) != len(levels):
            raise ValueError(f"ObservationConfig.depth_imbalance_levels: levels must be distinct, got {list(levels)}")


class AgentConfig(NautilusConfig, frozen=True):
    """Everything the in-engine side of an agent needs; identical in training and deployment.

    Parameters
    ----------
    instrument_id : str
        Quoted instrument (e.g. ``BTCUSDT-PERP.BINANCE``).
    book_type : {"L1_MBP", "L2_MBP"}
        Which market data the agent subscribes to: L1 = quotes + trades, L2 = book deltas +
        quotes (where the data has them) + trades.
    decision_interval_ms : int
        Simulated time between decisions, 100 ms to 5 s (a clock timer).
    decision_events : int, optional
        If set, decide every this many market events (quotes, trades, book batches) instead.
    warmup_ms : int
        Market data the features see before the first decision of an episode or a run.
    horizon_steps : int
        Decisions per training episode; the period of the "time left" observation.
    episode_clock : {"cyclic", "off"}
        The "time left" observation. ``cyclic``: ``1 - (k mod horizon_steps) / horizon_steps`` at
        decision ``k``: in training every episode is one period; deployed, the clock restarts every
        ``horizon_steps`` decisions, so a policy sees the values it was trained on for as long as it
        runs (``tests/rl/test_episode_clock.py``). ``off``: always 0, for policies trained to
        ignore the horizon.
    order_qty : float
        Size of each quote (base units or contracts).
    max_inventory : float
        Hard inventory bound enforced by the quote manager against the worst case.
    refresh_threshold_ticks : int
        The quote manager amends a resting quote only when its target moved this many ticks.
    action : ActionConfig
    features : catalog.features.FeatureConfig, optional
        Market-feature definition; None = the defaults with the instrument's tick size.
    obs_clip : float
        Observations are normalised and then clipped to ``[-obs_clip, obs_clip]``.
    pnl_scale_ticks : float
        Unrealised PnL is observed as ``pnl / (pnl_scale_ticks * tick * order_qty)``.
    observation : ObservationConfig
        Optional observation components (deeper imbalances, queue ahead, frame stacking).
    """

    instrument_id: str = "BTCUSDT-PERP.BINANCE"
    book_type: Literal["L1_MBP", "L2_MBP"] = "L1_MBP"
    decision_interval_ms: DecisionIntervalMs = 100
    decision_events: PositiveInt | None = None
    warmup_ms: NonNegativeInt = 5_000
    horizon_steps: PositiveInt = 600
    episode_clock: Literal["cyclic", "off"] = "cyclic"
    order_qty: PositiveFloat = 0.001
    max_inventory: PositiveFloat = 0.01
    refresh_threshold_ticks: NonNegativeInt = 1
    action: ActionConfig = ActionConfig()
    features: FeatureConfig | None = None
    obs_clip: PositiveFloat = 5.0
    pnl_scale_ticks: PositiveFloat = 50.0
    observation: ObservationConfig = ObservationConfig()

    def __post_init__(self) -> None:
        validate_constraints(self)
        if not self.max_inventory >= self.order_qty:
            raise ValueError(
                f"AgentConfig.max_inventory: must be >= order_qty ({self.order_qty}), got {self.max_inventory}",
            )

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
                f"AgentConfig.features.tick_size: {self.features.tick_size} differs from the "
                f"instrument's tick size {tick_size}",
            )
        return self.features

    def replace(self, **changes: Any) -> AgentConfig:
        """A copy with some fields changed, validated again (``action`` may be a dict of changes)."""
        if isinstance(changes.get("action"), dict):
            changes["action"] = msgspec.structs.replace(self.action, **changes["action"])
        if isinstance(changes.get("observation"), dict):
            changes["observation"] = msgspec.structs.replace(self.observation, **changes["observation"])
        return msgspec.structs.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML/TOML-safe; ``None`` fields left out): what a manifest records."""
        return {k: v for k, v in msgspec.json.decode(msgspec.json.encode(self)).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "agent") -> AgentConfig:
        """Inverse of :meth:`to_dict`; an unknown, mistyped or out-of-range field names ``where``."""
        from catalog.config_io import decode

        return decode(data, cls, source=where)
