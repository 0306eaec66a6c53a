"""The one error policy of the ``amm`` command.

* A user error (a bad file, a bad config, bad data, an unreachable host, a locked catalog) is one
  line ``error: ...`` on stderr and exit code 1. The library packages signal these by raising
  ``ValueError`` (config errors and ``DataQualityError`` included), ``OSError`` (missing, unreadable
  or existing files) or ``RuntimeError`` (download failures, a model whose hash does not match its
  manifest, missing credentials, a catalog written by another process), with a message that names
  the file and the field or row; commands raise them too and never print errors themselves.
* Ctrl-C exits 130 (Typer maps ``KeyboardInterrupt`` inside a command; this catches it elsewhere).
* Anything else is a bug and keeps its traceback; so do ``NotImplementedError`` and
  ``RecursionError``, although both subclass ``RuntimeError``.
* Click's own usage errors (unknown option, missing argument) keep Click's message and exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USER_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError, RuntimeError)
"""Exceptions whose message is the whole story for the user."""

BUGS: tuple[type[Exception], ...] = (NotImplementedError, RecursionError)
"""``RuntimeError`` subclasses that only a code change fixes: their traceback stays."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (whitespace collapsed).

    A message with no words in it (``OSError(2)`` prints as ``2``, an empty ``RuntimeError`` as
    nothing) says nothing to the user, so it gets the error's type, its OS description when it
    carries an errno, and the file and line that raised it: ``FileNotFoundError 2 (No such file or
    directory) at rl/train.py:120``.
    """
    message = " ".join(str(error).split())
    if any(c.isalpha() for c in message):
        return message
    parts = [type(error).__name__]
    if message:
        parts.append(message)
    code = error.errno if isinstance(error, OSError) else None
    if code is None and isinstance(error, OSError) and message.isdigit():
        code = int(message)
    if code is not None:
        try:
            parts.append(f"({os.strerror(code)})")
        except ValueError:
            pass
    where = _raised_at(error)
    if where:
        parts.append(f"at {where}")
    return " ".join(parts)


def _raised_at(error: BaseException) -> str | None:
    """``path:line`` of the innermost frame that raised ``error``, relative to the working directory."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = tb.tb_frame.f_code.co_filename
    try:
        path = os.path.relpath(path)
    except ValueError:
        pass
    return f"{path}:{tb.tb_lineno}"


def run_with_policy(app: Callable[[], object]) -> None:
    """Run ``app`` (a Typer app or any callable) and turn user errors into one line and an exit code."""
    try:
        app()
    except BUGS:
        raise
    except USER_ERRORS as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
