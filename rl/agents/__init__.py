"""The learning algorithms a run can use, by the name used in config files and on the CLI.

Every entry is a Stable-Baselines3 ``BaseAlgorithm`` (the four SB3 algorithms, SB3-contrib's
``RecurrentPPO`` and our tabular :class:`~rl.agents.qlearning.QLearning`), so every trained model
has the same surface —
``predict(obs, deterministic=True)``, ``save(path)``, ``Cls.load(path)`` — and runs unchanged inside
``strategies.policy.PolicyMarketMaker``.
"""

from __future__ import annotations

from strategies.model_store import algorithm_class  # noqa: F401 - re-exported: the one algorithm -> class table

ALGORITHMS = ("ppo", "a2c", "sac", "dqn", "qlearning", "recurrent_ppo")

ACTION_MODES: dict[str, str] = {
    "ppo": "continuous",
    "a2c": "continuous",
    "sac": "continuous",
    "dqn": "discrete",
    "qlearning": "discrete",
    "recurrent_ppo": "continuous",
}
"""Action space each algorithm trains with by default: SAC needs a ``Box``, DQN and tabular
Q-learning a ``Discrete`` quote grid; PPO/A2C handle both (the hyperparameter file may override)."""

SUPPORTED_ACTION_MODES: dict[str, tuple[str, ...]] = {
    "ppo": ("continuous", "discrete"),
    "a2c": ("continuous", "discrete"),
    "sac": ("continuous",),
    "dqn": ("discrete",),
    "qlearning": ("discrete",),
    "recurrent_ppo": ("continuous", "discrete"),
}

OFF_POLICY = frozenset({"sac", "dqn"})


def default_policy(name: str) -> str:
    """The policy alias an algorithm uses for a flat observation."""
    return {"qlearning": "QTablePolicy", "recurrent_ppo": "MlpLstmPolicy"}.get(name.lower(), "MlpPolicy")
