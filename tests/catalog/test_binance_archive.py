"""``binance-csv`` on Binance public-archive files: trades, aggTrades and bookTicker, for spot,
USD-M and COIN-M, zipped or plain, with or without a header row.

The archive itself is not in the shared data, so its files are rebuilt here, in the layouts the
archive documents (github.com/binance/binance-public-data README; futures bookTicker header as the
archive ships it), from real recordings in ``<data_dir>`` (PROVENANCE.md):

* spot trades (no header, 7 columns): ``fixtures/binance/btcusdt-trades.parquet`` (BTCUSDT spot,
  2021-01-08, 2,001 trades); ``quote_qty`` = price x qty.
* USD-M aggTrades and bookTicker (header rows): the ``trade`` and ``bookTicker`` streams of
  ``binance_ws/usdm/btcusdt_20240808.gz``. An aggTrade is a run of consecutive trades with the same
  time, price and side (one taker order at one price, Binance's rule); its id is synthetic,
  numbered from 1, its first/last trade ids are the real ones.
* COIN-M trades (header, ``base_qty`` = qty x 100 / price, qty in contracts): the ``trade`` stream
  of ``binance_ws/cm/btcusd_perp_20240808.gz``.
* spot aggTrades in the 2025 layout (no header, 8 columns, microsecond times): the ``trade`` stream
  of ``binance_ws/spot/btcusdt_20240808.gz`` with its ms times written as us.

``archive_files()`` lays them out as the archive does, with correct ``.CHECKSUM`` files, for the
download tests (``tests/catalog/test_download.py``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide

from catalog.loaders.binance_csv import AGG_TRADE_COLUMNS, BOOK_TICKER_COLUMNS, detect_layout
from catalog.loaders.registry import make_loader
from catalog.quality import DataQualityError, QualityReport
from catalog.settings import data_dir

DATA = data_dir()
SPOT_TRADES_PARQUET = DATA / "fixtures/binance/btcusdt-trades.parquet"
USDM_CAPTURE = DATA / "binance_ws/usdm/btcusdt_20240808.gz"
COINM_CAPTURE = DATA / "binance_ws/cm/btcusd_perp_20240808.gz"
SPOT_CAPTURE = DATA / "binance_ws/spot/btcusdt_20240808.gz"

pytestmark = pytest.mark.skipif(
    not (SPOT_TRADES_PARQUET.exists() and USDM_CAPTURE.exists() and COINM_CAPTURE.exists()),
    reason=f"real data not found under {DATA} (set AMM_DATA_DIR)",
)

BOOK_TICKER_ROWS = 4_000
"""bookTicker rows taken from the USD-M capture (of 66,089): enough for every check, and fast."""

HEADERS = {
    "usdm-trades": "id,price,qty,quote_qty,time,is_buyer_maker",
    "coinm-trades": "id,price,qty,base_qty,time,is_buyer_maker",
    "futures-aggTrades": ",".join(AGG_TRADE_COLUMNS[:7]),
    "futures-bookTicker": ",".join(BOOK_TICKER_COLUMNS),
    "spot-trades": "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match",
}

SPOT_2021_SPEC = """\
["BTCUSDT.BINANCE"]
kind = "currency_pair"
raw_symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.000001"
min_quantity = "0.000001"
maker_fee = "0.001"
taker_fee = "0.001"
"""
"""BTCUSDT spot as of 2021 (lot 1e-6, fixtures/binance/btcusdt-instrument.txt): the shipped spec
has 2024's lot of 1e-5, which would round the 2021 fixture's quantities."""


# -- archive files rebuilt from the recordings ----------------------------------------------------


@functools.cache
def ws_messages(capture: Path, stream: str) -> tuple[dict, ...]:
    """The ``data`` of every ``<symbol>@<stream>`` message of a capture, in file order."""
    marker = f'@{stream}"'
    out = []
    with gzip.open(capture, "rt") as fh:
        for line in fh:
            if marker in line:
                out.append(json.loads(line.split(" ", 1)[1])["data"])
    return tuple(out)


def _bool(value: bool, spot: bool) -> str:
    return ("True" if value else "False") if spot else ("true" if value else "false")


@functools.cache
def spot_trades_rows() -> tuple[str, ...]:
    """Spot trades (archive layout, no header) from the 2021 fixture."""
    df = pd.read_parquet(SPOT_TRADES_PARQUET)
    ms = df["timestamp"].dt.tz_convert(None).astype("datetime64[ms]").astype("int64")
    rows = []
    for tid, px, qty, t, maker in zip(df["trade_id"], df["price"], df["quantity"], ms, df["buyer_maker"], strict=True):
        rows.append(f"{tid},{px:.8f},{qty:.8f},{px * qty:.8f},{t},{_bool(maker == 'True', True)},True")
    return tuple(rows)


@functools.cache
def usdm_agg_trades_rows() -> tuple[str, ...]:
    """USD-M aggTrades (archive layout, without the header) from the capture's trade stream."""
    trades = [t for t in ws_messages(USDM_CAPTURE, "trade") if t.get("X", "MARKET") == "MARKET"]
    rows: list[str] = []
    run: list[dict] = []

    def close() -> None:
        qty = sum(float(t["q"]) for t in run)
        first = run[0]
        rows.append(f"{len(rows) + 1},{first['p']},{qty:.3f},{first['t']},{run[-1]['t']},{first['T']},"
                    f"{_bool(first['m'], False)}")

    for t in trades:
        if run and (t["T"], t["p"], t["m"]) != (run[0]["T"], run[0]["p"], run[0]["m"]):
            close()
            run = []
        run.append(t)
    close()
    return tuple(rows)


