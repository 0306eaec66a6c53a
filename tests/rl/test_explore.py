"""Tests of ``rl.explore`` (what ``notebooks/rl_models.ipynb`` plots): one episode as a table on
the real USD-M capture (``binance_ws/usdm/btcusdt_20240808.gz``, the session ``usdm_catalog``),
checked against stepping the env by hand, and a run's learning curve read from hand-written
Monitor and evaluation files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backtests.venue import VenueModelConfig
from rl.config import EnvConfig
from rl.env import MarketMakingEnv
from rl.explore import run_episode, training_history
from strategies.agent import ActionConfig, AgentConfig
from strategies.observation import OBS_NAMES

WINDOW = ("2024-08-08T23:55:00Z", "2024-08-08T23:56:00Z")
HORIZON = 20


@pytest.fixture(scope="module")
def env(usdm_catalog):
    config = EnvConfig(
        catalog_path=usdm_catalog, window_start=WINDOW[0], window_end=WINDOW[1], random_start=False,
        agent=AgentConfig(horizon_steps=HORIZON, warmup_ms=2_000, action=ActionConfig(kind="continuous")),
        venue=VenueModelConfig(book_type="L1_MBP"),
    )
    env = MarketMakingEnv(config)
    yield env
    env.close()


def test_run_episode_rows_match_stepping_by_hand(env) -> None:
    actions = [np.array([np.sin(i), np.cos(i)], dtype=np.float32) for i in range(HORIZON)]
    it = iter(actions)
    frame = run_episode(env, lambda obs: next(it), seed=3)
    assert len(frame) == HORIZON
    assert frame["step"].tolist() == list(range(HORIZON))
    assert frame["truncated"].tolist() == [False] * (HORIZON - 1) + [True]
    assert not frame["terminated"].any()
    assert [c for c in frame.columns if c.startswith("obs.")] == [f"obs.{n}" for n in OBS_NAMES]
    # the same episode stepped by hand
    obs, info = env.reset(seed=3)
    for k, action in enumerate(actions):
        row = frame.iloc[k]
        np.testing.assert_array_equal(row[[f"obs.{n}" for n in OBS_NAMES]].to_numpy(dtype=np.float32), obs)
        assert frame.index[k].value == info["ts_ns"]
        assert (row["position"], row["pnl"], row["fills"]) == (info["position"], info["pnl"], info["fills"])
        assert (row["action.0"], row["action.1"]) == (float(action[0]), float(action[1]))
        obs, reward, _, _, info = env.step(action)
        assert row["reward"] == reward
    # continuous action [0, 0]: the middle of [0.5, 10] ticks, no skew
    one = run_episode(env, lambda obs: np.zeros(2, dtype=np.float32), seed=0, max_steps=3)
    assert len(one) == 3
    assert one["half_spread_ticks"].tolist() == [5.25] * 3 and one["skew_ticks"].tolist() == [0.0] * 3
    assert one["action_text"].iloc[0] == "half-spread 5.25t, skew +0.00t"


def _monitor(path, t_start: float, rows: list[tuple[float, int, float]]) -> None:
    header = json.dumps({"t_start": t_start, "env_id": "amm/MarketMaking-v0"})
    path.write_text(f"#{header}\nr,l,t\n" + "".join(f"{r},{l},{t}\n" for r, l, t in rows))


def test_training_history(tmp_path) -> None:
    (tmp_path / "monitor").mkdir()
    (tmp_path / "eval").mkdir()
    _monitor(tmp_path / "monitor" / "random-0.monitor.csv", 1000.0, [(-5.0, 300, 2.0), (-3.0, 300, 4.0)])
    _monitor(tmp_path / "monitor" / "random-0.resume1.monitor.csv", 1010.0, [(-1.0, 300, 1.0)])
    np.savez(tmp_path / "eval" / "evaluations.npz", timesteps=np.array([512, 1024]),
             results=np.array([[-4.0, -2.0], [-1.0, 1.0]]), ep_lengths=np.array([[300, 300], [300, 200]]))
    history = training_history(tmp_path)
    assert history.episodes["reward"].tolist() == [-5.0, -3.0, -1.0]
    assert history.episodes["wall_s"].tolist() == [2.0, 4.0, 11.0]
    assert history.episodes["timesteps"].tolist() == [300, 600, 900]
    ev = history.evaluations
    assert ev["timesteps"].tolist() == [512, 1024]
    assert ev["mean_reward"].tolist() == [-3.0, 0.0]
    assert ev["std_reward"].tolist() == [1.0, 1.0]
    assert ev["mean_length"].tolist() == [300.0, 250.0]
    assert ev["episodes"].tolist() == [2, 2]


def test_training_history_refuses_a_directory_without_monitor_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="monitor.csv"):
        training_history(tmp_path)
