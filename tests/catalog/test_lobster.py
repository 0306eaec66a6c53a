"""``amm ingest lobster`` on LOBSTER's full NASDAQ days (``../shared/data/lobster/``).

The evidence the data path is exact: every execution in the message file comes back as a trade
(GOOG 11,678 executions / 706,125 shares; AMZN 11,419 / 810,755) with the aggressor opposite the
executed order, and a Nautilus ``OrderBook`` rebuilt from the catalog's deltas equals the file's
orderbook row after every one of the day's messages. Edge cases (bad rows, strict mode, a broken
pair) run on the first rows of the real GOOG file, corrupted on purpose.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookType, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Equity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.ingest import ingest_files
from catalog.loaders.lobster import PRICE_SCALE, find_days
from catalog.quality import DataQualityError
from catalog.settings import data_file
from tests.conftest import LOBSTER_AMZN, LOBSTER_GOOG

DAY_START_UTC_NS = 1_340_251_200_000_000_000  # 2012-06-21 00:00 EDT (PROVENANCE.md)


def _read_day(relative: str) -> tuple[pd.DataFrame, np.ndarray]:
    (day,) = find_days([data_file(relative)])
    with zipfile.ZipFile(day.archive) as z:
        msg = pd.read_csv(z.open(day.message), header=None)
        book = pd.read_csv(z.open(day.orderbook), header=None).to_numpy(np.int64)
    return msg, book


@pytest.mark.parametrize(
    ("relative", "iid", "executions", "shares"),
    [(LOBSTER_GOOG, "GOOG.XNAS", 11_678, 706_125), (LOBSTER_AMZN, "AMZN.XNAS", 11_419, 810_755)],
)
def test_every_execution_is_a_trade_with_the_right_aggressor(lobster_catalog, relative, iid, executions, shares):
    msg, _ = _read_day(relative)
    trades = ParquetDataCatalog(str(lobster_catalog)).query(TradeTick, identifiers=[iid])
    assert len(trades) == executions
    assert sum(int(t.size) for t in trades) == shares
    ex = msg[msg[1].isin([4, 5])]
    expected_side = np.where(ex[5].to_numpy() == 1, AggressorSide.SELLER, AggressorSide.BUYER)
    assert [t.aggressor_side for t in trades] == list(expected_side)
    assert [round(t.price.as_double() * PRICE_SCALE) for t in trades] == ex[4].tolist()
    assert sum(round(t.price.as_double() * PRICE_SCALE) % 100 != 0 for t in trades) > 0  # half-cents kept
    # UTC on that EDT date: 09:30:00 ET is 13:30 UTC
    expected_ts = DAY_START_UTC_NS + np.rint(ex[0].to_numpy() * 1e9).astype(np.int64)
    assert [t.ts_event for t in trades] == expected_ts.tolist()
    assert len({t.trade_id.value for t in trades}) == executions


def _top(book: OrderBook, levels: int) -> list[int]:
    """The book as a LOBSTER row: askP1, askS1, bidP1, bidS1, ... with the empty-level sentinels."""
    asks = [(round(lv.price.as_double() * PRICE_SCALE), int(lv.size())) for lv in book.asks()[:levels]]
    bids = [(round(lv.price.as_double() * PRICE_SCALE), int(lv.size())) for lv in book.bids()[:levels]]
    asks += [(9_999_999_999, 0)] * (levels - len(asks))
    bids += [(-9_999_999_999, 0)] * (levels - len(bids))
    row: list[int] = []
    for (ap, as_), (bp, bs) in zip(asks, bids, strict=True):
        row += [ap, as_, bp, bs]
    return row


@pytest.mark.parametrize(("relative", "iid", "levels"), [(LOBSTER_GOOG, "GOOG.XNAS", 10), (LOBSTER_AMZN, "AMZN.XNAS", 5)])
def test_book_from_the_catalog_equals_every_orderbook_row(lobster_catalog, relative, iid, levels):
    """A whole day: after each message the rebuilt book is the file's row (prices and sizes)."""
    _, rows = _read_day(relative)
    deltas = ParquetDataCatalog(str(lobster_catalog)).query(OrderBookDelta, identifiers=[iid])
    book = OrderBook(InstrumentId.from_str(iid), BookType.L2_MBP)
    k = 0
    checked = 0
    for i, row in enumerate(rows):
        line = i + 1
        applied = False
        while k < len(deltas) and deltas[k].sequence == line:
            book.apply_delta(deltas[k])
            applied = True
            k += 1
        assert k == len(deltas) or deltas[k].sequence > line, f"delta for line {deltas[k].sequence} out of order"
        if applied:
            assert deltas[k - 1].flags & RecordFlag.F_LAST, f"line {line}: its last delta lacks F_LAST"
        if applied or i == 0 or not np.array_equal(row, rows[i - 1]):
            assert _top(book, levels) == row.tolist(), f"{relative}: book differs after message line {line}"
            checked += 1
    assert k == len(deltas)
    assert checked > 0.5 * len(rows)  # most messages change the visible book


