"""Tabular Q-learning over a discretised observation, as a Stable-Baselines3 algorithm.

Watkins' Q-learning (Watkins & Dayan 1992, "Q-learning", Machine Learning 8) with an
epsilon-greedy behaviour policy. It is the simplest agent that can *provably* find the optimal
quotes of the Avellaneda–Stoikov model when the observation is (inventory, time): the optimal
policy there is a function of those two only (Cartea, Jaimungal & Penalva 2015, ch. 10), and a
table over a grid of them represents it exactly up to the grid. It is also the classical tabular
market-making agent (Spooner et al. 2018, "Market Making via Reinforcement Learning", AAMAS).

Why a ``BaseAlgorithm`` subclass rather than a hand-written class: the same machinery then works
unchanged for every agent of the project — ``model.predict(obs, deterministic=True)`` inside
``PolicyMarketMaker``, ``save``/``load`` zips, ``EvalCallback``/``CheckpointCallback``, the
TensorBoard logger, ``VecNormalize`` and ``SubprocVecEnv``. The table is a registered torch buffer of
the policy, so it is saved in the zip's ``policy.pth`` like any network weight.

Discretisation: each selected observation feature ``i`` is clipped to ``[low_i, high_i]`` and cut
into ``bins_i`` equal-width cells; the state index is the mixed-radix number of the cell indices.
Features not selected are ignored, which is how the table stays small.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import MaybeCallback, Schedule
from stable_baselines3.common.utils import LinearSchedule, safe_mean

SelfQLearning = TypeVar("SelfQLearning", bound="QLearning")

MAX_TABLE_ENTRIES = 20_000_000
"""Refuse tables larger than this (states x actions), about 80 MB of float32."""

DEFAULT_UNBOUNDED_RANGE = 5.0
"""Clip range used for an unbounded feature when no explicit bounds are given (normalised obs)."""


class QTablePolicy(BasePolicy):
    """Greedy policy over a Q-table indexed by a discretised observation.

    Parameters
    ----------
    observation_space : spaces.Box
        Flat observation space.
    action_space : spaces.Discrete
        The agent picks one of ``n`` actions.
    lr_schedule : Schedule
        Unused (kept for SB3's policy constructor convention).
    features : sequence of int, optional
        Indices of the observation features that form the state; all when None.
    bins : int or sequence of int
        Number of cells per selected feature.
    low, high : sequence of float, optional
        Clip range per selected feature; default the space bounds, or
        ``±DEFAULT_UNBOUNDED_RANGE`` where a bound is infinite.
    initial_q : float
        Initial value of every entry; optimistic values encourage exploration.
    """

    q_table: th.Tensor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule | None = None,
        features: Sequence[int] | None = None,
        bins: int | Sequence[int] = 11,
        low: Sequence[float] | None = None,
        high: Sequence[float] | None = None,
        initial_q: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"QLearning needs a flat Box observation space, got {observation_space}")
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"QLearning needs a Discrete action space (a quote grid), got {action_space}; "
                "use the env's discrete action mode",
            )
        super().__init__(observation_space, action_space, **kwargs)
        n_obs = observation_space.shape[0]
        self.features = list(range(n_obs)) if features is None else [int(f) for f in features]
        for f in self.features:
            if not 0 <= f < n_obs:
                raise ValueError(f"QLearning features: index {f} outside observation of size {n_obs}")
        n = len(self.features)
        self.bins = [int(bins)] * n if isinstance(bins, (int, np.integer)) else [int(b) for b in bins]
        if len(self.bins) != n or any(b < 1 for b in self.bins):
            raise ValueError(f"QLearning bins: need {n} positive counts, got {bins!r}")
        space_low = observation_space.low[self.features].astype(np.float64)
        space_high = observation_space.high[self.features].astype(np.float64)
        lo = np.where(np.isfinite(space_low), space_low, -DEFAULT_UNBOUNDED_RANGE)
        hi = np.where(np.isfinite(space_high), space_high, DEFAULT_UNBOUNDED_RANGE)
        self.low = [float(x) for x in (lo if low is None else low)]
        self.high = [float(x) for x in (hi if high is None else high)]
        if len(self.low) != n or len(self.high) != n:
            raise ValueError(f"QLearning low/high: need {n} values each")
        if any(h <= l for l, h in zip(self.low, self.high, strict=True)):
            raise ValueError(f"QLearning low/high: every high must exceed its low ({self.low}, {self.high})")
        self.initial_q = float(initial_q)
        n_states = int(np.prod(self.bins))
        n_actions = int(action_space.n)
        if n_states * n_actions > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"QLearning table of {n_states:,} states x {n_actions} actions is too large; "
                "select fewer features or fewer bins",
            )
        self.n_states = n_states
        self.register_buffer("q_table", th.full((n_states, n_actions), self.initial_q, dtype=th.float32))
        self.register_buffer("visits", th.zeros((n_states, n_actions), dtype=th.int64))
        # Mixed-radix place values (first feature most significant) and cell widths, as numpy for
        # the training hot path and as tensors for predict.
        radix = np.ones(n, dtype=np.int64)
        for i in range(n - 2, -1, -1):
            radix[i] = radix[i + 1] * self.bins[i + 1]
        self._radix = radix
        self._low_np = np.asarray(self.low)
        self._width_np = (np.asarray(self.high) - self._low_np) / np.asarray(self.bins)
        self._bins_np = np.asarray(self.bins)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features=self.features,
            bins=self.bins,
            low=self.low,
            high=self.high,
            initial_q=self.initial_q,
        )
        return data

    def state_index(self, obs: np.ndarray) -> np.ndarray:
        """Map a batch of observations ``(n, obs_dim)`` to table rows ``(n,)``."""
        x = np.asarray(obs, dtype=np.float64).reshape(-1, self.observation_space.shape[0])
        x = x[:, self.features]
        cells = np.floor((x - self._low_np) / self._width_np).astype(np.int64)
        cells = np.clip(cells, 0, self._bins_np - 1)
        return cells @ self._radix

    def forward(self, obs: th.Tensor, deterministic: bool = True) -> th.Tensor:
        return self._predict(obs, deterministic)

    def _predict(self, observation: th.Tensor, deterministic: bool = True) -> th.Tensor:
        # Greedy even when deterministic=False: exploration belongs to training, not evaluation.
        states = self.state_index(observation.detach().cpu().numpy())
        q = self.q_table[th.as_tensor(states, device=self.q_table.device)]
        return th.argmax(q, dim=1)


class QLearning(BaseAlgorithm):
    """Tabular Q-learning with epsilon-greedy exploration (Watkins & Dayan 1992).

    Update, for a transition ``(s, a, r, s')``:
    ``Q[s,a] += alpha * (r + gamma * (1 - terminated) * max_b Q[s',b] - Q[s,a])``.
    A time-limit truncation bootstraps from the true last observation (SB3 puts it in
    ``info["terminal_observation"]``), a real termination does not.

    Parameters
    ----------
    policy : str or type
        ``"QTablePolicy"`` (the only policy).
    env : VecEnv or gymnasium.Env or str
        Environment with a flat ``Box`` observation and ``Discrete`` action space.
    learning_rate : float or Schedule
        Step size ``alpha`` (a schedule takes the remaining progress 1 -> 0).
    gamma : float
        Discount factor per step.
    exploration_fraction : float
        Share of the training budget over which epsilon decays linearly.
    exploration_initial_eps, exploration_final_eps : float
        Epsilon at the start and after the decay.
    log_interval_steps : int
        Log rollout statistics every this many environment steps.
    policy_kwargs : dict, optional
        ``features``, ``bins``, ``low``, ``high``, ``initial_q`` of :class:`QTablePolicy`.
    tensorboard_log, verbose, seed, device
        As in every SB3 algorithm.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"QTablePolicy": QTablePolicy}
    policy: QTablePolicy

    def __init__(
        self,
        policy: str | type[QTablePolicy] = "QTablePolicy",
        env: Any = None,
        learning_rate: float | Schedule = 0.1,
        gamma: float = 0.99,
        exploration_fraction: float = 0.5,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        log_interval_steps: int = 1000,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(
            policy=policy,
            env=env,
            learning_rate=learning_rate,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            supported_action_spaces=(spaces.Discrete,),
        )
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"QLearning gamma must be in [0, 1], got {gamma}")
        self.gamma = gamma
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_rate = exploration_initial_eps
        self.log_interval_steps = log_interval_steps
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            **self.policy_kwargs,
        ).to(self.device)
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps,
            self.exploration_final_eps,
            self.exploration_fraction,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rng"]

    def _choose(self, states: np.ndarray) -> np.ndarray:
        q = self.policy.q_table.cpu().numpy()[states]
        # Break ties at random so an untrained table does not always pick action 0.
        noise = self._rng.random(q.shape) * 1e-9
        greedy = np.argmax(q + noise, axis=1)
        explore = self._rng.random(len(states)) < self.exploration_rate
        random_actions = self._rng.integers(0, self.action_space.n, size=len(states))
        return np.where(explore, random_actions, greedy)

    def learn(
        self: SelfQLearning,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "QLearning",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfQLearning:
        """Train for ``total_timesteps`` environment steps (summed over the vectorised envs)."""
        total_timesteps, callback = self._setup_learn(
            total_timesteps,
            callback,
            reset_num_timesteps,
            tb_log_name,
            progress_bar,
        )
        if not hasattr(self, "_rng"):
            self._rng = np.random.default_rng(self.seed)
        assert self.env is not None
        callback.on_training_start(locals(), globals())
        callback.on_rollout_start()
        table = self.policy.q_table  # updated in place through its numpy view (CPU)
        q = table.cpu().numpy() if table.device.type != "cpu" else table.numpy()
        visits = self.policy.visits.numpy()
        last_log = self.num_timesteps
        td_errors: list[float] = []
        while self.num_timesteps < total_timesteps:
            self._current_progress_remaining = 1.0 - float(self.num_timesteps) / float(total_timesteps)
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
            alpha = float(self.lr_schedule(self._current_progress_remaining))
            obs = self._last_obs
            states = self.policy.state_index(obs)
            actions = self._choose(states)
            new_obs, rewards, dones, infos = self.env.step(actions)
            self.num_timesteps += self.env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                break
            next_obs = np.array(new_obs, copy=True)
            terminated = np.zeros(self.env.num_envs, dtype=bool)
            for i, done in enumerate(dones):
                if done:
                    self._episode_num += 1
                    truncated = bool(infos[i].get("TimeLimit.truncated", False))
                    terminated[i] = not truncated
                    if truncated and infos[i].get("terminal_observation") is not None:
                        terminal = infos[i]["terminal_observation"]
                        if self._vec_normalize_env is not None:
                            terminal = self._vec_normalize_env.normalize_obs(terminal)
                        next_obs[i] = terminal
            next_states = self.policy.state_index(next_obs)
            target = rewards + self.gamma * (~terminated) * q[next_states].max(axis=1)
            for i in range(len(states)):  # sequential: two envs may hit the same entry
                s, a = states[i], actions[i]
                delta = target[i] - q[s, a]
                q[s, a] += alpha * delta
                visits[s, a] += 1
                td_errors.append(abs(float(delta)))
            self._update_info_buffer(infos, dones)
            self._last_obs = new_obs
            self._last_episode_starts = dones
            if self.num_timesteps - last_log >= self.log_interval_steps:
                self._log(td_errors)
                td_errors = []
                last_log = self.num_timesteps
        if table.device.type != "cpu":
            table.copy_(th.as_tensor(q))
        callback.on_rollout_end()
        callback.on_training_end()
        return self

    def _log(self, td_errors: list[float]) -> None:
        assert self.ep_info_buffer is not None
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / elapsed)
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([e["r"] for e in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([e["l"] for e in self.ep_info_buffer]))
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("train/td_error_abs_mean", safe_mean(td_errors) if td_errors else 0.0)
        visited = int((self.policy.visits.numpy().sum(axis=1) > 0).sum())
        self.logger.record("train/states_visited", visited)
        self.logger.record("time/fps", fps)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)
