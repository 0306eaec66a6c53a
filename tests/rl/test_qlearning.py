"""Tabular Q-learning: learns a known optimum, keeps SB3's save/load/predict/callback surface."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import Env, spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env

from rl.agents import algorithm_class
from rl.agents.qlearning import QLearning, QTablePolicy


class Chain(Env):
    """Walk on 0..n-1; reaching n-1 pays 1 and ends; each step costs 0.01. Optimum: always right."""

    def __init__(self, n: int = 6) -> None:
        self.n = n
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._pos = 0

    def _obs(self) -> np.ndarray:
        # Second feature is noise the agent must learn to ignore (it is not selected).
        return np.array([self._pos / (self.n - 1), self.np_random.random()], dtype=np.float32)

    def reset(self, *, seed=None, options=None):  # noqa: ANN001
        super().reset(seed=seed)
        self._pos = 0
        return self._obs(), {}

    def step(self, action):  # noqa: ANN001
        self._pos = int(np.clip(self._pos + (1 if int(action) == 1 else -1), 0, self.n - 1))
        done = self._pos == self.n - 1
        return self._obs(), (1.0 if done else -0.01), done, False, {}


def make_chain() -> Env:
    return TimeLimit(Chain(), max_episode_steps=30)


def _model(seed: int = 0, n_envs: int = 1, **kw) -> QLearning:
    env = make_vec_env(make_chain, n_envs=n_envs, seed=seed)
    return QLearning(
        "QTablePolicy",
        env,
        learning_rate=0.5,
        gamma=0.95,
        exploration_fraction=0.5,
        policy_kwargs={"features": [0], "bins": 6, "low": [-0.1], "high": [1.1]},
        seed=seed,
        **kw,
    )


def test_learns_the_optimal_policy_of_a_chain() -> None:
    model = _model().learn(3000)
    for pos in range(5):
        action, _ = model.predict(np.array([pos / 5, 0.3], dtype=np.float32), deterministic=True)
        assert int(action) == 1, f"position {pos}: expected 'right'"
    # Q(s, right) approaches the discounted value of the remaining path.
    q = model.policy.q_table.numpy()
    s4 = int(model.policy.state_index(np.array([[0.8, 0.0]]))[0])
    assert q[s4, 1] == pytest.approx(1.0, abs=0.05)


def test_multiple_envs_and_same_seed_same_table() -> None:
    a = _model(seed=3, n_envs=2).learn(800)
    b = _model(seed=3, n_envs=2).learn(800)
    np.testing.assert_array_equal(a.policy.q_table.numpy(), b.policy.q_table.numpy())
    c = _model(seed=4, n_envs=2).learn(800)
    assert not np.array_equal(a.policy.q_table.numpy(), c.policy.q_table.numpy())


def test_save_load_round_trip_and_registry(tmp_path) -> None:
    model = _model().learn(1500)
    path = tmp_path / "q.zip"
    model.save(path)
    loaded = algorithm_class("qlearning").load(path)
    assert isinstance(loaded.policy, QTablePolicy)
    np.testing.assert_array_equal(loaded.policy.q_table.numpy(), model.policy.q_table.numpy())
    obs = np.random.default_rng(0).random((20, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    assert loaded.policy.bins == [6] and loaded.policy.features == [0]


def test_sb3_callbacks_work(tmp_path) -> None:
    model = _model()
    eval_env = make_vec_env(make_chain, n_envs=1, seed=99)
    evaluator = EvalCallback(
        eval_env, eval_freq=500, n_eval_episodes=2, best_model_save_path=str(tmp_path / "best"),
        log_path=str(tmp_path / "eval"), verbose=0,
    )
    ckpt = CheckpointCallback(save_freq=400, save_path=str(tmp_path / "ckpt"), name_prefix="q")
    model.learn(1200, callback=[evaluator, ckpt])
    assert (tmp_path / "best" / "best_model.zip").exists()
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["q_1200_steps.zip", "q_400_steps.zip", "q_800_steps.zip"]
    assert len(evaluator.evaluations_results) == 2
    assert evaluator.last_mean_reward > 0.9  # the greedy policy reaches the goal


def test_bad_spaces_and_sizes_are_refused() -> None:
    box = spaces.Box(-1, 1, shape=(3,), dtype=np.float32)
    with pytest.raises(ValueError, match="Discrete action space"):
        QTablePolicy(box, spaces.Box(-1, 1, shape=(2,)))
    with pytest.raises(ValueError, match="too large"):
        QTablePolicy(box, spaces.Discrete(10), bins=[1000, 1000, 1000])
    with pytest.raises(ValueError, match="index 5"):
        QTablePolicy(box, spaces.Discrete(2), features=[5])