def test_quotes_are_the_top_of_book_and_the_instrument_is_a_nasdaq_equity(lobster_catalog):
    catalog = ParquetDataCatalog(str(lobster_catalog))
    (goog,) = [i for i in catalog.instruments() if i.id.value == "GOOG.XNAS"]
    assert isinstance(goog, Equity)
    assert goog.price_increment.as_double() == 0.01 and str(goog.size_increment) == "1"
    assert goog.price_precision == 4  # hidden midpoint executions print at half-cents
    assert goog.quote_currency.code == "USD"
    _, rows = _read_day(LOBSTER_GOOG)
    quotes = catalog.query(QuoteTick, identifiers=["GOOG.XNAS"])
    tops = {(r[2], r[3], r[0], r[1]) for r in rows}
    assert all(
        (round(q.bid_price.as_double() * PRICE_SCALE), int(q.bid_size), round(q.ask_price.as_double() * PRICE_SCALE), int(q.ask_size)) in tops
        for q in quotes
    )
    assert all(a.ts_event < b.ts_event or (a.bid_price, a.ask_price, a.bid_size, a.ask_size) != (b.bid_price, b.ask_price, b.bid_size, b.ask_size)
               for a, b in zip(quotes, quotes[1:], strict=False))
    first, last = quotes[0].ts_event, quotes[-1].ts_event
    assert first >= DAY_START_UTC_NS + 34_200 * 10**9 and last < DAY_START_UTC_NS + 57_600 * 10**9


def test_quality_report_says_what_the_files_cannot_give(lobster_catalog):
    import json

    (report,) = sorted((lobster_catalog / "quality").glob("*_lobster.json"))
    notes = json.loads(report.read_text())["notes"]
    assert any("GOOG.XNAS 2012-06-21: 11,678 executions, 706,125 shares" in n for n in notes)
    assert any("top 10 level(s) only" in n for n in notes) and any("top 5 level(s) only" in n for n in notes)
    assert any("resting before the open" in n and "GOOG.XNAS" in n for n in notes)
    assert any("full-book checkpoint" in n for n in notes)


# -- edge cases on the first rows of the real GOOG day -----------------------------------------------


def _write_pair(tmp_path: Path, n: int, *, edit=None, book_rows: int | None = None, as_zip: bool = False) -> Path:
    """The first ``n`` rows of the real GOOG 10-level day as a CSV pair (or zip), optionally edited."""
    with zipfile.ZipFile(data_file(LOBSTER_GOOG)) as z:
        names = z.namelist()
        msg_name = next(m for m in names if "_message_" in m)
        book_name = next(m for m in names if "_orderbook_" in m)
        msg_lines = z.open(msg_name).read().decode().splitlines()[:n]
        book_lines = z.open(book_name).read().decode().splitlines()[: book_rows or n]
    if edit:
        edit(msg_lines, book_lines)
    tmp_path.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = tmp_path / "sample.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(msg_name, "\n".join(msg_lines) + "\n")
            z.writestr(book_name, "\n".join(book_lines) + "\n")
        return path
    (tmp_path / book_name).write_text("\n".join(book_lines) + "\n")
    path = tmp_path / msg_name
    path.write_text("\n".join(msg_lines) + "\n")
    return path


def _cross_row(msgs: list[str], books: list[str], line: int = 50) -> None:
    cols = books[line - 1].split(",")
    cols[2] = str(int(cols[0]) + 100)  # best bid one tick above the best ask
    books[line - 1] = ",".join(cols)


def test_bad_rows_are_dropped_by_line_and_strict_mode_refuses_them(tmp_path):
    def edit(msgs: list[str], books: list[str]) -> None:
        _cross_row(msgs, books, 50)
        parts = msgs[79].split(",")
        parts[1] = "9"  # no such event type
        msgs[79] = ",".join(parts)
        parts = msgs[119].split(",")
        parts[4] = "abc"
        msgs[119] = ",".join(parts)

    path = _write_pair(tmp_path / "csv", 300, edit=edit)
    result = ingest_files("lobster", [path], tmp_path / "cat")
    dropped = result.report.dropped
    assert dropped == {"crossed_book": 1, "malformed": 2}
    lines = {e.line for e in result.report.events}
    assert {50, 80, 120} <= lines
    assert result.report.rows_read["lobster.message"] == 300

    catalog = tmp_path / "strict"
    with pytest.raises(DataQualityError, match=r"_orderbook_10\.csv:50: crossed_book"):
        ingest_files("lobster", [path], catalog, strict=True)
    assert not list(catalog.glob("data/**/*.parquet"))  # nothing half-written


def test_a_pair_with_different_row_counts_is_refused(tmp_path):
    path = _write_pair(tmp_path, 200, book_rows=150)
    with pytest.raises(DataQualityError, match="fewer rows than the message file"):
        ingest_files("lobster", [path], tmp_path / "cat")


def test_zip_and_csv_give_the_same_catalog_and_reingest_adds_nothing(tmp_path):
    as_csv = _write_pair(tmp_path / "csv", 2_000)
    as_zip = _write_pair(tmp_path / "zip", 2_000, as_zip=True)
    a = ingest_files("lobster", [as_csv], tmp_path / "a")
    b = ingest_files("lobster", [as_zip], tmp_path / "b")
    assert a.report.rows_written == b.report.rows_written
    again = ingest_files("lobster", [as_zip], tmp_path / "b")
    assert sum(again.commit.rows_added.values()) == 0
    assert sum(again.commit.duplicate_rows_removed.values()) >= sum(b.report.rows_written.values())


def test_the_same_day_at_two_depths_is_refused(tmp_path):
    with pytest.raises(DataQualityError, match="also given as"):
        find_days([data_file(LOBSTER_GOOG), data_file("lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip")])


def test_a_file_that_is_not_lobster_is_named(tmp_path):
    bad = tmp_path / "quotes.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(DataQualityError, match="quotes.csv: not a LOBSTER file name"):
        ingest_files("lobster", [bad], tmp_path / "cat")
