"""Keep secrets out of everything the process writes to stdout / stderr, and out of its log file.

NautilusTrader logs from Rust, straight to file descriptors 1 and 2, so a Python ``logging``
filter cannot reach it. 1.221's Binance and Bybit execution clients logged the full API key when
they connected; 1.231 masks it there, but the ``repr`` and JSON of every Binance/Bybit client
config still hold the key and secret, and the kernel writes that config out when streaming is on.
The only place to catch every line is below the writers: :class:`OutputRedactor` points fds 1 and 2 at pipes, and a thread
copies each line to the original descriptor (and, optionally, to a log file) with every known
secret replaced by ``****``.

This is why the node does not use Nautilus' own file logging: the tee here writes the log file,
after redaction. Lines are processed whole (a secret is never split across two writes of the
filter); a line longer than 1 MiB is flushed in pieces.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

MASK = "****"
_MAX_LINE = 1 << 20


class Redactor:
    """Replace known secret values in text (longest first, so overlapping values both vanish)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[bytes] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        # Very short values would mask ordinary text; real keys are >= 16 characters.
        if secret and len(secret) >= 8:
            raw = secret.encode()
            if raw not in self._secrets:
                self._secrets.append(raw)
                self._secrets.sort(key=len, reverse=True)

    def redact_bytes(self, data: bytes) -> bytes:
        for s in self._secrets:
            if s in data:
                data = data.replace(s, MASK.encode())
        return data

    def redact(self, text: str) -> str:
        return self.redact_bytes(text.encode()).decode(errors="replace")


class OutputRedactor:
    """Context manager that filters fds 1 and 2 through a :class:`Redactor` (and tees to a file).

    Parameters
    ----------
    redactor : Redactor
        The secrets to mask.
    log_file : Path, optional
        Also append every (redacted) line here.
    logs_to_stderr : bool, default False
        Send whatever is written to fd 1 (Nautilus' console log above all) to the original stderr,
        keeping the original stdout for :meth:`result` alone. A ``--json`` run needs this: the
        logger writes from its own thread, so a late log line could otherwise land after the JSON.

    """

    def __init__(self, redactor: Redactor, log_file: Path | None = None, *, logs_to_stderr: bool = False) -> None:
        self._redactor = redactor
        self._logs_to_stderr = logs_to_stderr
        self._log_path = Path(log_file) if log_file else None
        self._log = None
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> OutputRedactor:
        sys.stdout.flush()
        sys.stderr.flush()
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in __exit__
        for fd in (1, 2):
            self._saved[fd] = os.dup(fd)
        # One pipe per destination: with logs_to_stderr, fds 1 and 2 share a pipe, so their lines
        # reach stderr in the order they were written and never interleave mid-line.
        routes = {2: (1, 2)} if self._logs_to_stderr else {1: (1,), 2: (2,)}
        for dest, sources in routes.items():
            read_end, write_end = os.pipe()
            for fd in sources:
                os.dup2(write_end, fd)
            os.close(write_end)
            t = threading.Thread(target=self._pump, args=(read_end, self._saved[dest]), daemon=True, name=f"redact-fd{dest}")
            t.start()
            self._threads.append(t)
        return self

    def result(self, text: str) -> None:
        """Write ``text`` (redacted, plus a newline) to the original stdout, past the log pipes."""
        self._emit(self._saved[1], (text + "\n").encode(), tee=False)

    def _pump(self, read_fd: int, out_fd: int) -> None:
        buf = b""
        with os.fdopen(read_fd, "rb", buffering=0) as src:
            while True:
                chunk = src.read(65536)
                if not chunk:
                    break
                buf += chunk
                if b"\n" not in buf and len(buf) < _MAX_LINE:
                    continue
                head, sep, buf = buf.rpartition(b"\n") if b"\n" in buf else (buf, b"", b"")
                self._emit(out_fd, head + sep)
        if buf:
            self._emit(out_fd, buf)

    def _emit(self, out_fd: int, data: bytes, *, tee: bool = True) -> None:
        clean = self._redactor.redact_bytes(data)
        view = memoryview(clean)
        while view:
            n = os.write(out_fd, view)
            view = view[n:]
        if tee and self._log is not None:
            with self._lock:
                self._log.write(clean)
                self._log.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _flush_nautilus_logger()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes the pipe's last write end: the pump sees EOF
        for t in self._threads:
            t.join(timeout=5)
        if any(t.is_alive() for t in self._threads):
            # A pump still reading (a child process holds the pipe open): leave its descriptors
            # and the log file open rather than have it write into a reused fd or a closed file.
            return
        for saved in self._saved.values():
            os.close(saved)
        self._saved.clear()
        if self._log is not None:
            with self._lock:
                self._log.close()
                self._log = None


def _flush_nautilus_logger() -> None:
    """Drain NautilusTrader's logging thread before the pipes close, so no line escapes unfiltered."""
    component = sys.modules.get("nautilus_trader.common.component")
    if component is None:
        return
    component.flush_logger()
    time.sleep(0.2)  # the flush is asynchronous: let the logging thread write its buffer
