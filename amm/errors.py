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

import sys
from collections.abc import Callable

USER_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError, RuntimeError)
"""Exceptions whose message is the whole story for the user."""

BUGS: tuple[type[Exception], ...] = (NotImplementedError, RecursionError)
"""``RuntimeError`` subclasses that only a code change fixes: their traceback stays."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (whitespace collapsed), or its type name if it has none."""
    return " ".join(str(error).split()) or type(error).__name__


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
