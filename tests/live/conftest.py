"""Fixtures of the live tests: a small real-data catalog (the first minute of the USD-M capture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.helpers import write_capture_catalog


@pytest.fixture(scope="session")
def capture_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """``(catalog, first_quote_ns, last_ns)``: 60 s of BTCUSDT-PERP quotes, trades and book deltas."""
    path = tmp_path_factory.mktemp("live") / "catalog"
    first, last = write_capture_catalog(path, window_secs=60.0, with_deltas=True)
    return path, first, last


@pytest.fixture
def fake_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Planted fake credentials for every venue account the shipped configs use."""
    keys = {}
    for prefix in ("BINANCE", "BINANCE_TESTNET", "BINANCE_FUTURES_TESTNET", "BYBIT", "BYBIT_TESTNET"):
        keys[f"{prefix}_API_KEY"] = f"PlantedKey{len(prefix)}Xq7Zr2Lm9Wv4Ty8Np3Hs6Jd1Kf5"
        keys[f"{prefix}_API_SECRET"] = f"PlantedSecret{len(prefix)}Bg4Nc8Vx2Mz6Lq0Pw3Ke7Rt1"
    for k, v in keys.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AMM_SECRETS_PATH", raising=False)
    monkeypatch.delenv("AMM_HEALTH_FILE", raising=False)
    return keys
