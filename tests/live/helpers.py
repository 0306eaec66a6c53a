"""Test doubles and builders shared by the live tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from nautilus_trader.examples.strategies.simpler_quoter import SimpleQuoterStrategy, SimpleQuoterStrategyConfig

USDM_CAPTURE = "binance_ws/usdm/btcusdt_20240808.gz"
"""hftbacktest's Binance USD-M BTCUSDT capture (see PROVENANCE.md of the data directory)."""


class NoCancelQuoterConfig(SimpleQuoterStrategyConfig, frozen=True):
    """Config of :class:`NoCancelQuoter` (Nautilus' SimpleQuoter options)."""


class NoCancelQuoter(SimpleQuoterStrategy):
    """Nautilus' simple quoter with a careless ``on_stop``: leaves every order resting.

    The node's kill switch, not the strategy, has to cancel them.
    """

    def on_stop(self) -> None:
        pass


def write_capture_catalog(out: Path, window_secs: float, with_deltas: bool = False) -> tuple[int, int]:
    """Write the first ``window_secs`` of the USD-M capture (from its first quote) to a catalog.

    Returns ``(first_quote_ts_init, last_ts_init)``.
    """
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from catalog.loaders.binance_ws import BinanceWsLoader
    from catalog.quality import QualityReport
    from catalog.settings import data_file

    shutil.rmtree(out, ignore_errors=True)
    loader = BinanceWsLoader()
    data, first = [], None
    for item in loader.iter_data([data_file(USDM_CAPTURE)], QualityReport("binance-ws")):
        if first is None and type(item).__name__ == "QuoteTick":
            first = item.ts_init
        if first is not None and item.ts_init - first > window_secs * 1e9:
            break
        if isinstance(item, OrderBookDelta) and not with_deltas:
            continue
        data.append(item)
    catalog = ParquetDataCatalog(str(out))
    catalog.write_data(loader.instruments())
    data.sort(key=lambda d: d.ts_init)
    catalog.write_data(data)
    return first, data[-1].ts_init


class ConstantPolicy:
    """A stand-in for a trained model: always the same action."""

    def __init__(self, action: int = 0) -> None:
        self.action = action

    def predict(self, observation, deterministic: bool = True):  # noqa: ANN001, ANN201
        return self.action, None


LOADED: list[str] = []
"""Model paths :func:`load_constant_policy` was called with (in this process)."""


def load_constant_policy(model_path: str | None, **kwargs) -> ConstantPolicy:  # noqa: ANN003
    """``PolicyMarketMakerConfig.policy_loader`` for tests: reads the file like a real loader would."""
    Path(model_path).read_bytes()
    LOADED.append(str(model_path))
    return ConstantPolicy(**kwargs)
