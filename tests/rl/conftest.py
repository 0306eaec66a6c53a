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
