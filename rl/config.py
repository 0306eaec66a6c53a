"""The frozen configuration of the market-making environment: the training side of an agent.

What the agent sees and does (instrument, decision clock, size, limits, actions, features) is
:class:`strategies.agent.AgentConfig`, shared verbatim by the environment's host strategy and by
:class:`strategies.policy.PolicyMarketMaker`, which is what makes a trained policy behave in a
backtest or live exactly as it did in training. Here is what only training has:

* :class:`RewardConfig` — the reward (PnL marked to mid, dampened PnL, inventory penalties);
* :class:`EnvConfig` — the episode side: catalog window, agent, reward, venue model (the *same*
  :class:`backtests.venue.VenueModelConfig` backtests use), seeding and engine recycling.

References
----------
Spooner, T., Fearnley, J., Savani, R., Koukorinis, A. (2018). "Market Making via Reinforcement
Learning". AAMAS 2018. arXiv:1804.04216.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from nautilus_trader.config import LoggingConfig, NonNegativeFloat, PositiveFloat, PositiveInt

from backtests.venue import VenueModelConfig
from catalog.config_io import FieldError, decode, validate_constraints
from strategies.agent import AgentConfig

Dampening = Literal["none", "symmetric", "asymmetric"]
SeedPolicy = Literal["episode", "venue"]
EngineLogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
UnitInterval = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class RewardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
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
    eta: UnitInterval = 0.0
    running_inventory_penalty: NonNegativeFloat = 0.0
    terminal_inventory_penalty_ticks: NonNegativeFloat = 0.0
    max_loss: PositiveFloat | None = None

    def __post_init__(self) -> None:
        validate_constraints(self)

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


class EnvConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The environment: a catalog window replayed through a Nautilus ``BacktestEngine``.

    Parameters
    ----------
    catalog_path : str
        A ``ParquetDataCatalog`` (``amm ingest`` builds one); a ``Path`` is accepted in Python.
    window_start, window_end : str, int or None
        Data window (ISO-8601 or UNIX ns, inclusive); None = the whole catalog span.
    agent : strategies.agent.AgentConfig
        Instrument, decision clock, order size, inventory limit, actions and features.
        ``agent.horizon_steps`` is the episode length in decisions.
    reward : RewardConfig
        What the agent is paid each step.
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

    catalog_path: str
    window_start: str | int | None = None
    window_end: str | int | None = None
    agent: AgentConfig = AgentConfig()
    reward: RewardConfig = RewardConfig()
    venue: VenueModelConfig = VenueModelConfig()
    random_start: bool = True
    seed_policy: SeedPolicy = "episode"
    book_checkpoint_s: PositiveFloat = 10.0
    recycle_engine_episodes: PositiveInt = 500
    trader_id: str = "RL-001"
    log_level: EngineLogLevel | None = None

    def __post_init__(self) -> None:
        if isinstance(self.catalog_path, Path):
            msgspec.structs.force_setattr(self, "catalog_path", str(self.catalog_path))
        validate_constraints(self)
        if self.venue.book_type != self.agent.book_type:
            raise FieldError("EnvConfig", "venue.book_type",
                             f"must equal agent.book_type {self.agent.book_type!r}, got {self.venue.book_type!r}")
        if self.venue.venue != self.agent.instrument_id.rsplit(".", 1)[-1]:
            raise FieldError("EnvConfig", "venue.venue",
                             f"must be the venue of {self.agent.instrument_id}, got {self.venue.venue!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "env") -> EnvConfig:
        """Decode plain data (a run config's ``env`` table); errors name ``where`` and the field."""
        from nautilus_trader.common.config import msgspec_decoding_hook

        return decode(data, cls, source=where, dec_hook=msgspec_decoding_hook)

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
        """A copy with some fields changed (``agent``/``reward``/``venue`` may be dicts of changes)."""
        if isinstance(changes.get("agent"), dict):
            changes["agent"] = self.agent.replace(**changes["agent"])
        if isinstance(changes.get("reward"), dict):
            changes["reward"] = msgspec.structs.replace(self.reward, **changes["reward"])
        if isinstance(changes.get("venue"), dict):
            changes["venue"] = self.venue.replace(**changes["venue"])
        return msgspec.structs.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/TOML-safe): what a run config's ``env`` table holds."""
        return msgspec.json.decode(msgspec.json.encode(self))
