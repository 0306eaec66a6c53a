"""Shared fixtures: small catalogs built from real Binance samples.

``fixtures/binance/btcusdt-quotes.parquet`` + ``btcusdt-trades.parquet`` (Binance spot BTCUSDT,
2021-01-08 00:00:00 -> 00:00:46, 451 quotes and 2,001 trades) are written into a
``ParquetDataCatalog`` with Nautilus' wranglers. The L2 catalog adds ``OrderBookDelta`` rows derived
from the same top-of-book quotes (clear + bid + ask per quote), enough to drive an L2 venue.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import BookOrder, OrderBookDelta
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler, TradeTickDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from catalog.settings import data_file

INSTRUMENT_ID = "BTCUSDT.BINANCE"

RUN_FILE = """\
[run]
name = "x"
catalog = "c"
instrument_id = "BTCUSDT-PERP.BINANCE"

[venue]
{venue}

[[strategies]]
strategy_path = "strategies.fixed_spread:FixedSpreadMarketMaker"
config_path = "strategies.fixed_spread:FixedSpreadMarketMakerConfig"
[strategies.config]
order_qty = "0.002"
max_inventory = "0.010"
"""
"""A minimal run file for config tests: fill ``{venue}``; lines appended go to [strategies.config]."""


def _fixture_ticks():
    instrument = TestInstrumentProvider.btcusdt_binance()
    q = pd.read_parquet(data_file("fixtures/binance/btcusdt-quotes.parquet"))
    q = q.rename(columns={"bid": "bid_price", "ask": "ask_price"}).set_index("timestamp")
    q = q[["bid_price", "ask_price", "bid_size", "ask_size"]].copy()
    quotes = QuoteTickDataWrangler(instrument).process(q)
    t = pd.read_parquet(data_file("fixtures/binance/btcusdt-trades.parquet"))
    t = t.set_index("timestamp")
    t["buyer_maker"] = t["buyer_maker"].astype(bool)
    t["trade_id"] = t["trade_id"].astype(str)
    trades = TradeTickDataWrangler(instrument).process(t[["price", "quantity", "buyer_maker", "trade_id"]])
    return instrument, quotes, trades


def _deltas_from_quotes(instrument, quotes):
    out = []
    for n, q in enumerate(quotes):
        ts = q.ts_init
        out.append(OrderBookDelta.clear(instrument.id, n, ts, ts))
        out.append(OrderBookDelta(instrument.id, BookAction.ADD,
                                  BookOrder(OrderSide.BUY, q.bid_price, q.bid_size, 0), 0, n, ts, ts))
        out.append(OrderBookDelta(instrument.id, BookAction.ADD,
                                  BookOrder(OrderSide.SELL, q.ask_price, q.ask_size, 0),
                                  RecordFlag.F_LAST, n, ts, ts))
    return out


def _write_catalog(path: Path, *batches: list) -> Path:
    catalog = ParquetDataCatalog(str(path))
    for batch in batches:
        catalog.write_data(batch)
    return path


@pytest.fixture(scope="session")
def l1_catalog(tmp_path_factory) -> Path:
    instrument, quotes, trades = _fixture_ticks()
    return _write_catalog(tmp_path_factory.mktemp("catalog_l1"), [instrument], quotes, trades)


@pytest.fixture(scope="session")
def l2_catalog(tmp_path_factory) -> Path:
    instrument, quotes, trades = _fixture_ticks()
    deltas = _deltas_from_quotes(instrument, quotes)
    return _write_catalog(tmp_path_factory.mktemp("catalog_l2"), [instrument], deltas, trades)
