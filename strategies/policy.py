"""``PolicyMarketMaker``: a trained policy as a regular Nautilus strategy (backtest and live).

The strategy is the environment's decision loop with the policy in place of ``env.step()``: it
derives from :class:`rl.host.DecisionStrategy`, so it builds the observation
(:mod:`rl.observation`), maps the action (:mod:`rl.actions`) and works the quotes
(:class:`strategies.quoting.QuoteManager`) with the very code the agent was trained with. Given the
same window, venue and fill seed, a backtest of this strategy sends the same orders and gets the
same fills as the training environment (``tests/rl/test_parity.py``).

The policy is named by an importable loader and a model path, so the config is plain data and
runs through ``ImportableStrategyConfig`` in ``amm backtest`` and in a ``TradingNode``::

    PolicyMarketMakerConfig(
        agent=AgentConfig(...).to_dict(),          # the env's agent config, saved with the model
        policy_loader="rl.evaluate:load_verified_policy",   # the default
        model_path="runs/<run>/model.zip",
    )

Security: SB3 models and ``VecNormalize`` statistics are pickles: loading one runs its code. The
default loader checks both files' sha256 against the run's manifest before unpickling and refuses
a mismatch; ``strategies.policy:load_sb3_policy`` loads a bare SB3 zip with no such check (for
models trained elsewhere, that you trust).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from nautilus_trader.config import PositiveInt, StrategyConfig
from nautilus_trader.model.enums import OrderSide, TimeInForce

from rl.config import AgentConfig
from rl.host import DecisionStrategy


class Policy(Protocol):
    """Anything with Stable-Baselines3's ``predict`` (models, policies, test doubles)."""

    def predict(self, observation: np.ndarray, deterministic: bool = ...) -> tuple[Any, Any]: ...


class PolicyMarketMakerConfig(StrategyConfig, frozen=True):
    """Configuration of :class:`PolicyMarketMaker`.

    Parameters
    ----------
    agent : dict
        ``rl.config.AgentConfig.to_dict()`` of the environment the policy was trained in
        (instrument, decision clock, order size, inventory limit, action and feature settings).
    policy_loader : str, default "rl.evaluate:load_verified_policy"
        ``module:function`` called as ``loader(model_path, **policy_kwargs)``; returns an object
        with ``predict(obs, deterministic=True)``. The default verifies the model against its
        manifest (sha256) before loading it.
    model_path : str, optional
        Passed to the loader (e.g. an SB3 ``model.zip``).
    policy_kwargs : dict, optional
        Extra keyword arguments for the loader.
    deterministic : bool, default True
        Passed to ``predict``.
    max_decisions : PositiveInt, optional
        Stop deciding after this many decisions (an evaluation episode); None = run on.
    flatten_on_stop : bool, default True
        Close the position with a market order when the strategy stops (live hygiene); turn off
        to compare with the environment, which ends an episode without trading.
    """

    agent: dict
    policy_loader: str = "rl.evaluate:load_verified_policy"
    model_path: str | None = None
    policy_kwargs: dict | None = None
    deterministic: bool = True
    max_decisions: PositiveInt | None = None
    flatten_on_stop: bool = True

    def __post_init__(self) -> None:
        AgentConfig.from_dict(self.agent, where="PolicyMarketMakerConfig.agent")
        if ":" not in self.policy_loader:
            raise ValueError(
                f"PolicyMarketMakerConfig.policy_loader: expected 'module:function', "
                f"got {self.policy_loader!r}",
            )


class PolicyMarketMaker(DecisionStrategy):
    """Quote with a trained policy: observation -> ``policy.predict`` -> quotes.

    Parameters
    ----------
    config : PolicyMarketMakerConfig
    policy : Policy, optional
        Use this object instead of calling the configured loader (tests, benchmarks, a policy
        already in memory).
    """

    def __init__(self, config: PolicyMarketMakerConfig, policy: Policy | None = None) -> None:
        super().__init__(
            config,
            AgentConfig.from_dict(config.agent, where="PolicyMarketMakerConfig.agent"),
            max_decisions=config.max_decisions,
        )
        self._policy: Policy | None = policy
        self._deterministic = config.deterministic

    def on_start(self) -> None:
        if self._policy is None:
            try:
                self._policy = load_policy(
                    self.config.policy_loader,
                    self.config.model_path,
                    **(self.config.policy_kwargs or {}),
                )
            except Exception as e:  # noqa: BLE001 - reported, then the strategy stops
                self.log.error(f"Cannot load policy: {e}")
                self.stop()
                return
        super().on_start()

    def decide(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> Any:
        action, _ = self._policy.predict(obs, deterministic=self._deterministic)
        return action

    def on_stop(self) -> None:
        super().on_stop()
        if self.config.flatten_on_stop and self.pnl is not None and self.instrument is not None:
            position = self.pnl.position
            if abs(position) > 0:
                order = self.order_factory.market(
                    self.instrument.id,
                    OrderSide.SELL if position > 0 else OrderSide.BUY,
                    self.instrument.make_qty(abs(position)),
                    time_in_force=TimeInForce.IOC,
                    reduce_only=True,
                )
                self.submit_order(order)


# -- loaders -----------------------------------------------------------------------------------------


def load_policy(loader_path: str, model_path: str | None, **kwargs: Any) -> Policy:
    """Import ``module:function`` and call it with ``model_path`` and ``kwargs``."""
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
        return self.model.predict(obs, deterministic=deterministic)


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
