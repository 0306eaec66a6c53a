"""Reinforcement learning for market making on the NautilusTrader backtest engine.

Importing the package registers the Gymnasium environment ``amm/MarketMaking-v0``
(:class:`rl.env.MarketMakingEnv`, configured by one :class:`rl.config.EnvConfig`)::

    import gymnasium as gym
    import rl  # noqa: F401  (registers the id)
    from rl.config import EnvConfig

    env = gym.make("amm/MarketMaking-v0", config=EnvConfig(catalog_path="catalog"))
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "amm/MarketMaking-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="rl.env:MarketMakingEnv", disable_env_checker=False)

__all__ = ["ENV_ID"]
