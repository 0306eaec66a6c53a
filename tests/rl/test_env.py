"""The Gymnasium environment on real Binance BTCUSDT-PERP data (binance_ws/usdm/btcusdt_20240808.gz)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rl
from backtests.venue import VenueModelConfig
from strategies.agent import ActionConfig, AgentConfig
from rl.config import EnvConfig, RewardConfig
from rl.env import MarketMakingEnv

WINDOW = ("2024-08-08T23:55:00Z", "2024-08-08T23:57:30Z")


def make_config(catalog, *, book_type="L1_MBP", horizon=50, **changes) -> EnvConfig:
    agent = dict(book_type=book_type, horizon_steps=horizon, warmup_ms=2_000)
    agent.update(changes.pop("agent", {}))
    venue = dict(book_type=book_type)
    venue.update(changes.pop("venue", {}))
    return EnvConfig(
        catalog_path=catalog,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        agent=AgentConfig(**agent),
        venue=VenueModelConfig(**venue),
        **changes,
    )


@pytest.fixture(scope="module")
def l1_env(usdm_catalog):
    env = MarketMakingEnv(make_config(usdm_catalog))
    yield env
    env.close()


def run_episode(env, actions, seed=None, options=None):
    obs, info = env.reset(seed=seed, options=options)
    traj = [(obs.copy(), 0.0, info["position"], info["pnl"])]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        traj.append((obs.copy(), r, info["position"], info["pnl"]))
        if term or trunc:
            return traj, term, trunc
    return traj, False, False


def test_registered_id_makes_the_env(usdm_catalog):
    assert rl.ENV_ID == "amm/MarketMaking-v0"
    env = gym.make(rl.ENV_ID, config=make_config(usdm_catalog, horizon=5))
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        assert env.unwrapped.spec.id == "amm/MarketMaking-v0"
    finally:
        env.close()


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_check_env_l1(usdm_catalog, kind):
    env = MarketMakingEnv(
        make_config(usdm_catalog, horizon=20, agent={"action": ActionConfig(kind=kind)}),
    )
    try:
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    finally:
        env.close()


def test_check_env_l2(usdm_catalog):
    env = MarketMakingEnv(make_config(usdm_catalog, book_type="L2_MBP", horizon=20))
    try:
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
        obs, info = env.reset(seed=1)
        # the L2 book the agent acts on is a real, uncrossed book right at the first decision
        bid, ask = env.host.top_of_book()
        assert 0 < bid < ask and ask - bid < 5.0
        assert info["mid"] == pytest.approx((bid + ask) / 2)
    finally:
        env.close()


def test_same_seed_same_trajectory_and_other_seed_differs(usdm_catalog):
    # the shipped, queue-aware venue: a seed decides the episode start (and nothing else)
    # (with the queue, 8 s of random quotes never reach the front of a queue: 20 s with the bid
    # at the touch and the ask 0-3 ticks behind it, actions 0-3 of the 6 x 6 grid)
    cfg = make_config(usdm_catalog, horizon=200)
    actions = np.random.default_rng(3).integers(0, 4, 200)
    a = MarketMakingEnv(cfg)
    b = MarketMakingEnv(cfg)
    try:
        t1, *_ = run_episode(a, actions, seed=11)
        t2, *_ = run_episode(b, actions, seed=11)
        t3, *_ = run_episode(a, actions, seed=11)  # same env, reused engine
        t4, *_ = run_episode(a, actions, seed=12)
    finally:
        a.close()
        b.close()
    for other in (t2, t3):
        assert len(other) == len(t1)
        for (o1, r1, p1, pnl1), (o2, r2, p2, pnl2) in zip(t1, other, strict=True):
            np.testing.assert_array_equal(o1, o2)
            assert (r1, p1, pnl1) == (r2, p2, pnl2)
    assert any(p != 0 for _, _, p, _ in t1), "the episode should trade"
    assert [x[3] for x in t4] != [x[3] for x in t1]


def test_truncation_at_horizon_and_step_after_end_raises(l1_env):
    traj, term, trunc = run_episode(l1_env, [0] * 100, seed=0)
    assert trunc and not term
    assert len(traj) == 50 + 1
    with pytest.raises(RuntimeError, match="reset"):
        l1_env.step(0)


def test_decisions_are_spaced_by_the_interval(l1_env):
    obs, info = l1_env.reset(seed=5)
    ts = [info["ts_ns"]]
    for _ in range(5):
        *_, info = l1_env.step(l1_env.action_space.sample())
        ts.append(info["ts_ns"])
    assert np.all(np.diff(ts) == 100_000_000)


def test_fixed_start_for_evaluation(usdm_catalog):
    env = MarketMakingEnv(make_config(usdm_catalog, horizon=5, random_start=False))
    try:
        starts = {env.reset(seed=s)[1]["first_decision_ns"] for s in range(3)}
    finally:
        env.close()
    assert starts == {env.window_ns[0] + 2_000_000_000}


def test_ruin_terminates(usdm_catalog):
    # a loss limit below one maker fee: the first fill ruins the agent
    cfg = make_config(
        usdm_catalog, horizon=400, reward=RewardConfig(max_loss=1e-4),
    )
    env = MarketMakingEnv(cfg)
    try:
        traj, term, trunc = run_episode(env, [0] * 400, seed=2)
    finally:
        env.close()
    assert term and not trunc
    assert traj[-1][3] < -1e-4


def test_reset_mid_episode_reuses_engine_and_recycles(usdm_catalog):
    env = MarketMakingEnv(make_config(usdm_catalog, horizon=30, recycle_engine_episodes=3))
    try:
        for i in range(7):
            env.reset(seed=i)
            for _ in range(3):
                env.step(0)  # abandon the episode mid-way
        assert env.engines_built == 3  # episodes 1-3, 4-6, 7
        traj, _, trunc = run_episode(env, [0] * 30, seed=0)
        assert trunc
    finally:
        env.close()
    env.close()  # idempotent


def test_engine_exception_surfaces_in_step_and_env_recovers(usdm_catalog, monkeypatch):
    env = MarketMakingEnv(make_config(usdm_catalog, horizon=20))
    try:
        env.reset(seed=0)
        env.step(0)

        def boom(self, action, best_bid, best_ask):
            raise ValueError("boom inside the engine")

        monkeypatch.setattr(type(env.host.actions), "quotes", boom)  # mapping step()'s action
        with pytest.raises(ValueError, match="boom inside the engine"):
            env.step(0)
        monkeypatch.undo()
        with pytest.raises(RuntimeError):
            env.step(0)
        traj, _, trunc = run_episode(env, [0] * 20, seed=0)
        assert trunc and env.engines_built == 2
    finally:
        env.close()


def test_event_driven_decisions(usdm_catalog):
    env = MarketMakingEnv(make_config(usdm_catalog, horizon=20, agent={"decision_events": 25}))
    try:
        traj, _, trunc = run_episode(env, [1] * 20, seed=0)
        assert trunc and len(traj) == 21
    finally:
        env.close()


def test_dummy_and_subproc_vec_env(usdm_catalog):
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cfg = make_config(usdm_catalog, horizon=10)

    def make():
        return MarketMakingEnv(cfg)

    for cls, kwargs in ((DummyVecEnv, {}), (SubprocVecEnv, {"start_method": "spawn"})):
        venv = cls([make, make], **kwargs)
        try:
            venv.seed(0)
            obs = venv.reset()
            assert obs.shape == (2, 16) and obs.dtype == np.float32
            dones = 0
            for _ in range(25):  # crosses an episode end: auto-reset inside the vec env
                obs, rewards, done, infos = venv.step(np.array([0, 35]))
                dones += int(done.sum())
            assert dones >= 2
        finally:
            venv.close()


def test_message_bus_subscriptions_do_not_grow_across_episodes(usdm_catalog):
    """A reused engine must not keep earlier episodes' strategies subscribed.

    Nautilus (1.221 and still 1.231) keeps a removed strategy's message-bus handlers; without the env's cleanup
    every quote, trade and order event also reached every earlier episode's strategy, so steps
    got slower episode after episode.
    """
    env = MarketMakingEnv(make_config(usdm_catalog, horizon=5, recycle_engine_episodes=100))
    try:
        counts = []
        for i in range(4):
            run_episode(env, [0] * 5, seed=i)
            counts.append(len(env.engine.kernel.msgbus.subscriptions()))
        assert env.engines_built == 1
        assert counts[1:] == counts[:1] * 3, counts
    finally:
        env.close()


def test_engine_logging_follows_log_level(usdm_catalog, monkeypatch):
    import rl.env

    assert EnvConfig(catalog_path=usdm_catalog).logging_config().bypass_logging
    warn = EnvConfig(catalog_path=usdm_catalog, log_level="WARNING").logging_config()
    assert not warn.bypass_logging and warn.log_level == "WARNING"
    with pytest.raises(ValueError, match="EnvConfig.log_level"):
        EnvConfig(catalog_path=usdm_catalog, log_level="LOUD")

    built = []
    real = rl.env.BacktestEngineConfig
    monkeypatch.setattr(rl.env, "BacktestEngineConfig", lambda **kw: built.append(kw) or real(**kw))
    for level, bypass in ((None, True), ("ERROR", False)):
        env = MarketMakingEnv(make_config(usdm_catalog, horizon=5, log_level=level))
        try:
            traj, _, trunc = run_episode(env, [0] * 5, seed=0)
            assert trunc
        finally:
            env.close()
        assert built[-1]["logging"].bypass_logging is bypass
