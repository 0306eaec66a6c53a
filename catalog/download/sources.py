"""Where each archive keeps its files, and how each file is verified.

Every function here is pure (no network): it turns a request (market, kind, symbol, dates) into
``RemoteFile``\\ s - URL, place in the cache (the URL's path below the archive root, so a mirror
given as base URL shares the cache) and the verification rule of that archive.

Binance (https://data.binance.vision; layout and columns from github.com/binance/binance-public-data):
    ``data/{spot|futures/um|futures/cm}/{daily|monthly}/{kind}/{SYMBOL}/{SYMBOL}-{kind}-{YYYY-MM-DD|YYYY-MM}.zip``
    with ``<zip>.CHECKSUM`` beside it (``<sha256>  <file name>``, what ``sha256sum -c`` reads).
    ``bookTicker`` exists for USD-M and COIN-M futures only (none for spot; and the archive
    stopped publishing it in 2024-03, binance-public-data issues #334 and #372).
Tardis.dev (https://datasets.tardis.dev/v1):
    ``{exchange}/{data_type}/{YYYY}/{MM}/{DD}/{SYMBOL}.csv.gz``, symbol upper-cased with ``/`` and
    ``:`` replaced by ``-`` (the rule of Tardis' own client, tardis-dev ``datasets.download``).
    The first day of each month is free; any other day needs an API key (``Authorization:
    Bearer``). Tardis publishes no checksums: a file is accepted when its gzip stream
    decompresses to its end (gzip's own CRC-32 and length trailer then vouch for the bytes).
LOBSTER (https://lobsterdata.com/info/sample):
    ``LOBSTER_SampleFile_{TICKER}_2012-06-21_{LEVELS}.zip``, NASDAQ order-book samples of one day.
    The zips the project's tests use carry a pinned sha256 (``LOBSTER_SHA256``); the others are
    accepted when every member passes the zip's CRC check, and their digest is recorded then.
"""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Literal

BINANCE_URL = "https://data.binance.vision"
TARDIS_URL = "https://datasets.tardis.dev/v1"
LOBSTER_URL = "https://lobsterdata.com/info/sample"

BinanceMarket = Literal["spot", "usdm", "coinm"]
BinanceKind = Literal["trades", "aggTrades", "bookTicker"]

BINANCE_MARKET_PATHS: dict[str, str] = {"spot": "spot", "usdm": "futures/um", "coinm": "futures/cm"}
"""``--market`` -> the archive's directory (``um`` = USD-M futures, ``cm`` = COIN-M futures)."""
BINANCE_KINDS: tuple[str, ...] = ("trades", "aggTrades", "bookTicker")
"""Archive data types the ``binance-csv`` loader reads (klines and bookDepth are not market-making
inputs: klines are bars, bookDepth is depth aggregated in percent bands)."""
BINANCE_BOOK_TICKER_MARKETS: tuple[str, ...] = ("usdm", "coinm")

TARDIS_INGESTABLE: tuple[str, ...] = (
    "trades",
    "quotes",
    "incremental_book_L2",
    "book_snapshot_5",
    "book_snapshot_25",
)
"""Tardis data types the ``tardis`` loader reads (others download but cannot be ingested)."""

LOBSTER_DATE = "2012-06-21"
LOBSTER_SAMPLES: frozenset[tuple[str, int]] = frozenset(
    {(t, n) for t in ("AAPL", "AMZN", "GOOG", "INTC", "MSFT") for n in (1, 5, 10)}
    | {("AAPL", 30), ("AAPL", 50), ("MSFT", 30), ("MSFT", 50), ("SPY", 30), ("SPY", 50)},
)
"""(ticker, levels) of the free samples LOBSTER publishes (all of 2012-06-21)."""
LOBSTER_SHA256: dict[str, str] = {
    "LOBSTER_SampleFile_AMZN_2012-06-21_1.zip": "60f646b628ef73edd37aacde208c992c2454a0012c437a191a0d9cf20b84fd10",
    "LOBSTER_SampleFile_AMZN_2012-06-21_5.zip": "23290152d0a588359ac59a969d385748112de5733065c81f5ba3ae9d770f74db",
    "LOBSTER_SampleFile_GOOG_2012-06-21_1.zip": "34ec126261ac19831972f47edd8ab874d52d93b54a9ab623ee4ce89d3f90f5cc",
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip": "2fa66b61c7c4d4cd3f19180aaa7f5937a26355f81b2ac8e4a84e36550e8dde4a",
}
"""sha256 of the unmodified sample zips in the shared data directory (``lobster/``); the
GOOG_10 digest also matches one published independently (PROVENANCE.md)."""

