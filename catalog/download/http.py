"""Fetch one file over HTTP(S): resumable, verified, and never left half-written under its name.

Why the standard library: the project pins no HTTP client, and a download needs only ``GET`` with
a ``Range`` header. The rules:

* The body goes to ``<file>.part``. After an interruption (connection reset, short body, read
  timeout) the next attempt - in the same call, or in a later run - asks for the rest with
  ``Range: bytes=<size of .part>-``. A ``206`` whose ``Content-Range`` starts there is appended; a
  ``200`` means the server ignored the range, so the file restarts from byte 0.
* Only a complete body is verified (sha256 against the source's digest, and/or the source's own
  integrity check), and only a verified file is renamed to its final name. A file that fails is
  deleted: a mirror that served bad bytes once should be asked again, not trusted from the cache.
* A final file already there is re-hashed against the expected digest (or, when the source has
  none, against the ``<file>.sha256`` recorded when it was verified): a match is ``cached`` and
  costs no request.
* Failures are one-line ``DownloadError``\\ s: the host could not be reached, ``404`` (the caller
  says what that means for its archive), access refused, a checksum mismatch naming both digests.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

CHUNK_BYTES = 1 << 16
"""Bytes read from the socket (and written) at a time."""

USER_AGENT = "automated-market-making/0.1 (amm download; urllib)"

RETRY_BACKOFF_S = 0.25
"""Base of the exponential wait before a retry (the first resume after a dropped connection is
immediate: the server is fine, the connection was not)."""

Status = Literal["downloaded", "resumed", "cached"]


class DownloadError(RuntimeError):
    """A download failed in a way the user can act on; ``str()`` is one line."""


class HostUnreachable(DownloadError):
    """No connection to the host (offline, DNS failure, connection refused, connect timeout)."""


class NotFound(DownloadError):
    """The server answered 404: the archive has no such file."""


class ChecksumMismatch(DownloadError):
    """The complete body's sha256 is not the published one; the file was deleted."""


