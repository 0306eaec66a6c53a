"""Where the bundled real market data lives.

The data is never copied into the repository: tests, benchmarks and the demo read it from the
shared data directory beside the checkout (``../shared/data``), or from ``$AMM_DATA_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The checkout this package is installed from (the project is installed in editable mode)."""


def data_dir() -> Path:
    """Return the real-data directory: ``$AMM_DATA_DIR`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("AMM_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def data_file(relative: str) -> Path:
    """Return a file of the data directory, failing with a message that says how to get it."""
    path = data_dir() / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: data file not found; set AMM_DATA_DIR to the directory holding "
            f"binance_ws/ and fixtures/ (see PROVENANCE.md there)",
        )
    return path
