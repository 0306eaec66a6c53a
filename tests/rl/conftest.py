"""RL test helpers; the session catalog of the USD-M capture is ``usdm_catalog`` (tests/conftest.py)."""

from __future__ import annotations

import numpy as np

SOURCE = "binance_ws/usdm/btcusdt_20240808.gz"


class ReplayPolicy:
    """A fixed action sequence behind SB3's ``predict`` interface."""

    def __init__(self, actions) -> None:
        self.actions = list(actions)
        self.i = 0

    def predict(self, observation, deterministic: bool = True):
        assert observation.dtype == np.float32
        a = self.actions[self.i]
        self.i += 1
        return a, None


class RecordingReplayPolicy(ReplayPolicy):
    """A :class:`ReplayPolicy` that keeps every observation it was asked about."""

    def __init__(self, actions) -> None:
        super().__init__(actions)
        self.seen: list[np.ndarray] = []

    def predict(self, observation, deterministic: bool = True):
        self.seen.append(observation.copy())
        return super().predict(observation, deterministic)


LOADED: list[RecordingReplayPolicy] = []
"""Every policy :func:`replay_loader` built, newest last (a backtest builds it inside the engine)."""


def replay_loader(model_path, *, actions):
    """``PolicyMarketMakerConfig.policy_loader`` of a recorded action sequence (JSON data).

    Lets a test run a policy through the evaluation path (``ImportableStrategyConfig`` in
    ``backtests.runner``), where the strategy and its policy are built from plain config data.
    """
    decoded = [np.asarray(a, dtype=np.float32) if isinstance(a, list) else int(a) for a in actions]
    policy = RecordingReplayPolicy(decoded)
    LOADED.append(policy)
    return policy


class RecordingPolicy:
    """A deployed policy (``load_verified_policy``'s) that keeps every action it returned."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.actions: list = []

    def predict(self, observation, deterministic: bool = True):
        action, state = self.policy.predict(observation, deterministic=deterministic)
        self.actions.append(np.asarray(action).copy())
        return action, state


RECORDED: list[RecordingPolicy] = []
"""Every policy :func:`recording_loader` built, newest last."""


def recording_loader(model_path, **kwargs):
    """``PolicyMarketMakerConfig.policy_loader``: the verified model, its actions recorded."""
    from strategies.model_store import load_verified_policy

    policy = RecordingPolicy(load_verified_policy(model_path, **kwargs))
    RECORDED.append(policy)
    return policy
