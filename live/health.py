"""Container health check: is the node's heartbeat file fresh and RUNNING?

``python -m live.health FILE --max-age-secs N`` exits 0 only if the heartbeat written by
:class:`live.heartbeat.HeartbeatActor` says ``RUNNING`` and is at most N seconds old. Docker's
``HEALTHCHECK`` and the Kubernetes liveness / readiness probes call it; it imports nothing beyond
the standard library so a probe costs milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HEALTH_FILE_ENV = "AMM_HEALTH_FILE"
"""Heartbeat path used when neither the node config (``node.health_file``) nor the probe names one."""


def check_health(path: Path, max_age_secs: float, now: float | None = None) -> tuple[bool, str]:
    """Return ``(healthy, reason)`` for a heartbeat file."""
    try:
        payload = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return False, f"{path}: no heartbeat yet (node starting or not running)"
    except (OSError, json.JSONDecodeError) as e:
        return False, f"{path}: unreadable heartbeat ({e})"
    age = (now if now is not None else time.time()) - float(payload.get("ts", 0))
    if payload.get("state") != "RUNNING":
        return False, f"{path}: node state is {payload.get('state')}"
    if age > max_age_secs:
        return False, f"{path}: heartbeat is {age:.0f} s old (> {max_age_secs:g} s): event loop stalled?"
    return True, f"ok: RUNNING, heartbeat {age:.1f} s old, {payload.get('open_orders')} open orders"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.health", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, nargs="?", help=f"heartbeat file (default: ${HEALTH_FILE_ENV})")
    parser.add_argument("--max-age-secs", type=float, default=30.0, help="oldest acceptable heartbeat")
    args = parser.parse_args(argv)
    path = args.path or (Path(os.environ[HEALTH_FILE_ENV]) if os.environ.get(HEALTH_FILE_ENV) else None)
    if path is None:
        print(f"no heartbeat file: pass one or set {HEALTH_FILE_ENV}", file=sys.stderr)
        return 2
    ok, reason = check_health(path, args.max_age_secs)
    print(reason, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
