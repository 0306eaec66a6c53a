"""Shared fixtures: one catalog built from the real Binance USD-M capture, for the whole session.

``binance_ws/usdm/btcusdt_20240808.gz`` (BTCUSDT-PERP, 2024-08-08 23:54:15 -> 23:59:59 UTC:
66k bookTicker quotes, 21k trades, 445k depth deltas with the opening REST snapshot) is
ingested once into a temporary catalog; every test reads windows from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.settings import data_file

SOURCE = "binance_ws/usdm/btcusdt_20240808.gz"


def _ingest(source: Path, target: Path) -> Path:
    try:
        from catalog.ingest import ingest_files

        ingest_files("binance-ws", [source], target)
    except ImportError:  # ingest driver not wired to the loader registry yet
        from nautilus_trader.persistence.catalog import ParquetDataCatalog

        from catalog.loaders.binance_ws import BinanceWsLoader
        from catalog.quality import QualityReport

        loader = BinanceWsLoader()
        data = list(loader.iter_data([source], QualityReport("binance-ws")))
        cat = ParquetDataCatalog(str(target))
        cat.write_data(loader.instruments())
        cat.write_data(data)
    return target


@pytest.fixture(scope="session")
def usdm_catalog(tmp_path_factory) -> Path:
    return _ingest(data_file(SOURCE), tmp_path_factory.mktemp("rl") / "catalog")


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
