"""The env on a NASDAQ equity day (LOBSTER GOOG, 2012-06-21): any window of any catalog day trains.

An ``Equity`` on ``XNAS`` with per-share fees and a USD margin account, L2 book of 10 levels: the
same env that trains on Binance captures, pointed at another catalog window and venue.
"""

from __future__ import annotations

import numpy as np

from backtests.venue import VenueModelConfig
from strategies.agent import AgentConfig
from rl.config import EnvConfig
from rl.env import MarketMakingEnv

NASDAQ = VenueModelConfig(
    venue="XNAS", base_currency="USD", starting_balances=("250000 USD",), default_leverage=4.0,
    book_type="L2_MBP", fee_model="per_share", maker_fee="-0.0020", taker_fee="0.0030",
    latency_base_ns=1_000_000,
)


def test_env_runs_episodes_on_an_equity_window(lobster_catalog):
    cfg = EnvConfig(
        catalog_path=lobster_catalog,
        window_start="2012-06-21T14:00:00Z",  # 10:00-11:00 ET
        window_end="2012-06-21T15:00:00Z",
        agent=AgentConfig(instrument_id="GOOG.XNAS", book_type="L2_MBP", horizon_steps=300,
                          order_qty=100, max_inventory=500, warmup_ms=5_000),
        venue=NASDAQ,
    )
    env = MarketMakingEnv(cfg)
    try:
        fills = 0
        for seed in range(3):
            obs, info = env.reset(seed=seed)
            assert env.observation_space.contains(obs)
            for _ in range(cfg.episode_steps):
                obs, reward, term, trunc, info = env.step(0)  # action 0: both quotes at the touch
                assert np.isfinite(reward) and env.observation_space.contains(obs)
                if term or trunc:
                    break
            assert trunc or term
            assert abs(info["position"]) <= 500
            fills += info.get("fills", 0)
        assert fills > 0  # at the touch of a 28-tick spread some flow reaches us in 30 s
    finally:
        env.close()