_SYMBOL = re.compile(r"^[A-Z0-9_]{2,40}$")
_TARDIS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch, where it lives in the cache, and how to verify it.

    Parameters
    ----------
    source : str
        Archive name; the cache keeps each archive under ``<cache>/<source>/``.
    url : str
        Where the file is.
    relpath : PurePosixPath
        Its path below the archive root (mirrored under ``<cache>/<source>/``).
    checksum_url : str, optional
        A ``.CHECKSUM`` file (``<sha256>  <name>``) to fetch beside it (Binance).
    sha256 : str, optional
        A pinned digest (LOBSTER).
    check : callable, optional
        An integrity check of the complete file, for archives without digests.
    headers : mapping
        Extra request headers (Tardis' API key).
    not_found, refused : str
        What a 404 / 401-403 means for this archive (appended to the error).
    """

    source: str
    url: str
    relpath: PurePosixPath
    checksum_url: str | None = None
    sha256: str | None = None
    check: Callable[[Path], None] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    not_found: str = ""
    refused: str = ""


# -- dates ----------------------------------------------------------------------------------------


def parse_day(text: str, *, name: str = "date") -> date:
    """``YYYY-MM-DD`` -> date, or ``ValueError`` saying which option was wrong."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_month(text: str, *, name: str = "date") -> date:
    """``YYYY-MM`` or ``YYYY-MM-DD`` -> the first day of that month."""
    t = text.strip()
    try:
        d = date.fromisoformat(f"{t}-01") if re.fullmatch(r"\d{4}-\d{2}", t) else date.fromisoformat(t)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a month (YYYY-MM) or a date (YYYY-MM-DD)") from None
    return d.replace(day=1)


def days(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def months(start: date, end: date) -> list[date]:
    """The first day of every month from ``start``'s to ``end``'s, both included."""
    if end < start:
        raise ValueError(f"--end {end:%Y-%m} is before --start {start:%Y-%m}")
    out, d = [], start.replace(day=1)
    while d <= end:
        out.append(d)
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


# -- Binance --------------------------------------------------------------------------------------


def binance_symbol(symbol: str) -> str:
    """Upper-case and check an archive symbol (``BTCUSDT``, ``BTCUSD_PERP``, ``BTCUSDT_240927``)."""
    s = symbol.strip().upper()
    if not _SYMBOL.match(s):
        raise ValueError(f"--symbol {symbol!r}: Binance symbols are letters, digits and '_' (e.g. BTCUSDT)")
    return s


def binance_files(
    market: str,
    kind: str,
    symbol: str,
    periods: list[date],
    *,
    monthly: bool,
    base_url: str = BINANCE_URL,
) -> list[RemoteFile]:
    """The archive zips (with their ``.CHECKSUM``) of ``symbol`` for each day or month of ``periods``."""
    if market not in BINANCE_MARKET_PATHS:
        raise ValueError(f"--market {market!r}: choose one of {', '.join(BINANCE_MARKET_PATHS)}")
    if kind not in BINANCE_KINDS:
        raise ValueError(f"--kind {kind!r}: choose one of {', '.join(BINANCE_KINDS)}")
    if kind == "bookTicker" and market not in BINANCE_BOOK_TICKER_MARKETS:
        raise ValueError(
            "--kind bookTicker: Binance's archive has bookTicker for USD-M and COIN-M futures only "
            "(--market usdm or coinm), and none after 2024-03",
        )
    sym = binance_symbol(symbol)
    interval = "monthly" if monthly else "daily"
    out = []
    for d in periods:
        stamp = f"{d:%Y-%m}" if monthly else f"{d:%Y-%m-%d}"
        rel = PurePosixPath("data", *BINANCE_MARKET_PATHS[market].split("/"), interval, kind, sym,
                            f"{sym}-{kind}-{stamp}.zip")
        url = _join(base_url, rel)
        missing = (f"no such date/symbol in the archive ({market} {kind} {sym} {stamp}; "
                   f"daily files appear the next day, monthly ones early the next month)")
        out.append(RemoteFile(
            source="binance",
            url=url,
            relpath=rel,
            checksum_url=url + ".CHECKSUM",
            not_found=missing,
            refused=f"an S3-hosted archive answers so for missing files too: {missing}",
        ))
    return out


def binance_instrument_id(market: str, symbol: str) -> str:
    """The Nautilus id the Binance adapter gives ``symbol`` on ``market`` (NOTES §7).

    Spot keeps the symbol (``BTCUSDT.BINANCE``); a USD-M perpetual adds ``-PERP``
    (``BTCUSDT-PERP.BINANCE``); a COIN-M ``_PERP`` becomes ``-PERP`` (``BTCUSD-PERP.BINANCE``);
    dated futures (``BTCUSDT_240927``) keep the symbol.
    """
    sym = binance_symbol(symbol)
    if market == "spot":
        return f"{sym}.BINANCE"
    if sym.endswith("_PERP"):
        return f"{sym.removesuffix('_PERP')}-PERP.BINANCE"
    if market == "usdm" and "_" not in sym:
        return f"{sym}-PERP.BINANCE"
    return f"{sym}.BINANCE"


def parse_checksum(text: str, file_name: str) -> str:
    """The sha256 in a Binance ``.CHECKSUM`` (``<hex>  <name>``), checking it names ``file_name``."""
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        digest = parts[0].lower()
        name = parts[-1].lstrip("*") if len(parts) > 1 else file_name
        if re.fullmatch(r"[0-9a-f]{64}", digest) and name == file_name:
            return digest
    raise ValueError(f"{file_name}.CHECKSUM: no sha256 for {file_name} in it (got {text[:120]!r})")


# -- Tardis ---------------------------------------------------------------------------------------


def tardis_symbol(symbol: str) -> str:
    """Tardis' file-name form of a symbol: upper case, ``/`` and ``:`` -> ``-``."""
    s = symbol.strip().replace(":", "-").replace("/", "-").upper()
    if not _TARDIS_NAME.match(s):
        raise ValueError(f"--symbol {symbol!r}: not a Tardis symbol (e.g. BTCUSDT, XBTUSD, BTC-PERPETUAL)")
    return s


def tardis_paid_days(periods: list[date]) -> list[date]:
    """The days of ``periods`` that are not the free first day of a month."""
    return [d for d in periods if d.day != 1]


def tardis_files(
    exchange: str,
    data_type: str,
    symbol: str,
    periods: list[date],
    *,
    api_key: str | None = None,
    base_url: str = TARDIS_URL,
) -> list[RemoteFile]:
    """The ``.csv.gz`` of each day; raises ``ValueError`` up front for paid days without a key."""
    for name, value in (("--exchange", exchange), ("--data-type", data_type)):
        if not _TARDIS_NAME.match(value):
            raise ValueError(f"{name} {value!r}: not a Tardis name (e.g. binance-futures, trades)")
    sym = tardis_symbol(symbol)
    paid = tardis_paid_days(periods)
    if paid and not api_key:
        shown = ", ".join(str(d) for d in paid[:3]) + (f" and {len(paid) - 3} more" if len(paid) > 3 else "")
        verb = "is not one" if len(paid) == 1 else "are not"
        raise ValueError(
            f"Tardis serves only the first day of each month without an API key, and {shown} "
            f"{verb}: pass --api-key or set TARDIS_API_KEY",
        )
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    out = []
    for d in periods:
        rel = PurePosixPath(exchange, data_type, f"{d:%Y}", f"{d:%m}", f"{d:%d}", f"{sym}.csv.gz")
        out.append(RemoteFile(
            source="tardis",
            url=_join(base_url, rel),
            relpath=rel,
            check=check_gzip,
            headers=headers,
            not_found=f"no such exchange/data type/symbol/date in Tardis' datasets ({exchange} {data_type} {sym} {d})",
            refused="the API key is missing, invalid or does not cover this exchange/date",
        ))
    return out


def check_gzip(path: Path) -> None:
    """Decompress ``path`` to its end; ``ValueError`` if the gzip stream is cut short or corrupt.

    Tardis publishes no checksums, so this is the integrity check: every gzip member ends with the
    CRC-32 and length of its data, which ``gzip`` verifies when it reaches the end.
    """
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"not a complete gzip stream ({e})") from e


# -- LOBSTER --------------------------------------------------------------------------------------


def lobster_files(ticker: str, levels: int, *, base_url: str = LOBSTER_URL) -> list[RemoteFile]:
    """The sample zip of ``ticker`` at ``levels`` book levels (``ValueError`` if LOBSTER has none)."""
    t = ticker.strip().upper()
    if (t, levels) not in LOBSTER_SAMPLES:
        offered = ", ".join(f"{a}/{b}" for a, b in sorted(LOBSTER_SAMPLES))
        raise ValueError(f"LOBSTER has no free sample {t} with {levels} levels; samples (ticker/levels): {offered}")
    name = f"LOBSTER_SampleFile_{t}_{LOBSTER_DATE}_{levels}.zip"
    rel = PurePosixPath(name)
    return [RemoteFile(
        source="lobster",
        url=_join(base_url, rel),
        relpath=rel,
        sha256=LOBSTER_SHA256.get(name),
        check=check_zip,
        not_found="LOBSTER's sample page moved or dropped this file (set AMM_LOBSTER_URL to a mirror)",
    )]


def check_zip(path: Path) -> None:
    """Read every member of a zip; ``ValueError`` on a damaged archive or a bad member CRC."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"not a complete zip archive ({e})") from e
    if bad is not None:
        raise ValueError(f"zip member {bad} fails its CRC check")


def _join(base_url: str, rel: PurePosixPath) -> str:
    return f"{base_url.rstrip('/')}/{rel.as_posix()}"
