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
