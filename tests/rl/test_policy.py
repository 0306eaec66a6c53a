"""``PolicyMarketMaker`` config and SB3 loading (binance_ws/usdm/btcusdt_20240808.gz window)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.trading.config import StrategyFactory

from strategies.agent import AgentConfig
from rl.config import EnvConfig
from rl.env import MarketMakingEnv
from strategies.policy import PolicyMarketMaker, load_sb3_policy


def test_sb3_model_round_trip_through_importable_config(usdm_catalog, tmp_path):
    from stable_baselines3 import PPO

    agent = AgentConfig(horizon_steps=10, warmup_ms=1_000)
    env = MarketMakingEnv(EnvConfig(catalog_path=usdm_catalog, agent=agent,
                                    window_start="2024-08-08T23:55:00Z",
                                    window_end="2024-08-08T23:56:00Z"))
    try:
        model = PPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0)
        model.learn(16)
        model.save(tmp_path / "model.zip")
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    policy = load_sb3_policy(str(tmp_path / "model.zip"), algorithm="PPO")
    assert int(policy.predict(obs, deterministic=True)[0]) == int(model.predict(obs, deterministic=True)[0])

    strategy = StrategyFactory.create(ImportableStrategyConfig(
        strategy_path="strategies.policy:PolicyMarketMaker",
        config_path="strategies.policy:PolicyMarketMakerConfig",
        config={"agent": agent.to_dict(), "model_path": str(tmp_path / "model.zip"),
                "policy_kwargs": {"algorithm": "PPO"}},
    ))
    assert isinstance(strategy, PolicyMarketMaker)
    assert strategy.agent == agent


def test_bad_policy_configs_fail_clearly(tmp_path):
    from strategies.policy import PolicyMarketMakerConfig, load_policy

    with pytest.raises(ValueError, match="module:function"):
        PolicyMarketMakerConfig(agent=AgentConfig(), policy_loader="nocolon")
    with pytest.raises(ValueError, match="unknown field `bogus`"):
        PolicyMarketMakerConfig.parse(b'{"agent": {"bogus": 1}}')
    with pytest.raises(ValueError, match="unknown field `max_loos`"):
        PolicyMarketMakerConfig.parse(b'{"agent": {}, "max_loos": 10}')
    with pytest.raises(ValueError, match="order_qty"):
        PolicyMarketMakerConfig(agent=AgentConfig(), order_qty=Decimal("0.5"))
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_sb3_policy(str(tmp_path / "missing.zip"))
    with pytest.raises(ValueError, match="cannot import"):
        load_policy("tests.no_such_module:f", None)
