"""``PolicyMarketMaker``: a trained policy as a market maker of the one runtime (backtest and live).

The quoting rule of :class:`strategies.base.MarketMakerStrategy` is here ``observe ->
policy.predict -> action mapping``: the observation (:mod:`strategies.observation`) and the action
mapping (:mod:`strategies.actions`) are the code the agent was trained with, since the training
environment's host strategy (``rl.host.EnvHostStrategy``) is this class with ``env.step()`` in
place of ``policy.predict``. Given the same window, venue and fill seed, a backtest of this strategy
sends the same orders and gets the same fills as the training environment
(``tests/rl/test_parity.py``). Everything else is the runtime every baseline has: the kill switch
on the one ledger, ``client_id`` routing, the safety net for untracked orders, the flatten on
stop, trading sessions.

The policy is named by an importable loader and a model path, so the config is plain data and
runs through ``ImportableStrategyConfig`` in ``amm backtest`` and in a ``TradingNode``::

    PolicyMarketMakerConfig(
        agent=AgentConfig(...),              # the agent settings saved with the model
        model_path="runs/<run>/model.zip",   # loaded by policy_loader (default: verified)
        max_loss=50.0,                       # every risk control of the baselines
    )

The fields the agent settings already fix (instrument, book type, size, inventory limit, decision
clock, refresh threshold) are taken from ``agent`` when left out, and refused when given with
another value: the policy must run as it was trained.

Security: SB3 models and ``VecNormalize`` statistics are pickles: loading one runs its code. The
default loader checks both files' sha256 against the run's manifest before unpickling and refuses
a mismatch; ``strategies.policy:load_sb3_policy`` loads a bare SB3 zip with no such check (for
models trained elsewhere, that you trust).
"""

from __future__ import annotations

import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
from nautilus_trader.config import NonNegativeInt, PositiveInt
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument

from catalog.config_io import FieldError
from catalog.features import IncrementalFeatures
from catalog.importables import ImportRefused, check_importable
from strategies.actions import ActionMapper
from strategies.agent import AgentConfig
from strategies.base import BookTypeName, MarketMakerConfig, MarketMakerStrategy
from strategies.observation import ObservationBuilder
from strategies.quoting import Quotes, cached_top


class Policy(Protocol):
    """Anything with Stable-Baselines3's ``predict`` (models, policies, test doubles)."""

    def predict(self, observation: np.ndarray, deterministic: bool = ...) -> tuple[Any, Any]: ...


