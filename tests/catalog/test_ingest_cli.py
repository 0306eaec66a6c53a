"""``amm ingest`` and ``amm catalog info`` end to end, on the real Binance captures.

Files: ``binance_ws/spot/btcusdt_20240808.gz`` + ``btcusdt_20240809.gz`` (one session) and
``binance_ws/usdm/btcusdt_20240808.gz``. Bad-input cases are cut from those real files (truncated
gzip, a malformed line spliced in) or are minimal files (empty), and each checks that a catalog
already holding data is left byte-for-byte unchanged.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.settings import data_dir
from tests.helpers import amm, tree_digest

SPOT = [data_dir() / "binance_ws/spot/btcusdt_20240808.gz", data_dir() / "binance_ws/spot/btcusdt_20240809.gz"]
USDM = data_dir() / "binance_ws/usdm/btcusdt_20240808.gz"


def info(capsys, catalog: Path) -> dict:
    code, out, err = amm(capsys, "catalog", "info", "--catalog", str(catalog), "--json")
    assert code == 0, err
    return json.loads(out)


def ingest_report(capsys, fmt: str, files: list[Path], catalog: Path, *options: str) -> dict:
    """Ingest ``files`` (it must succeed) and return the JSON report."""
    code, out, err = amm(capsys, "ingest", fmt, *map(str, files), "--catalog", str(catalog), "--json", *options)
    assert code == 0, err
    return json.loads(out)


def ingest_fails(capsys, fmt: str, bad: Path, catalog: Path, *options: str) -> str:
    """Ingest ``bad``: it must exit 1 and leave ``catalog`` byte for byte as it was; return stderr."""
    before = tree_digest(catalog)
    code, _, err = amm(capsys, "ingest", fmt, str(bad), "--catalog", str(catalog), *options)
    assert code == 1, err
    assert tree_digest(catalog) == before
    return err


def rows(summary: dict, kind: str, identifier: str) -> int:
    return sum(d["rows"] for d in summary["data"] if d["type"] == kind and d["identifier"] == identifier)


@pytest.fixture(scope="module")
def spot_catalog(tmp_path_factory) -> Path:
    """The spot session ingested once; tests copy it before modifying."""
    path = tmp_path_factory.mktemp("spot") / "catalog"
    from catalog.ingest import ingest_files

    ingest_files("binance-ws", SPOT, path)
    return path


@pytest.fixture()
def catalog_copy(spot_catalog, tmp_path) -> Path:
    dest = tmp_path / "catalog"
    shutil.copytree(spot_catalog, dest)
    return dest


def test_spot_session_counts_and_report(capsys, tmp_path):
    catalog = tmp_path / "cat"
    report = ingest_report(capsys, "binance-ws", SPOT, catalog)
    assert report["files"] == [str(p) for p in SPOT]
    assert report["rows_read"] == {"bookTicker": 73_174, "trade": 19_904, "depth": 6_495, "snapshot": 1}
    assert report["rows_written"]["QuoteTick"] == 73_174
    assert report["rows_written"]["TradeTick"] == 19_904
    assert Path(report["report_path"]).exists()
    summary = info(capsys, catalog)
    assert rows(summary, "quote_tick", "BTCUSDT.BINANCE") == 73_174
    assert rows(summary, "trade_tick", "BTCUSDT.BINANCE") == 19_904
    assert rows(summary, "order_book_deltas", "BTCUSDT.BINANCE") == report["rows_written"]["OrderBookDelta"]
    assert [i["id"] for i in summary["instruments"]] == ["BTCUSDT.BINANCE"]
    assert summary["instruments"][0]["type"] == "CurrencyPair"
    quotes = next(d for d in summary["data"] if d["type"] == "quote_tick")
    assert quotes["start"].startswith("2024-08-08T23:54") and quotes["end"].startswith("2024-08-09T00:05")


def test_reingest_adds_nothing(capsys, catalog_copy):
    before = info(capsys, catalog_copy)
    commit = ingest_report(capsys, "binance-ws", SPOT, catalog_copy)["commit"]
    assert sum(commit["rows_added"].values()) == 0
    assert commit["duplicate_rows_removed"]["quote_tick"] == 73_174
    after = info(capsys, catalog_copy)
    assert [(d["type"], d["rows"]) for d in after["data"]] == [(d["type"], d["rows"]) for d in before["data"]]


def test_second_instrument_lands_beside_the_first(capsys, catalog_copy):
    code, _, err = amm(capsys, "ingest", "binance-ws", str(USDM), "--catalog", str(catalog_copy), "--no-progress")
    assert code == 0, err
    summary = info(capsys, catalog_copy)
    types = {i["id"]: i["type"] for i in summary["instruments"]}
    assert types == {"BTCUSDT.BINANCE": "CurrencyPair", "BTCUSDT-PERP.BINANCE": "CryptoPerpetual"}
    assert rows(summary, "quote_tick", "BTCUSDT-PERP.BINANCE") == 66_089
    assert rows(summary, "quote_tick", "BTCUSDT.BINANCE") == 73_174


# -- bad input: error named, catalog unchanged ----------------------------------------------------


def _truncated(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dest


def _rewrite(src: Path, dest: Path, edit) -> Path:
    """Copy a gzip capture line by line; ``edit(line, number) -> list of lines to write``."""
    with gzip.open(src, "rt") as fin, gzip.open(dest, "wt") as fout:
        for number, line in enumerate(fin, start=1):
            fout.writelines(edit(line, number))
    return dest


def _with_malformed_line(src: Path, dest: Path, after_line: int = 500) -> Path:
    bad = '1723161300000000000 {"stream":"btcusdt@trade","data":{"e":"trade",\n'
    return _rewrite(src, dest, lambda line, n: [line, bad] if n == after_line else [line])


def _nth_of_stream(stream: str, n: int):
    """A predicate true for the n-th line of ``stream`` (e.g. the 1000th ``@depth`` message)."""
    seen = 0

    def hit(line: str) -> bool:
        nonlocal seen
        if stream not in line:
            return False
        seen += 1
        return seen == n

    return hit


def _with_gap(src: Path, dest: Path) -> Path:
    """Drop one depth diff in the middle: the update-id chain breaks there."""
    hit = _nth_of_stream("@depth", 1000)
    return _rewrite(src, dest, lambda line, n: [] if hit(line) else [line])


def test_truncated_gzip_fails_and_leaves_catalog_unchanged(capsys, catalog_copy, tmp_path):
    bad = _truncated(USDM, tmp_path / "btcusdt_truncated.gz")
    err = ingest_fails(capsys, "binance-ws", bad, catalog_copy)
    assert err.startswith("error: ") and "btcusdt_truncated.gz" in err and len(err.strip().splitlines()) == 1


def test_empty_file_fails_and_leaves_catalog_unchanged(capsys, catalog_copy, tmp_path):
    empty = tmp_path / "empty.gz"
    with gzip.open(empty, "wt"):
        pass
    assert "empty.gz" in ingest_fails(capsys, "binance-ws", empty, catalog_copy)


def test_malformed_line_lenient_is_dropped_and_counted(capsys, tmp_path):
    bad = _with_malformed_line(USDM, tmp_path / "malformed.gz")
    report = ingest_report(capsys, "binance-ws", [bad], tmp_path / "c")
    assert report["dropped"].get("malformed") == 1
    assert report["rows_written"]["QuoteTick"] == 66_089
    assert any(e["line"] == 501 for e in report["events"])


def test_sequence_gap_lenient_marks_it(capsys, tmp_path):
    """A gap early in the capture leaves most diffs unsynced: refused, unless the loss is accepted."""
    gap = _with_gap(USDM, tmp_path / "gap.gz")
    code, _, err = amm(capsys, "ingest", "binance-ws", str(gap), "--catalog", str(tmp_path / "c2"), "--no-progress")
    assert code == 1 and "of 6,550 depth rows dropped (unsynced" in err and "--accept-losses" in err
    assert not (tmp_path / "c2" / "data").exists()
    report = ingest_report(capsys, "binance-ws", [gap], tmp_path / "c2", "--accept-losses")
    assert report["marked"]["sequence_gap"] == 1
    assert report["dropped"]["unsynced"] > 0  # diffs after the gap wait for a snapshot that never comes


def test_unknown_format_and_missing_file(capsys, tmp_path):
    code, _, err = amm(capsys, "ingest", "nope", str(USDM), "--catalog", str(tmp_path / "c"))
    assert code == 1 and "unknown format" in err
    code, _, err = amm(capsys, "ingest", "binance-ws", str(tmp_path / "missing.gz"), "--catalog", str(tmp_path / "c"))
    assert code == 1 and "missing.gz" in err
    assert not (tmp_path / "c" / "data").exists()


def test_catalog_info_on_a_non_catalog_fails(capsys, tmp_path):
    code, _, err = amm(capsys, "catalog", "info", "--catalog", str(tmp_path))
    assert code == 1 and "not a data catalog" in err


def test_console_script_help_and_exit_codes():
    """The installed ``amm`` script itself: --help works, errors exit non-zero on stderr."""
    amm_bin = Path(sys.executable).with_name("amm")
    done = subprocess.run([str(amm_bin), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "ingest" in done.stdout
    done = subprocess.run([str(amm_bin), "catalog", "info", "--catalog", "/nonexistent/x"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stderr.startswith("error:") and done.stdout == ""


def _with_crossed_quote(src: Path, dest: Path) -> Path:
    """Rewrite the 300th bookTicker so its bid is above its ask (a crossed quote)."""
    hit = _nth_of_stream("@bookTicker", 300)

    def cross(line: str, n: int) -> list[str]:
        if not hit(line):
            return [line]
        ts, payload = line.split(" ", 1)
        msg = json.loads(payload)
        bid, ask = msg["data"]["b"], msg["data"]["a"]
        msg["data"]["b"], msg["data"]["a"] = f"{float(ask) + 1.0:.2f}", bid
        return [f"{ts} {json.dumps(msg, separators=(',', ':'))}\n"]

    return _rewrite(src, dest, cross)


@pytest.mark.parametrize(("make_bad", "name", "expected"), [
    (_with_malformed_line, "malformed.gz", ["malformed.gz:501"]),
    (_with_gap, "gap.gz", ["gap.gz:", "sequence_gap"]),
    (_with_crossed_quote, "crossed.gz", ["crossed.gz:", "crossed_book"]),
])
def test_strict_names_file_line_and_issue(capsys, catalog_copy, tmp_path, make_bad, name, expected):
    err = ingest_fails(capsys, "binance-ws", make_bad(USDM, tmp_path / name), catalog_copy, "--strict")
    assert all(e in err for e in expected), err


def test_crossed_quote_lenient_drops_it(capsys, tmp_path):
    report = ingest_report(capsys, "binance-ws", [_with_crossed_quote(USDM, tmp_path / "crossed.gz")], tmp_path / "c")
    assert report["dropped"]["crossed_book"] == 1
    assert report["rows_written"]["QuoteTick"] == 66_089 - 1


def test_unsorted_rows_strict_fails_and_lenient_drops_them(capsys, catalog_copy, tmp_path):
    """TrueFX ticks with two rows swapped: the row going back in time is named or dropped."""
    rows_in = (data_dir() / "fixtures/truefx/usdjpy-ticks.csv").read_text().splitlines()
    header, body = rows_in[0], rows_in[1:]
    body[100], body[101] = body[101], body[100]
    bad = tmp_path / "usdjpy-unsorted.csv"
    bad.write_text("\n".join([header, *body]) + "\n")
    err = ingest_fails(capsys, "ticks-csv", bad, catalog_copy, "--strict")
    assert "usdjpy-unsorted.csv:" in err and "out_of_order" in err
    report = ingest_report(capsys, "ticks-csv", [bad], tmp_path / "c")
    assert report["files"] == [str(bad)]  # listed once
    assert report["dropped"]["out_of_order"] == 1


def test_a_file_given_as_the_catalog_is_one_line_and_untouched(capsys, tmp_path):
    """Issue 17 item 14: ``--catalog <a file>`` was a 40-line traceback (``File exists``)."""
    target = tmp_path / "notes.txt"
    target.write_text("not a catalog\n")
    code, out, err = amm(capsys, "ingest", "binance-ws", str(USDM), "--catalog", str(target))
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"error: {target}: --catalog is a file, not a catalog directory "
                                        "(give a directory, new or existing)"]
    assert target.read_text() == "not a catalog\n"


# -- input that yields nothing or loses most rows (issue 17, item 10) -----------------------------

FIXTURES = data_dir() / "fixtures"


def test_tardis_bitmex_trades_as_ticks_csv_keep_every_distinct_trade(capsys, tmp_path):
    """Tardis names the trade id ``id``: 8 of the 10 prints share time, price and size, and were
    dropped as duplicates when only ``trade_id`` was recognised."""
    src = FIXTURES / "tardis" / "bitmex_trades_XBTUSD.csv"
    rows = sum(1 for _ in src.open()) - 1
    report = ingest_report(capsys, "ticks-csv", [src], tmp_path / "c", "--instrument", "XBTUSD.BITMEX")
    assert report["rows_written"]["TradeTick"] == rows
    assert report["dropped"].get("duplicate", 0) == 0
    again = ingest_report(capsys, "ticks-csv", [src], tmp_path / "c", "--instrument", "XBTUSD.BITMEX")
    assert sum(again["commit"]["rows_added"].values()) == 0  # ids make a re-ingest idempotent


def test_a_depth_file_given_as_ticks_is_refused_naming_the_right_format(capsys, tmp_path):
    err = ingest_fails(capsys, "ticks-csv", FIXTURES / "binance" / "btcusdt-depth-update.csv", tmp_path / "c")
    assert "an order-book update file (column 'update_type'), not ticks" in err and "binance-csv" in err
    assert not (tmp_path / "c").exists()  # a failed first ingest leaves no catalog directory behind


def test_a_second_day_capture_alone_is_refused_not_ingested_without_its_book(capsys, tmp_path):
    """Day 2 of a spot session has no snapshot: every depth diff is unsynced."""
    err = ingest_fails(capsys, "binance-ws", SPOT[1], tmp_path / "c")
    assert "depth rows dropped (unsynced" in err and "--accept-losses" in err
    report = ingest_report(capsys, "binance-ws", [SPOT[1]], tmp_path / "c", "--accept-losses")
    assert report["rows_written"]["QuoteTick"] > 0 and report["dropped"]["unsynced"] > 0
