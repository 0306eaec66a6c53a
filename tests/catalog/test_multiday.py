"""Several days and instruments in one catalog: per-day info, windows across days, a backtest over
the overnight gap.

Days: LOBSTER's real GOOG and AMZN 1-level days of 2012-06-21, plus a *generated* GOOG day
2012-06-22 (the 06-21 files renamed: LOBSTER times count from midnight ET, so the rows replay one
day later). Only the calendar is synthetic; every event is real.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.checkpoints import levels_equal, start_book
from catalog.info import catalog_days
from catalog.ingest import ingest_files
from catalog.loaders.lobster import redate_archive
from catalog.settings import data_file

GOOG_1 = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip"
AMZN_1 = "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_1.zip"


@pytest.fixture(scope="module")
def multiday(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("multiday")
    catalog = tmp / "catalog"
    day2 = redate_archive(data_file(GOOG_1), dt.date(2012, 6, 22), tmp / "generated")
    ingest_files("lobster", [data_file(GOOG_1), day2, data_file(AMZN_1)], catalog)
    return catalog


def test_info_lists_each_day_of_each_instrument(multiday):
    days = catalog_days(multiday)["days"]
    trades = {(r["day"], r["identifier"]): r["rows"] for r in days if r["type"] == "trade_tick"}
    assert trades == {
        ("2012-06-21", "AMZN.XNAS"): 11_419,
        ("2012-06-21", "GOOG.XNAS"): 11_678,
        ("2012-06-22", "GOOG.XNAS"): 11_678,
    }
    goog = [r for r in days if r["identifier"] == "GOOG.XNAS" and r["type"] == "order_book_deltas"]
    assert [r["start"][11:19] for r in goog] == ["13:30:00", "13:30:00"]  # 09:30 EDT both days


def test_cli_by_day_json(multiday):
    import json

    from typer.testing import CliRunner

    from amm.cli import app

    out = CliRunner().invoke(app, ["catalog", "info", "-c", str(multiday), "--by-day", "--json"])
    assert out.exit_code == 0, out.output
    assert {r["day"] for r in json.loads(out.stdout)["days"]} == {"2012-06-21", "2012-06-22"}


def test_a_window_across_the_night_replays_both_days_from_a_full_book(multiday):
    from catalog.window import load_window

    start, end = "2012-06-21T19:00:00Z", "2012-06-22T14:00:00Z"  # 15:00 ET day 1 -> 10:00 ET day 2
    window = load_window(multiday, "GOOG.XNAS", start, end, "L2_MBP")
    catalog = ParquetDataCatalog(str(multiday))
    all_deltas = catalog.query(OrderBookDelta, identifiers=["GOOG.XNAS"])
    s, e = pd.Timestamp(start).value, pd.Timestamp(end).value
    inside = [d for d in all_deltas if s <= d.ts_init <= e]
    batches = [x for x in window.data if isinstance(x, OrderBookDeltas)]
    replayed = sum(len(b.deltas) for b in batches) - len(window.start_book.deltas)
    assert replayed == len(inside)
    trades = [x for x in window.data if isinstance(x, TradeTick)]
    assert {pd.Timestamp(t.ts_event, tz="UTC").day for t in trades} == {21, 22}
    # the window opens on the book a replay of day 1 holds at 15:00 ET
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType

    book = OrderBook(window.instrument.id, BookType.L2_MBP)
    for d in all_deltas:
        if d.ts_init >= s:
            break
        book.apply_delta(d)
    image = start_book(multiday, "GOOG.XNAS", s, per_order=False)
    assert image is not None
    imaged = OrderBook(window.instrument.id, BookType.L2_MBP)
    imaged.apply_deltas(image)
    assert levels_equal(imaged, book) and len(book.bids()) > 0


@pytest.mark.slow
def test_a_backtest_across_two_sessions_is_flat_overnight(multiday, tmp_path):
    """Fixed-spread on GOOG from 15:00 ET on day 1 to 10:00 ET on day 2: flat by 15:59, trades again."""
    from backtests.config import load_run_config
    from backtests.runner import run_backtest

    config = Path(__file__).resolve().parents[2] / "backtests" / "configs" / "lobster_goog_baselines.toml"
    spec = load_run_config(config).with_overrides(
        catalog=multiday, out_dir=tmp_path, start="2012-06-21T19:00:00Z", end="2012-06-22T14:00:00Z",
    )
    from dataclasses import replace

    spec = replace(spec, strategies=spec.strategies[:1])
    (run,) = run_backtest(spec, progress=False, tearsheets=False).strategies
    fills = pd.read_csv(run.directory / "fills.csv")
    fills = fills.iloc[pd.to_datetime(fills["ts_event"], utc=True).argsort(kind="stable")].reset_index(drop=True)
    ts = pd.to_datetime(fills["ts_event"], utc=True)
    signed = fills["last_qty"] * fills["order_side"].map({"BUY": 1, "SELL": -1})
    flat_by = pd.Timestamp("2012-06-21T19:59:00Z")  # 15:59 EDT: the closing order goes out here
    closing = fills[(ts >= flat_by) & (ts < flat_by + pd.Timedelta(seconds=5))]
    assert set(closing["liquidity_side"]) <= {"TAKER"}
    assert signed[ts < flat_by + pd.Timedelta(seconds=5)].sum() == 0  # flat for the night
    overnight = (ts >= flat_by + pd.Timedelta(seconds=5)) & (ts < pd.Timestamp("2012-06-22T13:30:00Z"))
    assert not overnight.any()
    assert (ts > pd.Timestamp("2012-06-22T13:30:00Z")).sum() > 0  # quoting resumed at the open
