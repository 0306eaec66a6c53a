"""Look inside the environment and a training run: one episode as a table, a run's learning curve.

What ``notebooks/rl_models.ipynb`` plots comes from here, so no logic lives only in a notebook:

* :func:`run_episode` steps any policy (random, trained, hand-written) through one episode of
  :class:`rl.env.MarketMakingEnv` and returns every decision as a row: the labelled observation
  the policy saw (:func:`strategies.observation.observation_names`), the action it took (and what the
  action means in ticks, :class:`strategies.actions.ActionMapper`), the reward it earned and the
  agent's state (position, PnL, fees, fills).
* :func:`training_history` reads a run directory of :func:`rl.train.train`: the per-episode
  ``Monitor`` CSVs (``monitor/*.monitor.csv``) and the ``EvalCallback`` history on the
  validation window (``eval/evaluations.npz``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from strategies.policy import build_codecs

Policy = Callable[[np.ndarray], Any]
"""Maps an observation to an action of the env's action space."""

__all__ = ["Policy", "TrainingHistory", "run_episode", "training_history"]


def run_episode(
    env: gym.Env,
    policy: Policy,
    *,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    max_steps: int | None = None,
) -> pd.DataFrame:
    """Run ``policy`` for one episode of ``env`` (reset, then step until it ends).

    Parameters
    ----------
    env : gymnasium.Env
        A ``amm/MarketMaking-v0`` env (possibly wrapped).
    policy : callable
        ``policy(observation) -> action``, e.g. ``lambda obs: env.action_space.sample()`` or
        ``lambda obs: model.predict(obs, deterministic=True)[0]``.
    seed, options : optional
        Passed to ``env.reset`` (``options={"first_decision_ns": t}`` fixes the start).
    max_steps : int, optional
        Stop after this many decisions even if the episode has not ended.

    Returns
    -------
    pandas.DataFrame
        One row per decision, indexed by its UTC time: ``step``, ``mid``, ``position``, ``pnl``
        (quote currency, fees included, marked to mid), ``fees``, ``fills`` (cumulative) at the
        decision; ``obs.<name>`` for each observation component; ``action.<i>`` for each
        action component and ``action_text`` (:meth:`ActionMapper.describe`), plus
        ``half_spread_ticks`` / ``skew_ticks`` for a continuous action space; ``reward`` earned
        by that action (paid at the next decision), ``terminated`` / ``truncated`` after it.
    """
    base = env.unwrapped
    mapper, observer = build_codecs(base.config.agent, base.instrument)
    continuous = isinstance(mapper.space, gym.spaces.Box)
    obs, info = env.reset(seed=seed, options=dict(options) if options is not None else None)
    rows: list[dict[str, Any]] = []
    done = False
    while not done and (max_steps is None or len(rows) < max_steps):
        action = policy(obs)
        row: dict[str, Any] = {k: info.get(k) for k in ("ts_ns", "step", "mid", "position", "pnl", "fees", "fills")}
        row.update({f"obs.{name}": float(v) for name, v in zip(observer.names, obs, strict=True)})
        flat = np.atleast_1d(np.asarray(action, dtype=np.float64))
        row.update({f"action.{i}": float(v) for i, v in enumerate(flat)})
        row["action_text"] = mapper.describe(action if continuous else int(flat[0]))
        if continuous:
            row["half_spread_ticks"], row["skew_ticks"] = mapper.half_spread_skew_ticks(flat)
        obs, reward, terminated, truncated, info = env.step(action)
        row.update(reward=float(reward), terminated=bool(terminated), truncated=bool(truncated))
        rows.append(row)
        done = terminated or truncated
    frame = pd.DataFrame(rows)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts_ns"), unit="ns", utc=True), name="time")
    return frame


@dataclass(frozen=True)
class TrainingHistory:
    """A training run's learning curves.

    Attributes
    ----------
    episodes : pandas.DataFrame
        One row per finished training episode, in time order: ``reward`` (the episode's
        return), ``length`` (decisions), ``wall_s`` (seconds since the run's first Monitor file started) and
        ``timesteps`` (environment steps taken when it ended, summed over the run's envs).
    evaluations : pandas.DataFrame
        One row per ``EvalCallback`` evaluation on the validation window: ``timesteps``,
        ``mean_reward``, ``std_reward``, ``mean_length`` and ``episodes``.
    """

    episodes: pd.DataFrame
    evaluations: pd.DataFrame


def training_history(run_dir: str | Path) -> TrainingHistory:
    """Read the Monitor CSVs and ``eval/evaluations.npz`` of a :func:`rl.train.train` run.

    Monitor files of every env rank and resume segment are merged in wall-clock order with
    Stable-Baselines3's ``load_results``, which dates each row from its file's header.

    Raises
    ------
    FileNotFoundError
        If the run has no Monitor CSV.
    """
    from stable_baselines3.common.monitor import load_results

    run_dir = Path(run_dir)
    monitor_dir = run_dir / "monitor"
    if not any(monitor_dir.glob("*.monitor.csv")):
        raise FileNotFoundError(f"{monitor_dir}: no *.monitor.csv (is {run_dir} a training run directory?)")
    raw = load_results(str(monitor_dir)).sort_values("t", kind="stable")
    episodes = pd.DataFrame({
        "reward": raw["r"].to_numpy(dtype=np.float64),
        "length": raw["l"].to_numpy(dtype=np.int64),
        "wall_s": raw["t"].to_numpy(dtype=np.float64),  # load_results: since the first file's start
    })
    episodes["timesteps"] = episodes["length"].cumsum()
    evaluations = pd.DataFrame(columns=["timesteps", "mean_reward", "std_reward", "mean_length", "episodes"])
    npz = run_dir / "eval" / "evaluations.npz"
    if npz.exists():
        with np.load(npz) as data:
            results = np.atleast_2d(data["results"])
            lengths = np.atleast_2d(data["ep_lengths"])
            evaluations = pd.DataFrame({
                "timesteps": data["timesteps"].astype(np.int64),
                "mean_reward": results.mean(axis=1),
                "std_reward": results.std(axis=1),
                "mean_length": lengths.mean(axis=1),
                "episodes": np.full(len(results), results.shape[1], dtype=np.int64),
            })
    return TrainingHistory(episodes=episodes, evaluations=evaluations)
