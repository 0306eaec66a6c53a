"""Fixtures shared by every test package: the real Binance USD-M capture in one session catalog.

``binance_ws/usdm/btcusdt_20240808.gz`` (BTCUSDT-PERP, 2024-08-08 23:54:15 -> 23:59:59 UTC:
66k bookTicker quotes, 21k trades, 445k depth deltas with the opening REST snapshot) is ingested
once, with its full-book checkpoints, into a temporary catalog; tests read windows from it and
never write to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.settings import data_file

USDM_SOURCE = "binance_ws/usdm/btcusdt_20240808.gz"


@pytest.fixture(scope="session")
def usdm_catalog(tmp_path_factory) -> Path:
    from catalog.ingest import ingest_files

    target = tmp_path_factory.mktemp("usdm") / "catalog"
    ingest_files("binance-ws", [data_file(USDM_SOURCE)], target)
    return target
