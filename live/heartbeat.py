"""Heartbeat for container probes: an actor that keeps a small JSON file fresh while the node runs.

A probe that only checks the process is alive misses the failure that matters for a market maker:
an event loop that is stuck (or a node still reconciling) while orders rest on the venue. The
:class:`HeartbeatActor` starts with the trader (after connection, reconciliation and portfolio
initialisation), rewrites the file from a clock timer on the event loop, and writes
``"state": "STOPPED"`` on stop; :mod:`live.health` reads it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig, PositiveFloat


class HeartbeatActorConfig(ActorConfig, frozen=True):
    """
    Configuration of :class:`HeartbeatActor`.

    Parameters
    ----------
    path : str
        The heartbeat file (rewritten atomically).
    interval_secs : PositiveFloat, default 5.0
        Seconds between writes.

    """

    path: str
    interval_secs: PositiveFloat = 5.0


class HeartbeatActor(Actor):
    """Writes ``{"state", "ts", "open_orders", "open_positions"}`` to a file every interval."""

    def __init__(self, config: HeartbeatActorConfig) -> None:
        super().__init__(config)
        self._path = Path(config.path)

    def on_start(self) -> None:
        self._write("RUNNING")
        self.clock.set_timer(
            "heartbeat",
            timedelta(seconds=self.config.interval_secs),
            callback=lambda _event: self._write("RUNNING"),
        )

    def on_stop(self) -> None:
        self._write("STOPPED")

    def _write(self, state: str) -> None:
        payload = {
            "state": state,
            "ts": time.time(),
            "trader_id": str(self.trader_id),
            "open_orders": self.cache.orders_open_count(),
            "open_positions": self.cache.positions_open_count(),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, self._path)
