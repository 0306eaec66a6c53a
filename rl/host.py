"""The in-engine side of the environment: the agent's market maker, with ``env.step()`` as its policy.

:class:`EnvHostStrategy` is :class:`strategies.policy.PolicyMarketMaker` (the runtime every market
maker shares, with the agent's observation and action mapping) whose action comes from the
Gymnasium environment instead of ``policy.predict``: at each decision it computes the reward of
the transition that just ended (:class:`rl.reward.RewardFunction` on the one ledger,
:class:`strategies.ledger.FillLedger`), hands ``(obs, reward, terminated, truncated, info)`` to
``step()`` through a :class:`GreenletChannel` and blocks until the action comes back. So a trained
policy sends, in a backtest or live, exactly the orders it sent in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rl.config import RewardConfig
from rl.reward import RewardFunction
from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig


class EpisodeAborted(BaseException):
    """Thrown into a paused engine to end an episode early (``reset``/``close``).

    A ``BaseException`` so that Nautilus' handler wrappers (which log ``Exception``) let it
    through silently and it unwinds ``BacktestEngine.run`` back to the environment.
    """


# -- env side -----------------------------------------------------------------------------------


@dataclass(slots=True)
class StepResult:
    """What the engine side hands to ``step()``."""

    obs: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


class EnvHostStrategy(PolicyMarketMaker):
    """Hosts the environment's side inside the engine: each decision blocks on ``step()``.

    Parameters
    ----------
    config : PolicyMarketMakerConfig
        The agent and the runtime settings (the env turns ``flatten_on_stop`` off: an episode
        ends without trading).
    reward : RewardConfig
        The reward of the episode.
    channel : GreenletChannel
        The handshake with the environment.
    first_decision_ns : int, optional
        Time of the episode's first decision.
    """

    LOADS_POLICY = False

    def __init__(
        self,
        config: PolicyMarketMakerConfig,
        *,
        reward: RewardConfig,
        channel: GreenletChannel,
        first_decision_ns: int | None = None,
    ) -> None:
        super().__init__(config, first_decision_ns=first_decision_ns)
        self._channel = channel
        self._reward = reward
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
            self._reward,
            value_per_tick=tick * self.agent.order_qty * mult,
            order_qty=self.agent.order_qty,
            max_inventory=self.agent.max_inventory,
        )

    def result(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> StepResult:
        """Reward and end flags for the transition that ends at this decision."""
        ledger = self.ledger
        k = self.step_index
        horizon = self.agent.horizon_steps
        mid = 0.5 * (top[0] + top[1]) if top is not None else self._last_mid
        total = ledger.equity(mid) if mid is not None else self._last_pnl
        info: dict[str, Any] = {
            "ts_ns": ts_ns,
            "step": k,
            "mid": mid,
            "position": ledger.position,
            "pnl": total,
            "fees": ledger.fees,
            "fills": ledger.fill_count,
        }
        if k == 0:
            self._last_pnl, self._last_mid, self._last_position = total, mid, ledger.position
            return StepResult(obs, 0.0, False, False, info)
        inv_pnl = 0.0
        if mid is not None and self._last_mid is not None:
            inv_pnl = ledger.inventory_pnl(self._last_position, self._last_mid, mid)
        terminated = self._reward_fn.ruined(total)
        truncated = not terminated and k >= horizon
        terms = self._reward_fn(
            pnl_change=total - self._last_pnl,
            inventory_pnl=inv_pnl,
            position=ledger.position,
            last=terminated or truncated,
        )
        info["reward_terms"] = terms
        self._last_pnl, self._last_mid, self._last_position = total, mid, ledger.position
        return StepResult(obs, terms.reward, terminated, truncated, info)

    def act(self, obs: np.ndarray, ts_ns: int, top: tuple[float, float] | None) -> Any:
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


def _run_to_done(run: Callable[[], None]) -> EngineDone:
    try:
        run()
    except EpisodeAborted:
        pass
    return EngineDone()


class GreenletChannel:
    """Hand-over between ``env.step()`` and the engine, which runs in a greenlet (~1 µs a switch).

    The engine side calls :meth:`to_env` with a :class:`StepResult` and gets the action back;
    the environment side calls :meth:`start` / :meth:`resume` and gets the next ``StepResult``
    (or :class:`EngineDone`). An exception raised in the engine is re-raised by
    :meth:`start`/:meth:`resume`; :meth:`abort` unwinds a paused engine with
    :class:`EpisodeAborted`.

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