def build_codecs(agent: AgentConfig, instrument: Instrument) -> tuple[ActionMapper, ObservationBuilder]:
    """The action mapper and observation builder for ``agent`` on ``instrument``.

    The env takes its spaces from these and the strategy decides with them: one constructor, so
    the spaces a policy was trained on and the code that runs it cannot drift.

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
        episode_clock=agent.episode_clock,
        pnl_scale_ticks=agent.pnl_scale_ticks,
        obs_clip=agent.obs_clip,
        observation=agent.observation,
    )
    return mapper, observer


class PolicyMarketMakerConfig(MarketMakerConfig, frozen=True, kw_only=True):
    """Configuration of :class:`PolicyMarketMaker`: the agent, its model, and the shared runtime.

    Parameters
    ----------
    agent : AgentConfig
        The agent settings the policy was trained with (a training run's manifest records them).
    policy_loader : str, default "strategies.model_store:load_verified_policy"
        ``module:function`` called as ``loader(model_path, **policy_kwargs)``; returns an object
        with ``predict(obs, deterministic=True)``. The default verifies the model against its
        manifest (sha256) before loading it. Only the registered loaders
        (``strategies.model_store:load_verified_policy``, ``strategies.policy:load_sb3_policy``)
        or a function of a module listed in ``AMM_ALLOW_IMPORTS`` (:mod:`catalog.importables`):
        a config naming anything else is refused when it is built, before any import.
    model_path : str, optional
        Passed to the loader (e.g. an SB3 ``model.zip``).
    policy_kwargs : dict, optional
        Extra keyword arguments for the loader.
    deterministic : bool, default True
        Passed to ``predict``.
    max_decisions : PositiveInt, optional
        Stop deciding after this many decisions (an evaluation episode); None = run on.

    ``instrument_id``, ``book_type``, ``order_qty``, ``max_inventory``, ``quote_interval_ms``,
    ``decision_events`` and ``refresh_threshold_ticks`` default to the agent's values and must
    equal them when given. ``inventory_skew_ticks_per_unit`` is the agent's
    ``action.inventory_skew_ticks_per_lot``: a different skew on top of a learned policy would
    change the actions it was trained to take, so any other non-zero value is refused. The market-feature fields
    of :class:`~strategies.base.MarketMakerConfig` are replaced by ``agent.features``. Every other
    field (``max_loss``, ``max_drawdown``, ``flatten_on_stop``, ``client_id``, sessions) works as
    for the baselines.
    """

    agent: AgentConfig
    instrument_id: InstrumentId | None = None
    book_type: BookTypeName | None = None
    order_qty: Decimal | None = None
    max_inventory: Decimal | None = None
    quote_interval_ms: NonNegativeInt | None = None
    decision_events: PositiveInt | None = None
    refresh_threshold_ticks: NonNegativeInt | None = None
    policy_loader: str = "strategies.model_store:load_verified_policy"
    model_path: str | None = None
    policy_kwargs: dict[str, Any] | None = None
    deterministic: bool = True
    max_decisions: PositiveInt | None = None

    def __post_init__(self) -> None:
        agent = self.agent
        fixed = {
            "instrument_id": InstrumentId.from_str(agent.instrument_id),
            "book_type": agent.book_type,
            "order_qty": Decimal(str(agent.order_qty)),
            "max_inventory": Decimal(str(agent.max_inventory)),
            "quote_interval_ms": agent.decision_interval_ms if agent.decision_events is None else 0,
            "decision_events": agent.decision_events or 1,
            "refresh_threshold_ticks": agent.refresh_threshold_ticks,
        }
        for name, value in fixed.items():
            given = getattr(self, name)
            if given is None:
                msgspec.structs.force_setattr(self, name, value)
            elif (Decimal(str(given)) != value) if isinstance(value, Decimal) else (given != value):
                raise ValueError(
                    f"PolicyMarketMakerConfig.{name}: {given!r} differs from the agent's {value!r} "
                    "(the policy must run as it was trained; leave the field out)",
                )
        trained_skew = float(agent.action.inventory_skew_ticks_per_lot)
        if self.inventory_skew_ticks_per_unit not in (0.0, trained_skew):
            raise ValueError(
                "PolicyMarketMakerConfig.inventory_skew_ticks_per_unit: "
                f"{self.inventory_skew_ticks_per_unit!r} differs from the agent's "
                f"action.inventory_skew_ticks_per_lot {trained_skew!r} (a different skew on top "
                "changes the actions the policy was trained to take; leave the field out)",
            )
        msgspec.structs.force_setattr(self, "inventory_skew_ticks_per_unit", trained_skew)
        if not self.subscribe_trades:
            raise ValueError("PolicyMarketMakerConfig.subscribe_trades: the agent's features need trades")
        if ":" not in self.policy_loader:
            raise FieldError(
                "PolicyMarketMakerConfig", "policy_loader",
                f"expected 'module:function', got {self.policy_loader!r}",
            )
        try:  # a loader is imported and called with model_path: only registered code
            check_importable(self.policy_loader, "policy_loader")
        except ImportRefused as e:
            raise FieldError("PolicyMarketMakerConfig", "policy_loader", str(e)) from None
        super().__post_init__()


class PolicyMarketMaker(MarketMakerStrategy):
    """Quote with a trained policy: observation -> ``policy.predict`` -> action -> quotes.

    Parameters
    ----------
    config : PolicyMarketMakerConfig
    policy : Policy, optional
        Use this object instead of calling the configured loader (tests, benchmarks, a policy
        already in memory).
    first_decision_ns : int, optional
        Time of the first decision; default: the start time + ``agent.warmup_ms``.
    """

    QUOTES_WITH_BOOK = True
    LOADS_POLICY = True

    def __init__(
        self,
        config: PolicyMarketMakerConfig,
        policy: Policy | None = None,
        *,
        first_decision_ns: int | None = None,
    ) -> None:
        super().__init__(config)
        self.agent: AgentConfig = config.agent
        self.actions: ActionMapper | None = None
        self.observer: ObservationBuilder | None = None
        self.step_index = 0
        self._policy: Policy | None = policy
        self._first = first_decision_ns
        self._l2 = config.agent.book_type != "L1_MBP"

    # -- runtime hooks -------------------------------------------------------------------------

    def on_start(self) -> None:
        if self._policy is None and self.LOADS_POLICY:
            cfg: PolicyMarketMakerConfig = self.config
            try:
                self._policy = load_policy(cfg.policy_loader, cfg.model_path, **(cfg.policy_kwargs or {}))
            except Exception as e:  # noqa: BLE001 - reported, then the strategy stops
                self.log.error(f"Cannot load policy: {e}")
                self.stop()
                return
        self.step_index = 0
        super().on_start()

    def make_features(self, instrument: Instrument) -> IncrementalFeatures:
        self.actions, self.observer = build_codecs(self.agent, instrument)
        return self.observer.features

    def first_decision_ns(self, now_ns: int) -> int:
        first = self._first
        if first is None or first < now_ns:
            first = now_ns + self.agent.warmup_ns
        return first

    def release_state(self) -> None:
        super().release_state()
        self.actions = self.observer = None

    # -- the quoting rule ----------------------------------------------------------------------

    def decide(self, ts_ns: int) -> Quotes | None:
        max_decisions = self.config.max_decisions
        if max_decisions is not None and self.step_index >= max_decisions:
            return None
        top = self.top_of_book()
        obs = self.observe(ts_ns, top)
        action = self.act(obs, ts_ns, top)
        self.step_index += 1
        if action is None:
            return None
        if top is None:
            return Quotes.none()  # the market is unknown: pull both sides
        self.best_bid, self.best_ask = top
        return self.actions.quotes(action, top[0], top[1])

    def act(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> Any:
        """The action for ``obs`` (None = leave the quotes as they are)."""
        action, _ = self._policy.predict(obs, deterministic=self.config.deterministic)
        return action

    def top_of_book(self) -> tuple[float, float] | None:
        """Best bid and ask the agent acts on: the L2 book of the cache, or the L1 quote."""
        return cached_top(self.cache, self.config.instrument_id, book=self._l2, quote=not self._l2)

    def observe(self, ts_ns: int, top: tuple[float, float] | None) -> np.ndarray:
        """The observation now (the env hands the same vector to the agent in training)."""
        ledger = self.ledger
        bid = self.quote_manager.bid
        ask = self.quote_manager.ask
        return self.observer.build(
            ts_ns,
            position=ledger.position,
            unrealised_pnl=ledger.unrealised(0.5 * (top[0] + top[1])) if top is not None else 0.0,
            step=self.step_index,
            bid_price=None if bid is None else bid.price.as_double(),
            ask_price=None if ask is None else ask.price.as_double(),
            bid_raw=None if bid is None else bid.price.raw,
            ask_raw=None if ask is None else ask.price.raw,
        )


# -- loaders -----------------------------------------------------------------------------------------


def load_policy(loader_path: str, model_path: str | None, **kwargs: Any) -> Policy:
    """Import ``module:function`` and call it with ``model_path`` and ``kwargs``.

    ``loader_path`` must be a registered policy loader or under ``AMM_ALLOW_IMPORTS``
    (:mod:`catalog.importables`), checked before the import.
    """
    try:
        check_importable(loader_path, "policy_loader")
    except ImportRefused as e:
        raise ValueError(f"policy_loader: {e}") from None
    module_name, _, attr = loader_path.partition(":")
    try:
        loader = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"policy_loader: cannot import {loader_path!r}: {e}") from e
    policy = loader(model_path, **kwargs)
    if not callable(getattr(policy, "predict", None)):
        raise TypeError(f"policy_loader {loader_path!r} returned {type(policy).__name__}, "
                        f"which has no predict(obs, deterministic=...)")
    return policy


class NormalizedPolicy:
    """Apply saved ``VecNormalize`` observation statistics before the model (``training=False``)."""

    def __init__(self, model: Any, vec_normalize: Any) -> None:
        self.model = model
        self.vec_normalize = vec_normalize

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]:
        """SB3's ``predict`` signature, so SB3's ``evaluate_policy`` can drive it too."""
        obs = self.vec_normalize.normalize_obs(observation)
        if state is None and episode_start is None:
            return self.model.predict(obs, deterministic=deterministic)
        return self.model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)


class RecurrentPolicy:
    """A recurrent model (SB3-contrib's ``RecurrentPPO``) that carries its LSTM state itself.

    The strategy asks ``predict(obs, deterministic)`` once a decision, as of any policy; a
    recurrent model also needs the hidden state its last call returned and whether this is the
    first decision of an episode (SB3's ``evaluate_policy`` threads both through its loop). This
    keeps them between calls, so the model runs unchanged in a backtest or a ``TradingNode``:
    every strategy instance loads its own wrapper, whose first decision starts the episode from a
    zero state, exactly as training's first step after a reset. Given ``state`` or
    ``episode_start`` explicitly, it passes them through and keeps nothing (``evaluate_policy``).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.reset()

    def reset(self) -> None:
        """Forget the hidden state: the next decision starts an episode."""
        self._state: Any = None
        self._episode_start = np.ones((1,), dtype=bool)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]:
        if state is not None or episode_start is not None:
            return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)
        action, self._state = self.model.predict(observation, state=self._state, episode_start=self._episode_start,
                                                 deterministic=deterministic)
        self._episode_start = np.zeros((1,), dtype=bool)
        return action, self._state


def load_sb3_policy(
    model_path: str | None,
    *,
    algorithm: str = "PPO",
    vec_normalize_path: str | None = None,
    device: str = "cpu",
) -> Policy:
    """Load a Stable-Baselines3 model; apply ``vecnormalize.pkl`` beside it when present.

    Parameters
    ----------
    model_path : str
        The ``.zip`` saved by ``model.save``.
    algorithm : str
        SB3 class name (``PPO``, ``A2C``, ``DQN``, ``SAC``, ...).
    vec_normalize_path : str, optional
        ``VecNormalize.save`` file; default ``<model dir>/vecnormalize.pkl`` if it exists.
    """
    if not model_path:
        raise ValueError("load_sb3_policy: model_path is required")
    path = Path(model_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    import stable_baselines3

    cls = getattr(stable_baselines3, algorithm, None)
    if cls is None:
        raise ValueError(f"load_sb3_policy: unknown SB3 algorithm {algorithm!r}")
    model = cls.load(str(path), device=device)
    stats = Path(vec_normalize_path) if vec_normalize_path else path.with_name("vecnormalize.pkl")
    if vec_normalize_path and not stats.exists():
        raise FileNotFoundError(f"{stats}: VecNormalize statistics not found")
    if stats.exists():
        import pickle

        with open(stats, "rb") as f:
            vec_normalize = pickle.load(f)  # noqa: S301 - trusted model directory (see module doc)
        vec_normalize.training = False
        return NormalizedPolicy(model, vec_normalize)
    return model
