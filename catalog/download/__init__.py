"""``amm download``: public market-data archives into a local cache, verified, then ingested.

Sources (``catalog.download.sources``): Binance's public data archive (data.binance.vision, sha256
``.CHECKSUM`` beside every zip), Tardis.dev's CSV datasets (no checksums: the gzip stream must
decompress to its end) and LOBSTER's free NASDAQ sample zips (sha256 pinned here for the files the
project's tests use). ``catalog.download.http`` fetches one file resumably with the standard
library; ``catalog.download.cache`` lays the files out under the cache directory and decides what
is already there; ``catalog.download.cli`` adds the commands to ``amm``.

The package depends on nothing above ``catalog`` and imports Nautilus only to ingest; this file
re-exports nothing, so that ``amm --help`` does not pay for ``urllib.request`` (import the
modules themselves).
"""
