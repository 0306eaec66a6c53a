"""The agent's observation: shared market features plus its own state, normalised and bounded.

The market part is :class:`catalog.features.IncrementalFeatures` (one definition, also used by
analysis and the baselines); the private part is what a market maker needs to know about
itself: inventory, unrealised PnL, time left and where its own quotes rest. Every component is
scaled to O(1) with a fixed, documented transform (no running statistics, so the observation of
a given state is the same in training, in a backtest and live), NaN becomes 0, and the vector is
clipped to ``[-obs_clip, obs_clip]`` as float32.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from catalog.features import FEATURE_NAMES, FeatureConfig, IncrementalFeatures
from strategies.agent import ObservationConfig

OBS_NAMES: tuple[str, ...] = (
    "micro_offset_ticks",  # (microprice - mid) / tick
    "spread_ticks",  # spread / 10 ticks
    "imbalance",  # [-1, 1]
    "log_volatility_ticks",  # log1p(volatility in ticks / sqrt(s)) / 5
    "trade_flow",  # [-1, 1]
    "time_since_trade",  # tanh(seconds / 10)
    "log_buy_volume",  # log1p(volume / order_qty) / 10
    "log_sell_volume",
    "log_trade_count",  # log1p(count) / 5
    "inventory",  # position / max_inventory
    "unrealised_pnl",  # pnl / (pnl_scale_ticks * tick * order_qty * multiplier)
    "time_left",  # 1 - (step mod horizon) / horizon, in (0, 1] (AgentConfig.episode_clock)
    "bid_quoted",  # 1 if a bid rests, else 0
    "bid_distance_ticks",  # (mid - bid) / tick / 10
    "ask_quoted",
    "ask_distance_ticks",  # (ask - mid) / tick / 10
)
"""Order of the base observation vector (what every agent observes)."""


def observation_names(config: ObservationConfig | None = None) -> tuple[str, ...]:
    """Names of the observation components for ``config``, in vector order.

    The base :data:`OBS_NAMES`, then ``imbalance_<k>`` per extra depth, then
    ``bid_queue_ahead`` / ``ask_queue_ahead``; with ``frame_stack = n`` the frame is repeated
    ``n`` times, oldest first, the older ones suffixed ``@t-<lag>``.
    """
    config = config or ObservationConfig()
    frame = OBS_NAMES + tuple(f"imbalance_{k}" for k in config.depth_imbalance_levels)
    if config.queue_ahead:
        frame += ("bid_queue_ahead", "ask_queue_ahead")
    n = config.frame_stack
    names: list[str] = []
    for lag in range(n - 1, -1, -1):
        names.extend(frame if lag == 0 else (f"{name}@t-{lag}" for name in frame))
    return tuple(names)

class ObservationBuilder:
    """Feed market events in, get the float32 observation out.

    Parameters
    ----------
    features : FeatureConfig
        Market-feature definition (its ``tick_size`` is the instrument's).
    order_qty, max_inventory : float
        Order size and inventory limit (normalisers).
    multiplier : float
        Contract multiplier (PnL normaliser).
    horizon_steps : int
        Decisions per training episode: the period of the time-left clock.
    episode_clock : {"cyclic", "off"}
        ``cyclic``: time left is ``1 - (step mod horizon_steps) / horizon_steps``, so a deployed
        policy, whose decision count grows without end, sees the values of a training episode
        over and over; ``off``: always 0.
    pnl_scale_ticks : float
        Unrealised PnL is expressed in units of ``pnl_scale_ticks`` ticks on one ``order_qty``.
    obs_clip : float
        Bound of every component.
    observation : ObservationConfig, optional
        Extra components and frame stacking (:func:`observation_names` gives the order).
    """

    def __init__(
        self,
        features: FeatureConfig,
        *,
        order_qty: float,
        max_inventory: float,
        multiplier: float,
        horizon_steps: int,
        episode_clock: str = "cyclic",
        pnl_scale_ticks: float,
        obs_clip: float,
        observation: ObservationConfig | None = None,
    ) -> None:
        self.features = IncrementalFeatures(features)
        self.config = observation or ObservationConfig()
        self.names = observation_names(self.config)
        self._depths = tuple(self.config.depth_imbalance_levels)
        self._queue = bool(self.config.queue_ahead)
        self._stack = int(self.config.frame_stack)
        self._frames: list[list[float]] = []
        self._tick = float(features.tick_size)
        self._qty = float(order_qty)
        self._qmax = float(max_inventory)
        self._pnl_unit = float(pnl_scale_ticks) * self._tick * self._qty * float(multiplier)
        self._horizon = int(horizon_steps)
        if episode_clock not in ("cyclic", "off"):
            raise ValueError(f"episode_clock must be 'cyclic' or 'off', got {episode_clock!r}")
        self._clock = episode_clock == "cyclic"
        self._clip = float(obs_clip)
        self._raw = np.zeros(len(FEATURE_NAMES), dtype=np.float64)
        self._last_values: tuple | None = None
        self.space = spaces.Box(
            low=-self._clip, high=self._clip, shape=(len(self.names),), dtype=np.float32,
        )

    def reset(self) -> None:
        self.features.reset()
        self._frames.clear()

    @property
    def raw(self) -> np.ndarray:
        """The raw market features of the last :meth:`build` (FEATURE_NAMES order)."""
        if self._last_values is not None:
            self._raw[:] = self._last_values
            self._last_values = None
        return self._raw

    def build(
        self,
        ts_ns: int,
        *,
        position: float,
        unrealised_pnl: float,
        step: int,
        bid_price: float | None,
        ask_price: float | None,
        bid_raw: int | None = None,
        ask_raw: int | None = None,
    ) -> np.ndarray:
        """Observation at ``ts_ns`` (every event with ``ts_init <= ts_ns`` already fed).

        ``bid_raw`` / ``ask_raw`` are our resting quotes' ``Price.raw`` (the book's keys), read
        only by the ``queue_ahead`` components.
        """
        # The feature tuple is used as is (no array round trip, no numpy scalars): ~2x cheaper.
        values = self.features.sample_values(ts_ns)
        self._last_values = values
        mid, micro, spread_ticks, imbalance, vol, flow, since, buy, sell, count = values
        tick = self._tick
        qty = self._qty
        have_mid = mid == mid
        if have_mid:
            bid_d = (mid - bid_price) / tick / 10.0 if bid_price is not None else 0.0
            ask_d = (ask_price - mid) / tick / 10.0 if ask_price is not None else 0.0
        else:
            bid_d = ask_d = 0.0
        log1p = math.log1p
        c = self._clip
        out = [
            (micro - mid) / tick if (have_mid and micro == micro) else 0.0,
            spread_ticks / 10.0,
            imbalance,
            log1p(vol / tick) / 5.0 if vol == vol else 0.0,
            flow,
            math.tanh(since / 10.0) if since == since else 1.0,
            log1p(buy / qty) / 10.0,
            log1p(sell / qty) / 10.0,
            log1p(count) / 5.0,
            position / self._qmax,
            unrealised_pnl / self._pnl_unit,
            1.0 - (step % self._horizon) / self._horizon if self._clock else 0.0,
            1.0 if bid_price is not None else 0.0,
            bid_d,
            1.0 if ask_price is not None else 0.0,
            ask_d,
        ]
        if self._depths:
            out.extend(self.features.depth_imbalance(k) for k in self._depths)
        if self._queue:
            feats = self.features
            for is_bid, raw in ((True, bid_raw), (False, ask_raw)):
                size = feats.displayed_size(is_bid, raw) if raw is not None else 0.0
                out.append(log1p(size / qty) if size == size else 0.0)
        for i, v in enumerate(out):
            if v != v:
                out[i] = 0.0
            elif v > c:
                out[i] = c
            elif v < -c:
                out[i] = -c
        if self._stack > 1:
            frames = self._frames
            if not frames:
                frames.extend([out] * (self._stack - 1))
            frames.append(out)
            del frames[: len(frames) - self._stack]
            return np.array([v for frame in frames for v in frame], dtype=np.float32)
        return np.array(out, dtype=np.float32)
