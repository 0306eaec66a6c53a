"""``amm download binance|tardis|lobster`` end to end against a local archive server.

The server (``http.server.ThreadingHTTPServer`` on 127.0.0.1, in a thread) answers ``Range``
requests and can drop the connection once after N bytes, to play an interrupted download. It
serves recorded data only: Binance archive zips rebuilt from real captures with correct
``.CHECKSUM`` files (``tests/catalog/test_binance_archive.py`` says from which), the Tardis sample
CSVs of ``fixtures/tardis/`` gzipped as Tardis serves them, and the real LOBSTER sample zip
``lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip``. Nothing reaches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from catalog.download.sources import (
    LOBSTER_SHA256,
    binance_files,
    binance_instrument_id,
    days,
    months,
    parse_checksum,
    parse_month,
    tardis_files,
    tardis_symbol,
)
from catalog.settings import data_dir
from tests.helpers import amm
from tests.catalog.test_binance_archive import (
    BOOK_TICKER_ROWS,
    SPOT_2021_SPEC,
    archive_files,
    checksum_file,
    coinm_trades_rows,
)

DATA = data_dir()
TARDIS_FIXTURES = DATA / "fixtures/tardis"
LOBSTER_GOOG_1 = DATA / "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip"
LOBSTER_AMZN_1 = DATA / "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_1.zip"

pytestmark = pytest.mark.skipif(
    not (TARDIS_FIXTURES.is_dir() and LOBSTER_GOOG_1.exists() and (DATA / "binance_ws").is_dir()),
    reason=f"real data not found under {DATA} (set AMM_DATA_DIR)",
)

AGG = "/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-08-08.zip"
AGG_ARGS = ("download", "binance", "--market", "usdm", "--kind", "aggTrades", "--symbol", "BTCUSDT",
            "--start", "2024-08-08")
SNAP5 = "/v1/binance-futures/book_snapshot_5/2020/09/01/BTCUSDT.csv.gz"


# -- the local archive server ---------------------------------------------------------------------


@dataclass
class Archive:
    """What the server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[dict[str, str | None]] = field(default_factory=list)
    cut_once: dict[str, int] = field(default_factory=dict)
    """URL path -> bytes after which the next response for it drops the connection (once)."""
    cut_every: dict[str, int] = field(default_factory=dict)
    """URL path -> bytes after which every response for it drops the connection."""
    ignore_range: bool = False
    """Answer every request with the whole file (200), as servers without range support do."""
    auth: dict[str, str] = field(default_factory=dict)
    """URL path -> the ``Authorization`` header it needs (else 401)."""
    base: str = ""

    def ranges(self, path: str) -> list[str | None]:
        return [r["range"] for r in self.requests if r["path"] == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        archive: Archive = self.server.archive  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        wanted = self.headers.get("Range")
        archive.requests.append({"path": path, "range": wanted, "authorization": self.headers.get("Authorization")})
        body = archive.files.get(path)
        if body is None:
            return self._plain(404, b"Not Found")
        if path in archive.auth and self.headers.get("Authorization") != archive.auth[path]:
            return self._plain(401, b"Unauthorized")
        start = 0
        if wanted and not archive.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = archive.cut_once.pop(path, archive.cut_every.get(path))
        if cut is not None:  # the connection drops mid-body
            self.wfile.write(chunk[:cut])
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        self.wfile.write(chunk)
        return None

    def _plain(self, code: int, text: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the test log
        pass


@pytest.fixture(scope="module")
def recorded() -> dict[str, bytes]:
    """Every file the archive server can serve, built once per module from the real data."""
    files = archive_files()
    for csv in TARDIS_FIXTURES.glob("*.csv"):
        exchange, rest = csv.stem.split("_", 1)
        data_type, symbol = rest.rsplit("_", 1)
        day = _first_day(csv)
        files[f"/v1/{exchange}/{data_type}/{day:%Y/%m/%d}/{symbol}.csv.gz"] = gzip.compress(csv.read_bytes(), mtime=0)
    files[f"/{LOBSTER_GOOG_1.name}"] = LOBSTER_GOOG_1.read_bytes()
    return files


def _first_day(csv: Path) -> date:
    """The UTC day of a Tardis CSV's first row (its ``timestamp`` is in us)."""
    header, row = csv.read_text().splitlines()[:2]
    ts_us = int(row.split(",")[header.split(",").index("timestamp")])
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_us / 1e6, tz=UTC).date()


@pytest.fixture
def archive(recorded) -> Iterator[Archive]:
    """A fresh archive server on 127.0.0.1 (its own state per test)."""
    state = Archive(files=dict(recorded))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.archive = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()




def binance(archive: Archive, cache: Path, *args: str) -> list[str]:
    return [*args, "--base-url", archive.base, "--cache-dir", str(cache)]


# -- Binance --------------------------------------------------------------------------------------


def test_binance_download_verifies_and_the_second_call_is_cached(archive, tmp_path, capsys):
    args = [*binance(archive, tmp_path / "cache", *AGG_ARGS), "--json"]
    code, out, err = amm(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    [f] = result["files"]
    path = tmp_path / "cache/binance" / AGG.lstrip("/")
    assert (f["status"], Path(f["path"])) == ("downloaded", path)
    assert path.read_bytes() == archive.files[AGG]
    assert f["sha256"] == parse_checksum(archive.files[AGG + ".CHECKSUM"].decode(), path.name)
    assert path.with_name(path.name + ".CHECKSUM").exists() and not list(path.parent.glob("*.part"))
    assert "--instrument BTCUSDT-PERP.BINANCE" in result["ingest_command"] and result["ingest"] is None
    asked = len(archive.requests)

    code, out, err = amm(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["files"][0]["status"] == "cached"
    assert len(archive.requests) == asked  # verified against the cached .CHECKSUM: no request at all
    code, out, _ = amm(capsys, *args[:-1])  # human output: where the file is, how to ingest it
    assert code == 0 and out.startswith(f"cached      {path}")
    assert f"ingest with: amm ingest binance-csv {path} --catalog CATALOG --instrument BTCUSDT-PERP.BINANCE" in out


def test_binance_checksum_mismatch_deletes_the_file(archive, tmp_path, capsys):
    published = hashlib.sha256(b"some other bytes").hexdigest()
    archive.files[AGG + ".CHECKSUM"] = checksum_file(b"some other bytes", "BTCUSDT-aggTrades-2024-08-08.zip")
    served = hashlib.sha256(archive.files[AGG]).hexdigest()
    code, out, err = amm(capsys, *binance(archive, tmp_path / "cache", *AGG_ARGS))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: BTCUSDT-aggTrades-2024-08-08.zip: sha256 ")
    assert served in err and published in err
    folder = (tmp_path / "cache/binance" / AGG.lstrip("/")).parent
    assert sorted(p.name for p in folder.iterdir()) == []  # no zip, no .part, no suspect .CHECKSUM


def test_interrupted_download_resumes_with_a_range_request(archive, tmp_path, capsys):
    archive.cut_once[AGG] = 10_000
    code, out, err = amm(capsys, *binance(archive, tmp_path / "cache", *AGG_ARGS, "--json"))
    assert code == 0, err
    [f] = json.loads(out)["files"]
    assert f["status"] == "resumed"
    assert archive.ranges(AGG) == [None, "bytes=10000-"]
    assert Path(f["path"]).read_bytes() == archive.files[AGG]


def test_a_download_interrupted_on_every_attempt_resumes_on_the_next_run(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("catalog.download.http.RETRY_BACKOFF_S", 0.0)
    archive.cut_every[AGG] = 4_000
    args = [*binance(archive, tmp_path / "cache", *AGG_ARGS), "--json"]
    code, out, err = amm(capsys, *args)
    part = tmp_path / "cache/binance" / (AGG.lstrip("/") + ".part")
    assert code == 1 and err.count("\n") == 1
    assert f"interrupted after 16000 of {len(archive.files[AGG])} bytes" in err and f"{part} is kept" in err
    assert archive.ranges(AGG) == [None, "bytes=4000-", "bytes=8000-", "bytes=12000-"]  # 3 retries
    archive.cut_every.clear()
    code, out, err = amm(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["files"][0]["status"] == "resumed" and archive.ranges(AGG)[-1] == "bytes=16000-"
    assert Path(json.loads(out)["files"][0]["path"]).read_bytes() == archive.files[AGG] and not part.exists()


def test_fetch_with_a_progress_bar(archive, tmp_path, capsys):
    from catalog.download.http import fetch

    got = fetch(archive.base + SNAP5, tmp_path / "x.csv.gz", progress=True)
    assert got.status == "downloaded" and got.path.read_bytes() == archive.files[SNAP5]
    assert "x.csv.gz" in capsys.readouterr().err  # tqdm's bar, on stderr


@pytest.mark.parametrize(
    ("kept", "ignore_range", "status"),
    [(5_000, False, "resumed"), (5_000, True, "downloaded"), (None, False, "resumed")],
    ids=["server-resumes", "server-ignores-range", "part-already-complete"],
)
def test_a_part_file_from_an_earlier_run(archive, tmp_path, capsys, kept, ignore_range, status):
    body = archive.files[AGG]
    kept = len(body) if kept is None else kept
    dest = tmp_path / "cache/binance" / AGG.lstrip("/")
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(body[:kept])
    archive.ignore_range = ignore_range
    code, out, err = amm(capsys, *binance(archive, tmp_path / "cache", *AGG_ARGS, "--json"))
    assert code == 0, err
    assert json.loads(out)["files"][0]["status"] == status
    assert archive.ranges(AGG) == [f"bytes={kept}-"]
    assert dest.read_bytes() == body and not dest.with_name(dest.name + ".part").exists()


def test_binance_404_names_the_url(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AMM_BINANCE_ARCHIVE_URL", archive.base)
    code, out, err = amm(capsys, *AGG_ARGS[:-1], "2024-08-09", "--cache-dir", str(tmp_path))
    assert code == 1 and err.count("\n") == 1
    assert f"{archive.base}/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-08-09.zip" in err
    assert "not found (HTTP 404): no such date/symbol in the archive" in err


def test_unreachable_host(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = amm(capsys, *AGG_ARGS, "--base-url", f"http://127.0.0.1:{port}", "--cache-dir", str(tmp_path))
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: could not reach 127.0.0.1:{port}: ")


def test_bad_requests_exit_1_before_any_download(archive, tmp_path, capsys):
    base = ["--base-url", archive.base, "--cache-dir", str(tmp_path)]
    cases = [
        (["download", "binance", "--market", "spot", "--kind", "bookTicker", "--symbol", "BTCUSDT",
          "--start", "2024-01-01"], "bookTicker for USD-M and COIN-M futures only"),
        ([*AGG_ARGS, "--end", "2024-08-01"], "--end 2024-08-01 is before --start 2024-08-08"),
        (["download", "binance", "--market", "usdm", "--kind", "klines", "--symbol", "BTCUSDT", "--start",
          "2024-08-08"], "--kind 'klines': choose one of trades, aggTrades, bookTicker"),
        ([*AGG_ARGS[:-1], "08/08/2024"], "--start: '08/08/2024' is not a date"),
    ]
    for args, message in cases:
        code, _, err = amm(capsys, *args, *base)
        assert code == 1 and message in err and err.count("\n") == 1, err
    assert archive.requests == []


@pytest.mark.parametrize(
    ("args", "iid", "kind", "n"),
    [
        (["--market", "usdm", "--kind", "bookTicker", "--symbol", "BTCUSDT", "--start", "2024-08-08"],
         "BTCUSDT-PERP.BINANCE", "QuoteTick", BOOK_TICKER_ROWS),
        (["--market", "coinm", "--kind", "trades", "--symbol", "btcusd_perp", "--start", "2024-08-08"],
         "BTCUSD-PERP.BINANCE", "TradeTick", len(coinm_trades_rows())),
        (["--market", "spot", "--kind", "trades", "--symbol", "BTCUSDT", "--start", "2021-01-08", "--instrument-spec",
          "SPEC"], "BTCUSDT.BINANCE", "TradeTick", 2001),
    ],
    ids=["usdm-bookTicker", "coinm-trades", "spot-trades"],
)
def test_binance_download_and_ingest(archive, tmp_path, capsys, args, iid, kind, n):
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    spec = tmp_path / "spot2021.toml"
    spec.write_text(SPOT_2021_SPEC)
    args = [str(spec) if a == "SPEC" else a for a in args]
    catalog = tmp_path / "catalog"
    code, out, err = amm(capsys, *binance(archive, tmp_path / "cache", "download", "binance", *args),
                         "--catalog", str(catalog), "--json")
    assert code == 0, err
    ingest = json.loads(out)["ingest"]
    assert ingest["rows_written"] == {kind: n} and ingest["dropped"] == {}
    cat = ParquetDataCatalog(str(catalog))
    assert [i.id.value for i in cat.instruments()] == [iid]
    rows = cat.quote_ticks(instrument_ids=[iid]) if kind == "QuoteTick" else cat.trade_ticks(instrument_ids=[iid])
    assert len(rows) == n


# -- Tardis ---------------------------------------------------------------------------------------


def test_tardis_free_day_downloads_verifies_gzip_and_ingests(archive, tmp_path, capsys):
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    args = ["download", "tardis", "--exchange", "binance-futures", "--data-type", "book_snapshot_5",
            "--symbol", "BTCUSDT", "--start", "2020-09-01", "--base-url", f"{archive.base}/v1",
            "--cache-dir", str(tmp_path / "cache"), "--catalog", str(tmp_path / "catalog"), "--json"]
    code, out, err = amm(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    [f] = result["files"]
    path = tmp_path / "cache/tardis" / SNAP5.removeprefix("/v1/")
    assert Path(f["path"]) == path and path.read_bytes() == archive.files[SNAP5]
    assert path.with_name(path.name + ".sha256").read_text().split()[0] == f["sha256"]
    assert result["ingest"]["rows_written"] == {"OrderBookDepth10": 10}
    assert len(ParquetDataCatalog(str(tmp_path / "catalog")).order_book_depth10()) == 10
    assert archive.requests[0]["authorization"] is None  # a free day needs no key
    code, out, err = amm(capsys, *args[:-3], "--json")
    assert json.loads(out)["files"][0]["status"] == "cached"


def test_tardis_truncated_gzip_is_rejected(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AMM_TARDIS_URL", f"{archive.base}/v1")
    archive.files[SNAP5] = archive.files[SNAP5][:-20]
    code, _, err = amm(capsys, "download", "tardis", "--exchange", "binance-futures", "--data-type",
                       "book_snapshot_5", "--symbol", "BTCUSDT", "--start", "2020-09-01",
                       "--cache-dir", str(tmp_path / "cache"))
    assert code == 1 and err.count("\n") == 1
    assert "BTCUSDT.csv.gz: not a complete gzip stream" in err and "deleted the download" in err
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_tardis_paid_day_needs_a_key(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TARDIS_API_KEY", raising=False)
    paid = "/v1/binance-futures/book_snapshot_5/2020/09/02/BTCUSDT.csv.gz"
    archive.files[paid] = archive.files[SNAP5]
    archive.auth[paid] = "Bearer TD.test-key"
    args = ["download", "tardis", "--exchange", "binance-futures", "--data-type", "book_snapshot_5",
            "--symbol", "BTCUSDT", "--start", "2020-09-01", "--end", "2020-09-02",
            "--base-url", f"{archive.base}/v1", "--cache-dir", str(tmp_path / "cache")]
    code, _, err = amm(capsys, *args)
    assert code == 1 and err.count("\n") == 1
    assert "only the first day of each month without an API key, and 2020-09-02 is not one" in err
    assert "--api-key or set TARDIS_API_KEY" in err and archive.requests == []

    code, _, err = amm(capsys, *args, "--api-key", "wrong")
    assert code == 1 and "access refused (HTTP 401)" in err and "API key" in err
    monkeypatch.setenv("TARDIS_API_KEY", "TD.test-key")
    code, out, err = amm(capsys, *args, "--json")
    assert code == 0, err
    # the free day came down in the refused run already
    assert [f["status"] for f in json.loads(out)["files"]] == ["cached", "downloaded"]
    assert archive.requests[-1]["authorization"] == "Bearer TD.test-key"


# -- LOBSTER --------------------------------------------------------------------------------------


def test_lobster_sample_is_checked_against_its_pin(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AMM_LOBSTER_URL", archive.base)
    monkeypatch.setenv("AMM_CACHE_DIR", str(tmp_path / "cache"))
    args = ["download", "lobster", "--ticker", "goog", "--levels", "1", "--json"]
    code, out, err = amm(capsys, *args)
    assert code == 0, err
    [f] = json.loads(out)["files"]
    assert f["sha256"] == LOBSTER_SHA256[LOBSTER_GOOG_1.name]
    assert Path(f["path"]) == tmp_path / "cache/lobster" / LOBSTER_GOOG_1.name
    assert Path(f["path"]).read_bytes() == LOBSTER_GOOG_1.read_bytes()

    Path(f["path"]).unlink()
    archive.files[f"/{LOBSTER_GOOG_1.name}"] = LOBSTER_AMZN_1.read_bytes()  # another real zip, wrong name
    code, _, err = amm(capsys, *args)
    assert code == 1 and err.count("\n") == 1
    assert LOBSTER_SHA256[LOBSTER_GOOG_1.name] in err and LOBSTER_SHA256[LOBSTER_AMZN_1.name] in err
    code, _, err = amm(capsys, "download", "lobster", "--ticker", "GOOG", "--levels", "7")
    assert code == 1 and "no free sample GOOG with 7 levels" in err


def _lobster_loader_ready() -> bool:
    try:
        importlib.import_module("catalog.loaders.lobster")
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _lobster_loader_ready(), reason="catalog.loaders.lobster is not there yet")
def test_lobster_download_and_ingest(archive, tmp_path, capsys):
    code, out, err = amm(capsys, "download", "lobster", "--ticker", "GOOG", "--levels", "1",
                         "--base-url", archive.base, "--cache-dir", str(tmp_path / "cache"),
                         "--catalog", str(tmp_path / "catalog"), "--json")
    assert code == 0, err
    ingest = json.loads(out)["ingest"]
    assert all(f.startswith(str(tmp_path / "cache/lobster" / LOBSTER_GOOG_1.name)) for f in ingest["files"])
    assert sum(ingest["rows_written"].values()) > 0


# -- the URL and id rules -------------------------------------------------------------------------


def test_binance_layout_daily_and_monthly():
    [d] = binance_files("coinm", "bookTicker", "BTCUSD_PERP", [date(2024, 3, 1)], monthly=False)
    assert d.url == ("https://data.binance.vision/data/futures/cm/daily/bookTicker/BTCUSD_PERP/"
                     "BTCUSD_PERP-bookTicker-2024-03-01.zip")
    assert d.checksum_url == d.url + ".CHECKSUM"
    periods = months(parse_month("2023-11"), parse_month("2024-02-15"))
    urls = [f.url for f in binance_files("spot", "trades", "ethusdt", periods, monthly=True, base_url="http://m/")]
    assert urls == [f"http://m/data/spot/monthly/trades/ETHUSDT/ETHUSDT-trades-{m}.zip"
                    for m in ("2023-11", "2023-12", "2024-01", "2024-02")]
    assert len(days(date(2024, 2, 27), date(2024, 3, 1))) == 4  # leap year


def test_binance_instrument_ids_follow_the_adapter():
    assert binance_instrument_id("spot", "btcusdt") == "BTCUSDT.BINANCE"
    assert binance_instrument_id("usdm", "BTCUSDT") == "BTCUSDT-PERP.BINANCE"
    assert binance_instrument_id("usdm", "BTCUSDT_240927") == "BTCUSDT_240927.BINANCE"
    assert binance_instrument_id("coinm", "BTCUSD_PERP") == "BTCUSD-PERP.BINANCE"
    assert binance_instrument_id("coinm", "BTCUSD_240927") == "BTCUSD_240927.BINANCE"


def test_tardis_layout():
    assert tardis_symbol("btc/usd:usd") == "BTC-USD-USD"
    [f] = tardis_files("deribit", "incremental_book_L2", "BTC-PERPETUAL", [date(2020, 3, 1)])
    assert f.url == "https://datasets.tardis.dev/v1/deribit/incremental_book_L2/2020/03/01/BTC-PERPETUAL.csv.gz"
    assert dict(f.headers) == {}
    [f] = tardis_files("bitmex", "trades", "XBTUSD", [date(2020, 3, 2)], api_key="k")
    assert dict(f.headers) == {"Authorization": "Bearer k"}
    with pytest.raises(ValueError, match="2020-03-02, 2020-03-03, 2020-03-04 and 1 more are not"):
        tardis_files("bitmex", "trades", "XBTUSD", days(date(2020, 3, 1), date(2020, 3, 5)))