@dataclass(frozen=True)
class Fetched:
    """One file that is now complete and verified in the cache.

    Parameters
    ----------
    url : str
        Where it came from.
    path : Path
        Where it is.
    status : {"downloaded", "resumed", "cached"}
        ``resumed``: part of it came from an earlier interrupted attempt; ``cached``: it was
        already there and verified, nothing was requested.
    size : int
        Bytes.
    sha256 : str
        Hex digest of the file.
    """

    url: str
    path: Path
    status: Status
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "path": str(self.path), "status": self.status,
                "size": self.size, "sha256": self.sha256}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar(path: Path) -> Path:
    """``<file>.sha256``: the digest recorded when a file without a published one was verified."""
    return path.with_name(path.name + ".sha256")


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    check: Callable[[Path], object] | None = None,
    headers: Mapping[str, str] | None = None,
    not_found: str = "",
    refused: str = "",
    progress: bool = False,
    timeout_s: float = 30.0,
    retries: int = 3,
    record_digest: bool = True,
) -> Fetched:
    """Make ``dest`` a complete, verified copy of ``url`` and say how (see the module docstring).

    Parameters
    ----------
    url : str
        What to download.
    dest : Path
        Final path; ``<dest>.part`` holds an incomplete body between attempts.
    sha256 : str, optional
        The published digest; the file is deleted and ``ChecksumMismatch`` raised if it differs.
    check : callable, optional
        Extra integrity check of the complete file (e.g. the gzip stream ends properly); raises
        ``DownloadError`` or ``ValueError`` with the reason.
    headers : mapping, optional
        Extra request headers (e.g. ``Authorization``).
    not_found, refused : str
        What a 404 / a 401-403 means for this source, appended to the error.
    progress : bool
        Show a tqdm byte bar on stderr.
    timeout_s : float
        Socket timeout per connect and per read.
    retries : int
        Further attempts after an interrupted body or a 5xx, each resuming where the last stopped.
    record_digest : bool
        Without ``sha256``, record the verified file's digest in ``<dest>.sha256`` so that a later
        call can tell a cached copy is intact without re-running ``check``.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.exists():
        cached = _verify_cached(dest, expected, check)
        if cached is not None:
            return Fetched(url, dest, "cached", dest.stat().st_size, cached)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    resumed = _download(url, part, dict(headers or {}), not_found, refused, progress, timeout_s, retries)
    digest = sha256_file(part)
    if expected and digest != expected:
        part.unlink()
        raise ChecksumMismatch(
            f"{dest.name}: sha256 {digest} does not match the expected {expected}; "
            f"deleted the download (from {url})",
        )
    if check is not None:
        try:
            check(part)
        except (DownloadError, ValueError, OSError, EOFError) as e:
            part.unlink()
            raise DownloadError(f"{dest.name}: {_one_line(e)}; deleted the download (from {url})") from e
    part.replace(dest)
    if not expected and record_digest:
        sidecar(dest).write_text(f"{digest}  {dest.name}\n")
    return Fetched(url, dest, "resumed" if resumed else "downloaded", dest.stat().st_size, digest)


def _verify_cached(dest: Path, expected: str | None, check: Callable[[Path], object] | None) -> str | None:
    """The digest of ``dest`` if it is a verified copy, else None (and ``dest`` is removed)."""
    recorded = expected
    if recorded is None and sidecar(dest).exists():
        words = sidecar(dest).read_text().split()
        recorded = words[0].lower() if words else None
    digest = sha256_file(dest)
    if recorded is not None:
        if digest == recorded:
            return digest
    elif check is not None:
        try:
            check(dest)
        except (DownloadError, ValueError, OSError, EOFError):
            pass
        else:
            sidecar(dest).write_text(f"{digest}  {dest.name}\n")
            return digest
    dest.unlink()  # stale (the archive replaced the file) or damaged: fetch it again
    sidecar(dest).unlink(missing_ok=True)
    return None


def _download(
    url: str,
    part: Path,
    headers: dict[str, str],
    not_found: str,
    refused: str,
    progress: bool,
    timeout_s: float,
    retries: int,
) -> bool:
    """Fill ``part`` with the whole body of ``url``; return whether an earlier attempt's bytes were kept."""
    host = urlsplit(url).netloc or url
    resumed = False
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        try:
            response = urllib.request.urlopen(  # noqa: S310 - http(s) URLs built by catalog.download.sources
                urllib.request.Request(url, headers=request_headers), timeout=timeout_s,
            )
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and offset:
                total = _content_range_total(e.headers.get("Content-Range"))
                if total == offset:  # the .part already holds the whole body
                    return True
                part.unlink()  # bigger than the file, or the file changed: start over
                failures = _again(url, failures, retries, "the server rejected the resume range")
                continue
            if e.code == 404:
                raise NotFound(f"{url}: not found (HTTP 404){_hint(not_found)}") from None
            if e.code in (401, 403):
                raise DownloadError(f"{url}: access refused (HTTP {e.code}){_hint(refused)}") from None
            if e.code >= 500 and failures < retries:
                failures += 1
                time.sleep(min(RETRY_BACKOFF_S * 2**failures, 8.0))
                continue
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            kept = f"; the partial download {part} is kept and resumes on the next run" if offset else ""
            raise HostUnreachable(
                f"could not reach {host}: {_one_line(reason)} (offline, or a wrong base URL?){kept}",
            ) from None
        with response:
            total: int | None = None
            length = response.headers.get("Content-Length")
            if offset and response.status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != offset:  # not the range we asked for: start over
                    part.unlink()
                    failures = _again(url, failures, retries, f"asked for bytes {offset}-, got {start}-")
                    continue
                mode, resumed = "ab", True
                total = offset + int(length) if length and length.isdigit() else _content_range_total(
                    response.headers.get("Content-Range"))
            else:  # a 200: the whole body (the server ignored any Range)
                mode, offset, resumed = "wb", 0, False
                total = int(length) if length and length.isdigit() else None
            try:
                _copy(response, part, mode, offset, total, progress)
            except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
                error: BaseException | None = e
            else:
                error = None
        size = part.stat().st_size
        if error is None and (total is None or size >= total):
            return resumed
        failures += 1
        if failures > retries:
            why = _one_line(error) if error is not None else "connection closed early"
            of = f" of {total}" if total is not None else ""
            raise DownloadError(
                f"{url}: interrupted after {size}{of} bytes ({why}); the partial download {part} "
                f"is kept and resumes on the next run",
            )
        if failures > 1:
            time.sleep(min(RETRY_BACKOFF_S * 2**failures, 4.0))


def _copy(response: http.client.HTTPResponse, part: Path, mode: str, offset: int, total: int | None,
          progress: bool) -> None:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=part.name.removesuffix(".part"), file=sys.stderr, mininterval=0.3)
    try:
        with open(part, mode) as fh:
            while block := response.read(CHUNK_BYTES):
                fh.write(block)
                if bar is not None:
                    bar.update(len(block))
    finally:
        if bar is not None:
            bar.close()


def _again(url: str, failures: int, retries: int, why: str) -> int:
    """Count one more failed attempt; raise once ``retries`` are used up."""
    if failures >= retries:
        raise DownloadError(f"{url}: could not resume ({why})")
    return failures + 1


_RANGE = re.compile(r"bytes\s+(\d+|\*)(?:-(\d+))?/(\d+|\*)")


def _content_range_start(value: str | None) -> int | None:
    m = _RANGE.match(value or "")
    return int(m.group(1)) if m and m.group(1) != "*" else None


def _content_range_total(value: str | None) -> int | None:
    m = _RANGE.match(value or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _hint(text: str) -> str:
    return f": {text}" if text else ""


def _one_line(e: object) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__

