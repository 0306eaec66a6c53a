"""Fixtures shared by the catalog tests: the real-data directory and a gzip line writer."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from catalog.settings import data_dir


@pytest.fixture(scope="session")
def binance_ws_dir() -> Path:
    """``<data>/binance_ws`` (see PROVENANCE.md there); skips the test if it is not present."""
    path = data_dir() / "binance_ws"
    if not path.is_dir():
        pytest.skip(f"{path} not found; set AMM_DATA_DIR to the shared data directory")
    return path


WsLine = tuple[int, dict | str]
"""One capture line: local receive time (ns) and a JSON object (or a raw string, verbatim)."""


@pytest.fixture
def write_ws_gz(tmp_path: Path) -> Callable[[str, Iterable[WsLine]], Path]:
    """Write ``<ts> <json>`` lines gzip-compressed under ``tmp_path``; return the file path."""

    def write(name: str, lines: Iterable[WsLine]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            for ts, msg in lines:
                body = msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"))
                fh.write(f"{ts} {body}\n")
        return path

    return write