@functools.cache
def usdm_book_ticker_rows() -> tuple[str, ...]:
    """USD-M bookTicker (archive layout, without the header): the capture's first rows."""
    msgs = ws_messages(USDM_CAPTURE, "bookTicker")[:BOOK_TICKER_ROWS]
    return tuple(f"{m['u']},{m['b']},{m['B']},{m['a']},{m['A']},{m['T']},{m['E']}" for m in msgs)


@functools.cache
def coinm_trades_rows() -> tuple[str, ...]:
    """COIN-M trades (archive layout, without the header) from the capture's trade stream."""
    trades = [t for t in ws_messages(COINM_CAPTURE, "trade") if t.get("X", "MARKET") == "MARKET"]
    return tuple(
        f"{t['t']},{t['p']},{t['q']},{float(t['q']) * 100 / float(t['p']):.8f},{t['T']},{_bool(t['m'], False)}"
        for t in trades
    )


@functools.cache
def spot_agg_trades_us_rows() -> tuple[str, ...]:
    """Spot aggTrades in the 2025 layout (us times, 8 columns, no header), one trade per row."""
    trades = ws_messages(SPOT_CAPTURE, "trade")
    return tuple(
        f"{i + 1},{t['p']},{t['q']},{t['t']},{t['t']},{t['T'] * 1000 + 7},{_bool(t['m'], True)},True"
        for i, t in enumerate(trades)
    )


def csv_text(rows: tuple[str, ...] | list[str], header: str | None = None) -> str:
    return "".join(f"{r}\n" for r in ([header] if header else []) + list(rows))


