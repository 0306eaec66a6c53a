"""load_window / data_span on catalogs built from the Binance BTCUSDT fixture samples."""

from __future__ import annotations

import pytest
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.window import CatalogDataError, data_span, load_window, monotonic_ts_event, to_ns

from .conftest import INSTRUMENT_ID

START_NS = 1610064000278000000  # first trade of fixtures/binance/btcusdt-trades.parquet
END_NS = 1610064046674000000


def test_l1_window_has_quotes_and_trades_sorted(l1_catalog):
    window = load_window(l1_catalog, INSTRUMENT_ID, None, None, "L1_MBP")
    inst, data = window.instrument, window.data
    assert str(inst.id) == INSTRUMENT_ID
    kinds = {type(d) for d in data}
    assert kinds == {QuoteTick, TradeTick}
    assert len(data) == 451 + 2001
    ts = [d.ts_init for d in data]
    assert ts == sorted(ts)


def test_window_bounds_are_applied(l1_catalog):
    data = load_window(l1_catalog, INSTRUMENT_ID, "2021-01-08T00:00:10Z", "2021-01-08T00:00:20Z", "L1_MBP").data
    lo, hi = to_ns("2021-01-08T00:00:10Z"), to_ns("2021-01-08T00:00:20Z")
    assert data and all(lo <= d.ts_init <= hi for d in data)


def test_l2_window_has_delta_batches_trades_no_quotes(l2_catalog):
    data = load_window(l2_catalog, INSTRUMENT_ID, None, None, "L2_MBP").data
    kinds = {type(d) for d in data}
    assert kinds == {OrderBookDeltas, TradeTick}
    # one batch per message (CLEAR + bid + ask per fixture quote), never single deltas
    assert all(len(d.deltas) == 3 for d in data if isinstance(d, OrderBookDeltas))


def test_l1_ts_event_is_made_non_decreasing_in_replay_order(l1_catalog):
    data = load_window(l1_catalog, INSTRUMENT_ID, None, None, "L1_MBP").data
    late = [d for d in data if isinstance(d, TradeTick)][5]
    early = TradeTick(late.instrument_id, late.price, late.size, late.aggressor_side, late.trade_id,
                      late.ts_event - 10, late.ts_init + 1)
    out, raised = monotonic_ts_event([late, early])
    assert raised == 1
    assert (out[1].ts_event, out[1].ts_init) == (late.ts_event, late.ts_init + 1)
    assert out[1].price == late.price and out[0] is late


def test_l2_needs_deltas(l1_catalog):
    with pytest.raises(CatalogDataError, match="no OrderBookDelta data for BTCUSDT.BINANCE.*amm ingest"):
        load_window(l1_catalog, INSTRUMENT_ID, None, None, "L2_MBP")


def test_missing_instrument_and_catalog(l1_catalog, tmp_path):
    with pytest.raises(CatalogDataError, match=r"instrument BTCUSDT-PERP.BINANCE not in catalog \(has \['BTCUSDT.BINANCE'\]\)"):
        load_window(l1_catalog, "BTCUSDT-PERP.BINANCE", None, None, "L1_MBP")
    with pytest.raises(CatalogDataError, match="not a data catalog.*amm ingest"):
        load_window(tmp_path, INSTRUMENT_ID, None, None, "L1_MBP")


def test_empty_window_says_what_the_catalog_covers(l1_catalog):
    with pytest.raises(CatalogDataError, match="catalog covers 2021-01-08T00:00:00.278"):
        load_window(l1_catalog, INSTRUMENT_ID, "2022-01-01", "2022-01-02", "L1_MBP")


def test_data_span(l1_catalog, l2_catalog):
    assert data_span(l1_catalog, INSTRUMENT_ID) == (START_NS, END_NS)
    assert data_span(l2_catalog, INSTRUMENT_ID)[0] == START_NS


def test_to_ns_formats():
    assert to_ns(None) is None
    assert to_ns(5) == 5
    assert to_ns("5") == 5
    assert to_ns("1970-01-01T00:00:01Z") == 1_000_000_000
    assert to_ns("1970-01-01 00:00:01") == 1_000_000_000  # naive = UTC
    with pytest.raises(ValueError, match="start: cannot parse"):
        to_ns("yesterday-ish", name="start")


def test_catalog_written_by_write_data_is_readable(l1_catalog):
    assert ParquetDataCatalog(str(l1_catalog)).instruments()
