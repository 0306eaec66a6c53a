"""Memory stays flat over >= 1,000 episodes (engine reuse + periodic rebuild)."""

from __future__ import annotations

import gc

import psutil
import pytest

from backtests.venue import VenueModelConfig
from rl.config import AgentConfig, EnvConfig
from rl.env import MarketMakingEnv


@pytest.mark.slow
def test_rss_levels_off_over_1000_episodes(usdm_catalog):
    env = MarketMakingEnv(EnvConfig(
        catalog_path=usdm_catalog,
        window_start="2024-08-08T23:55:00Z", window_end="2024-08-08T23:57:00Z",
        agent=AgentConfig(horizon_steps=5, warmup_ms=500), venue=VenueModelConfig(),
        recycle_engine_episodes=100,
    ))
    proc = psutil.Process()
    rss = {}
    try:
        for ep in range(1, 1001):
            env.reset(seed=ep if ep == 1 else None)
            done = False
            while not done:
                *_, term, trunc, _ = env.step(env.action_space.sample())
                done = term or trunc
            if ep in (200, 600, 1000):
                gc.collect()
                rss[ep] = proc.memory_info().rss / 2**20
    finally:
        env.close()
    print(f"RSS MiB: {rss}; engines built: {env.engines_built}")
    assert env.engines_built == 10
    # after warm-up, 800 more episodes add less than 25 MiB (a leak of ~13 MiB per engine
    # rebuild or ~0.1 MiB per episode would fail this)
    assert rss[1000] - rss[200] < 25, rss
