"""Reading a recorded capture: gzip lines, and what a file's first lines say about it.

A capture file is gzip text, one message per line: ``<local_receive_ts_ns> <json>``. Several
files of one capture are ordered by their first local timestamp and must share one symbol and
one market (:func:`identify`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from catalog.loaders.binance_ws.wire import Market, market_from, stream_kind
from catalog.quality import DataQualityError

PROBE_MAX_LINES = 10_000
"""Lines read at the start of a file to find its first timestamp and its symbol/market."""


@dataclass(frozen=True)
class FileHead:
    """A file's first local timestamp, and the symbol and market its first messages show."""

    path: Path
    first_ts: int
    symbol: str | None
    market: Market | None


def gzip_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` of a gzip text file, streaming.

    Decompression errors become ``DataQualityError`` naming the file and the last good line.
    """
    lineno = 0
    try:
        with gzip.open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 - lineno used in except
                yield lineno, raw
    except EOFError as e:
        raise DataQualityError(
            f"{path}:{lineno + 1}: truncated gzip (file ends mid-stream after line {lineno}): {e}",
        ) from e
    except (gzip.BadGzipFile, zlib.error) as e:
        where = f"{path}:{lineno + 1}" if lineno else str(path)
        raise DataQualityError(f"{where}: not a valid gzip file: {e}") from e
    except OSError as e:
        raise DataQualityError(f"{path}: cannot read: {e}") from e


def probe(path: Path) -> FileHead:
    """First local timestamp, symbol and market of a file; raise if it holds no data."""
    first_ts: int | None = None
    symbol: str | None = None
    market: Market | None = None
    n_lines = 0
    for lineno, raw in gzip_lines(path):
        n_lines = lineno
        ts_bytes, _, payload = raw.partition(b" ")
        if first_ts is None:
            try:
                first_ts = int(ts_bytes)
            except ValueError:
                pass
        if market is None:
            try:
                msg = msgspec.json.decode(payload)
                stream = msg.get("stream") if isinstance(msg, dict) else None
                if isinstance(stream, str) and "@" in stream and isinstance(msg.get("data"), dict):
                    sym, _, suffix = stream.partition("@")
                    kind = stream_kind(suffix)
                    if kind is not None:
                        symbol = symbol or sym.upper()
                        market = market_from(kind, sym, msg["data"])
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
        if (first_ts is not None and market is not None) or lineno >= PROBE_MAX_LINES:
            break
    if n_lines == 0:
        raise DataQualityError(f"{path}: empty file (no lines)")
    if first_ts is None:
        raise DataQualityError(
            f"{path}: no line starting with a local timestamp in the first {n_lines} lines; "
            f"expected '<local_receive_ts_ns> <json>'",
        )
    return FileHead(path, first_ts, symbol, market)


def identify(heads: list[FileHead]) -> tuple[str, Market]:
    """The one symbol and market of a capture's files (ordered by first timestamp)."""
    symbol: str | None = None
    market: Market | None = None
    for head in heads:
        if head.symbol is None:
            continue
        if symbol is not None and head.symbol != symbol:
            raise DataQualityError(
                f"{head.path}: stream symbol {head.symbol} differs from {symbol} in "
                f"{heads[0].path}; ingest one instrument per call",
            )
        if market is not None and head.market is not None and head.market is not market:
            raise DataQualityError(
                f"{head.path}: looks like Binance {head.market.value} data but earlier files "
                f"are {market.value}; ingest one market per call",
            )
        symbol = head.symbol
        market = market or head.market
    if symbol is None or market is None:
        raise DataQualityError(
            f"{heads[0].path}: no bookTicker/trade/depth stream message found to tell the "
            f"symbol and market (expected lines '<ts_ns> {{\"stream\": ..., \"data\": ...}}')",
        )
    return symbol, market
