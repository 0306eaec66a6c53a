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
        write_heartbeat(self._path, state, str(self.trader_id), self.cache)


def write_heartbeat(path: Path, state: str, trader_id: str, cache, **extra) -> None:  # noqa: ANN001 - a Nautilus Cache
    """Rewrite the heartbeat file atomically with the node's state and its open orders and positions.

    The actor writes ``STOPPED`` when the trader stops, which is when the kill switch *begins*
    (orders still open); the node writes it again once the kill switch has finished
    (:meth:`live.node.AmmTradingNode.shutdown`), so the last entry holds the final counts.
    """
    payload = {
        "state": state,
        "ts": time.time(),
        "trader_id": trader_id,
        "open_orders": cache.orders_open_count(),
        "open_positions": cache.positions_open_count(),
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)
