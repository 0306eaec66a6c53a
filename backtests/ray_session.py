"""One way to get Ray for a command: a local Ray it starts and stops, or a running cluster.

``amm sweep`` and ``amm walkforward`` (and ``benchmarks/ray_scaling.py``) run their work on Ray.
With no address the command starts a local Ray with as many CPUs as it may use at once and shuts
it down when done, whatever happens (also when another command's local Ray is running); with ``address`` (``auto`` on a cluster node,
``ray://HOST:10001`` through Ray Client) it connects to a cluster someone else runs and only
disconnects. Paths handed to workers must then be on a filesystem every node sees
(docs/scaling.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[None]:
    """Connect to ``address`` or start a local Ray with ``num_cpus`` CPUs; disconnect at the end."""
    import ray

    # address="local" starts a new Ray even when another command's Ray runs on this machine (a
    # bare ray.init() would join that one, and refuses num_cpus there).
    init = {"address": address} if address else {"address": "local", "num_cpus": num_cpus, "include_dashboard": False}
    ray.init(**init, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
