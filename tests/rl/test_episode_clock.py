"""A deployed policy sees the time-left values training showed it, however long it runs.

Until the episode clock became explicit (``AgentConfig.episode_clock``), ``PolicyMarketMaker``
observed ``1 - k / horizon`` with a decision count ``k`` that never restarts: after the first
``horizon_steps`` decisions every observation said "no time left", a value training shows only at
an episode's end. These tests run training episodes and a deployed policy three horizons long on
the same capture (binance_ws/usdm/btcusdt_20240808.gz) and compare what each observed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig

from catalog.window import load_window
from backtests.venue import VenueModelConfig
from rl.config import EnvConfig
from rl.env import MarketMakingEnv
from strategies.agent import AgentConfig
from strategies.observation import OBS_NAMES
from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig
from tests.rl.conftest import RecordingReplayPolicy

WINDOW = ("2024-08-08T23:55:00Z", "2024-08-08T23:58:00Z")
HORIZON = 40
PERIODS = 3
TIME_LEFT = OBS_NAMES.index("time_left")


def _training_time_left(catalog, agent: AgentConfig, episodes: int) -> list[float]:
    """Time left in every observation a training policy acts on (not the terminal ones)."""
    env = MarketMakingEnv(EnvConfig(catalog_path=catalog, window_start=WINDOW[0], window_end=WINDOW[1],
                                    agent=agent, venue=VenueModelConfig(seed=1)))
    rng = np.random.default_rng(0)
    seen: list[float] = []
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=episode)
            done = False
            while not done:
                seen.append(float(obs[TIME_LEFT]))
                obs, _, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
                done = term or trunc
    finally:
        env.close()
    return seen


def _deployed_time_left(catalog, agent: AgentConfig, decisions: int) -> list[float]:
    """Time left in every observation of a ``PolicyMarketMaker`` backtest of ``decisions`` decisions."""
    window = load_window(catalog, agent.instrument_id, WINDOW[0], WINDOW[1], agent.book_type)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        VenueModelConfig(seed=1).add_to_engine(engine, [window.instrument])
        window.add_to_engine(engine)
        policy = RecordingReplayPolicy([0] * decisions)
        engine.add_strategy(PolicyMarketMaker(PolicyMarketMakerConfig(agent=agent, max_decisions=decisions),
                                              policy=policy))
        engine.run()
    finally:
        engine.dispose()
    assert len(policy.seen) == decisions, "the window must hold the whole deployed run"
    return [float(obs[TIME_LEFT]) for obs in policy.seen]


def test_deployed_policy_sees_the_training_time_left_distribution(usdm_catalog) -> None:
    agent = AgentConfig(horizon_steps=HORIZON, warmup_ms=2_000, decision_interval_ms=500)
    training = Counter(_training_time_left(usdm_catalog, agent, episodes=2))
    deployed = Counter(_deployed_time_left(usdm_catalog, agent, decisions=PERIODS * HORIZON))
    # the same values, each as often: every training episode and every deployed period is one
    # pass of the clock 1, 1 - 1/H, ..., 1/H
    assert set(deployed) == set(training)
    assert len(training) == HORIZON
    assert all(n == PERIODS for n in deployed.values())
    assert all(n == 2 for n in training.values())
    assert min(deployed) == pytest.approx(1 / HORIZON)  # never the out-of-distribution 0


def test_clock_off_observes_zero_in_training_and_deployment(usdm_catalog) -> None:
    agent = AgentConfig(horizon_steps=HORIZON, warmup_ms=2_000, decision_interval_ms=500, episode_clock="off")
    assert set(_training_time_left(usdm_catalog, agent, episodes=1)) == {0.0}
    assert set(_deployed_time_left(usdm_catalog, agent, decisions=2 * HORIZON)) == {0.0}
