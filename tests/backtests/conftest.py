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


@pytest.fixture(scope="session")
def l1_catalog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog_l1")
    instrument, quotes, trades = _fixture_ticks()
    cat = ParquetDataCatalog(str(path))
    cat.write_data([instrument])
    cat.write_data(quotes)
    cat.write_data(trades)
    return path


@pytest.fixture(scope="session")
def l2_catalog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog_l2")
    instrument, quotes, trades = _fixture_ticks()
    cat = ParquetDataCatalog(str(path))
    cat.write_data([instrument])
    cat.write_data(_deltas_from_quotes(instrument, quotes))
    cat.write_data(trades)
    return path
