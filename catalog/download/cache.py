"""The download cache: where files go, and fetching a list of ``RemoteFile``\\ s into it.

Layout: ``<cache>/<source>/<the file's path below the archive root>``, e.g.
``~/.cache/amm/downloads/binance/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-08-08.zip``
with its ``.CHECKSUM`` beside it. The cache is ``--cache-dir``, else ``$AMM_CACHE_DIR``, else
``~/.cache/amm/downloads`` (XDG's place for data that can be fetched again).

A Binance ``.CHECKSUM`` is kept in the cache with its zip, so a second run verifies the zip
against it without any request (and works offline). Should Binance replace an archive file (its
README lists such updates), delete the pair from the cache to fetch the new one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from catalog.download.http import ChecksumMismatch, DownloadError, Fetched, fetch
from catalog.download.sources import RemoteFile, parse_checksum

DEFAULT_CACHE_DIR = Path("~/.cache/amm/downloads")


def cache_root(cache_dir: Path | None = None) -> Path:
    """``cache_dir``, else ``$AMM_CACHE_DIR``, else ``~/.cache/amm/downloads`` (expanded)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("AMM_CACHE_DIR")
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR.expanduser()


def local_path(root: Path, remote: RemoteFile) -> Path:
    """Where ``remote`` lives in the cache at ``root``."""
    return root / remote.source / Path(*remote.relpath.parts)


def download_all(files: Sequence[RemoteFile], root: Path, *, progress: bool = False) -> list[Fetched]:
    """Fetch every file of ``files`` into the cache at ``root`` (verified; see ``http.fetch``).

    Files are fetched one after the other and the first failure raises: a backtest on a range
    with a hole in it is worse than no backtest, and what was already fetched stays cached.
    """
    out = []
    for remote in files:
        dest = local_path(root, remote)
        sha256 = remote.sha256
        if remote.checksum_url:
            sha256 = _published_sha256(remote, dest)
        try:
            fetched = fetch(
                remote.url,
                dest,
                sha256=sha256,
                check=remote.check,
                headers=remote.headers,
                not_found=remote.not_found,
                refused=remote.refused,
                progress=progress,
            )
        except ChecksumMismatch:
            # the zip or its .CHECKSUM is wrong - which one is unknowable: fetch both next time
            _checksum_path(dest).unlink(missing_ok=True)
            raise
        out.append(fetched)
    return out


def _published_sha256(remote: RemoteFile, dest: Path) -> str:
    """The digest in the file's ``.CHECKSUM``: read from the cache, else fetched into it."""
    checksum_path = _checksum_path(dest)
    if checksum_path.exists():
        try:
            return parse_checksum(checksum_path.read_text(errors="replace"), dest.name)
        except ValueError:
            checksum_path.unlink()  # damaged: fetch it again
    fetch(
        str(remote.checksum_url),
        checksum_path,
        check=lambda path: _parse_checksum_file(path, dest.name),
        headers=remote.headers,
        not_found=remote.not_found,
        refused=remote.refused,
        record_digest=False,
    )
    return _parse_checksum_file(checksum_path, dest.name)


def _checksum_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".CHECKSUM")


def _parse_checksum_file(path: Path, name: str) -> str:
    try:
        return parse_checksum(path.read_text(errors="replace"), name)
    except ValueError as e:
        raise DownloadError(str(e)) from e
