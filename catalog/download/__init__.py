"""``amm download``: public market-data archives into a local cache, verified, then ingested.

Sources (``catalog.download.sources``): Binance's public data archive (data.binance.vision, sha256
``.CHECKSUM`` beside every zip), Tardis.dev's CSV datasets (no checksums: the gzip stream must
decompress to its end) and LOBSTER's free NASDAQ sample zips (sha256 pinned here for the files the
project's tests use). ``catalog.download.http`` fetches one file resumably with the standard
library; ``catalog.download.cache`` lays the files out under the cache directory and decides what
is already there; ``catalog.download.cli`` adds the commands to ``amm``.

The download package depends on nothing above ``catalog`` and imports Nautilus only to ingest.
"""

from __future__ import annotations

from catalog.download.cache import DEFAULT_CACHE_DIR, cache_root, download_all
from catalog.download.http import (
    ChecksumMismatch,
    DownloadError,
    Fetched,
    HostUnreachable,
    NotFound,
    fetch,
)
from catalog.download.sources import RemoteFile

__all__ = [
    "DEFAULT_CACHE_DIR",
    "ChecksumMismatch",
    "DownloadError",
    "Fetched",
    "HostUnreachable",
    "NotFound",
    "RemoteFile",
    "cache_root",
    "download_all",
    "fetch",
]