def zip_bytes(csv_name: str, text: str) -> bytes:
    """A zip holding one CSV, as the archive ships it (fixed member time: stable digest)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(csv_name, date_time=(2024, 8, 9, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def checksum_file(body: bytes, name: str) -> bytes:
    """A ``.CHECKSUM`` as the archive writes it (what ``sha256sum -c`` reads)."""
    return f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode()


ARCHIVE = {
    # archive path below data/ -> (rows, header)
    "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2021-01-08": (spot_trades_rows, None),
    "futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-08-08": (usdm_agg_trades_rows, HEADERS["futures-aggTrades"]),
    "futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-08-08": (usdm_book_ticker_rows, HEADERS["futures-bookTicker"]),
    "futures/cm/daily/trades/BTCUSD_PERP/BTCUSD_PERP-trades-2024-08-08": (coinm_trades_rows, HEADERS["coinm-trades"]),
}


def archive_files() -> dict[str, bytes]:
    """URL path (``/data/...zip`` and ``.zip.CHECKSUM``) -> bytes, for a local archive server."""
    out = {}
    for stem, (rows, header) in ARCHIVE.items():
        name = stem.rsplit("/", 1)[1]
        body = zip_bytes(f"{name}.csv", csv_text(rows(), header))
        out[f"/data/{stem}.zip"] = body
        out[f"/data/{stem}.zip.CHECKSUM"] = checksum_file(body, f"{name}.zip")
    return out


# -- helpers --------------------------------------------------------------------------------------


def load(files: list[Path], strict: bool = False, **options) -> tuple[list, list, QualityReport]:
    report = QualityReport("binance-csv", strict=strict)
    loader = make_loader("binance-csv", **options)
    data = list(loader.iter_data(files, report))
    return data, loader.instruments(), report


def write(tmp_path: Path, name: str, rows, header: str | None, zipped: bool) -> Path:
    text = csv_text(rows, header)
    if zipped:
        path = tmp_path / f"{name}.zip"
        path.write_bytes(zip_bytes(f"{name}.csv", text))
    else:
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
    return path


every_file_form = pytest.mark.parametrize(
    ("header", "zipped"), [(header, zipped) for header in (True, False) for zipped in (True, False)],
)
"""The forms an archive file comes in: with or without its header row, as the zip or unpacked."""


def load_usdm_file(tmp_path: Path, name: str, rows: tuple[str, ...], layout: str, *, header: bool, zipped: bool):
    """Write ``rows`` as one archive file of ``layout`` (``HEADERS`` key), with or without its
    header, zipped or not, and load it as USD-M data: nothing may be dropped."""
    path = write(tmp_path, name, rows, HEADERS[layout] if header else None, zipped)
    data, instruments, report = load([path], instrument_id="BTCUSDT-PERP.BINANCE")
    assert report.dropped == {}
    assert len(data) == len(rows)
    return data, instruments, report


# -- layouts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "kind", "header"),
    [
        ("553287559,39432.48,0.000263,10.37,1610064000278,True,True", "trades", False),
        ("5266583935,61800.30,0.006,370.8,1723161256322,false", "trades", False),
        (HEADERS["usdm-trades"], "trades", True),
        (HEADERS["coinm-trades"], "trades", True),
        ("id,price,qty,quoteQty,time,isBuyerMaker", "trades", True),
        ("1,61837.63,0.02,3735683259,3735683259,1723161255342000,True,True", "aggTrades", False),
        ("26129,0.01633102,4.70443515,27781,27781,1498793709153,true", "aggTrades", False),
        (HEADERS["futures-aggTrades"], "aggTrades", True),
        ("5123107839020,61800.20,2.507,61800.30,2.510,1723161256313,1723161256313", "bookTicker", False),
        (HEADERS["futures-bookTicker"], "bookTicker", True),
    ],
)
def test_detect_layout(tmp_path, first_line, kind, header):
    path = tmp_path / "x.csv"
    path.write_text(first_line + "\n")
    layout = detect_layout(path)
    assert (layout.kind, layout.header) == (kind, header)
    if "base_qty" in first_line:
        assert "base_qty" in layout.columns


def test_detect_layout_rejects_other_files(tmp_path):
    kline = tmp_path / "BTCUSDT-1m-2024-08-08.csv"
    kline.write_text("1601510340000,4.15,4.16,4.15,4.155,539.23,1601510399999,2240.39,13,401.82,1669.98,0\n")
    with pytest.raises(DataQualityError, match=r"BTCUSDT-1m-2024-08-08.csv: not a Binance depth, trades"):
        detect_layout(kline)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.csv", "1\n")
        zf.writestr("b.csv", "2\n")
    with pytest.raises(DataQualityError, match="two.zip: a Binance archive zip holds one CSV; this one holds 2"):
        detect_layout(two)


# -- each kind on the rebuilt files ---------------------------------------------------------------


@every_file_form
def test_usdm_book_ticker(tmp_path, zipped, header):
    rows = usdm_book_ticker_rows()
    data, instruments, report = load_usdm_file(
        tmp_path, "BTCUSDT-bookTicker-2024-08-08", rows, "futures-bookTicker", header=header, zipped=zipped)
    assert len(rows) == BOOK_TICKER_ROWS
    assert all(isinstance(q, QuoteTick) for q in data)
    first = ws_messages(USDM_CAPTURE, "bookTicker")[0]
    q = data[0]
    assert (str(q.bid_price), str(q.bid_size), str(q.ask_price), str(q.ask_size)) == (
        "61800.2", "2.507", "61800.3", "2.510")
    assert q.ts_event == first["T"] * 1_000_000 and q.ts_init == first["E"] * 1_000_000
    assert [i.id.value for i in instruments] == ["BTCUSDT-PERP.BINANCE"]
    assert report.rows_read == {"binance.bookTicker": len(rows)}


def test_book_ticker_without_instrument_notes_the_futures_layout(tmp_path):
    path = write(tmp_path, "BTCUSDT-bookTicker-2024-08-08", usdm_book_ticker_rows()[:50], HEADERS["futures-bookTicker"],
                 True)
    data, instruments, report = load([path])
    assert instruments[0].id.value == "BTCUSDT.BINANCE"
    assert any("--instrument BTCUSDT-PERP.BINANCE" in n for n in report.notes)


def test_book_ticker_bad_rows(tmp_path):
    rows = list(usdm_book_ticker_rows()[:100])
    u, b, bq, a, aq, t, e = rows[10].split(",")
    rows[10] = ",".join([u, a, bq, b, aq, t, e])  # line 12 (after the header): bid > ask
    rows[20] = rows[19]  # line 22: the same row again
    rows[30] = ",".join([str(int(rows[29].split(",")[0]) - 5), *rows[30].split(",")[1:]])  # line 32: update id back
    u, b, bq, a, aq, t, e = rows[40].split(",")
    rows[40] = ",".join([u, "", bq, a, aq, t, e])  # line 42: empty bid
    path = write(tmp_path, "BTCUSDT-bookTicker-2024-08-08", rows, HEADERS["futures-bookTicker"], False)
    data, _, report = load([path], instrument_id="BTCUSDT-PERP.BINANCE")
    assert report.dropped == {"crossed_book": 1, "duplicate": 1, "out_of_order": 1, "nan": 1}
    assert len(data) == 96
    with pytest.raises(DataQualityError, match=r"bookTicker-2024-08-08.csv:12: crossed_book"):
        load([path], strict=True, instrument_id="BTCUSDT-PERP.BINANCE")


@every_file_form
def test_usdm_agg_trades(tmp_path, zipped, header):
    rows = usdm_agg_trades_rows()
    data, instruments, report = load_usdm_file(
        tmp_path, "BTCUSDT-aggTrades-2024-08-08", rows, "futures-aggTrades", header=header, zipped=zipped)
    assert all(isinstance(t, TradeTick) for t in data)
    assert [str(t.trade_id) for t in data[:3]] == ["1", "2", "3"]  # trade id = agg trade id
    trades = [t for t in ws_messages(USDM_CAPTURE, "trade") if t.get("X", "MARKET") == "MARKET"]
    assert sum(t.size.as_double() for t in data) == pytest.approx(sum(float(t["q"]) for t in trades))
    assert data[0].aggressor_side == (AggressorSide.SELLER if trades[0]["m"] else AggressorSide.BUYER)
    assert data[0].ts_init == trades[0]["T"] * 1_000_000


def test_coinm_trades_have_base_qty_and_a_perp_id(tmp_path):
    rows = coinm_trades_rows()
    path = write(tmp_path, "BTCUSD_PERP-trades-2024-08-08", rows, HEADERS["coinm-trades"], True)
    data, instruments, report = load([path])  # the _PERP symbol alone gives the COIN-M id
    assert [i.id.value for i in instruments] == ["BTCUSD-PERP.BINANCE"]
    assert report.dropped == {} and len(data) == len(rows)
    first = ws_messages(COINM_CAPTURE, "trade")[0]
    assert (str(data[0].trade_id), str(data[0].size)) == (str(first["t"]), first["q"])  # qty in contracts
    assert not report.notes


def test_spot_trades_zip_from_the_2021_fixture(tmp_path):
    spec = tmp_path / "spot2021.toml"
    spec.write_text(SPOT_2021_SPEC)
    rows = spot_trades_rows()
    path = write(tmp_path, "BTCUSDT-trades-2021-01-08", rows, None, True)
    data, instruments, report = load([path], spec_file=spec)
    df = pd.read_parquet(SPOT_TRADES_PARQUET)
    assert report.dropped == {} and len(data) == len(df) == 2001
    assert instruments[0].id.value == "BTCUSDT.BINANCE" and not report.notes
    assert str(data[0].trade_id) == str(df["trade_id"].iloc[0])
    assert data[0].ts_init == df["timestamp"].iloc[0].value == 1610064000278000000
    assert data[0].size.as_double() == pytest.approx(df["quantity"].iloc[0])
    assert Counter(t.aggressor_side for t in data) == Counter(
        AggressorSide.SELLER if m == "True" else AggressorSide.BUYER for m in df["buyer_maker"])


def test_spot_agg_trades_in_microseconds(tmp_path):
    rows = spot_agg_trades_us_rows()
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-02", rows, None, True)
    data, instruments, report = load([path])
    first = ws_messages(SPOT_CAPTURE, "trade")[0]
    assert data[0].ts_init == first["T"] * 1_000_000 + 7_000  # us detected from the magnitude
    assert report.dropped == {} and len(data) == len(rows)
    assert instruments[0].id.value == "BTCUSDT.BINANCE" and not report.notes


def test_agg_trades_duplicate_id_and_corrupt_zip(tmp_path):
    rows = list(usdm_agg_trades_rows()[:50])
    rows[5] = rows[4]
    path = write(tmp_path, "BTCUSDT-aggTrades-2024-08-08", rows, HEADERS["futures-aggTrades"], False)
    data, _, report = load([path], instrument_id="BTCUSDT-PERP.BINANCE")
    assert report.dropped == {"duplicate": 1} and len(data) == 49
    with pytest.raises(DataQualityError, match=r"aggTrades-2024-08-08.csv:7: duplicate in field 'agg_trade_id'"):
        load([path], strict=True, instrument_id="BTCUSDT-PERP.BINANCE")
    good = zip_bytes("BTCUSDT-aggTrades-2024-08-08.csv", csv_text(usdm_agg_trades_rows(), HEADERS["futures-aggTrades"]))
    cut = tmp_path / "BTCUSDT-aggTrades-2024-08-09.zip"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataQualityError, match="BTCUSDT-aggTrades-2024-08-09.zip: cannot read"):
        load([cut], instrument_id="BTCUSDT-PERP.BINANCE")


def test_usdm_trades_with_header_note_and_roundtrip(tmp_path):
    trades = [t for t in ws_messages(USDM_CAPTURE, "trade") if t.get("X", "MARKET") == "MARKET"][:500]
    rows = [f"{t['t']},{t['p']},{t['q']},{float(t['p']) * float(t['q']):.5f},{t['T']},{_bool(t['m'], False)}"
            for t in trades]
    path = write(tmp_path, "BTCUSDT-trades-2024-08-08", rows, HEADERS["usdm-trades"], True)
    data, instruments, report = load([path])
    assert any("futures layout" in n for n in report.notes)
    data, instruments, report = load([path], instrument_id="BTCUSDT-PERP.BINANCE")
    assert not report.notes and len(data) == 500 and report.dropped == {}
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    catalog = ParquetDataCatalog(str(tmp_path / "catalog"))
    catalog.write_data(instruments)
    catalog.write_data(data)
    assert len(catalog.trade_ticks(instrument_ids=["BTCUSDT-PERP.BINANCE"])) == 500
