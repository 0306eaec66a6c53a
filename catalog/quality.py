"""Data-quality accounting shared by every loader.

Every row a loader reads is either written or dropped *for a named reason*; nothing bad is kept
silently. In strict mode the first problem aborts the ingest with the file, line and field, so the
catalog is left untouched (the writer only moves data into place after the loader finished).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Issue(str, Enum):
    """Why a row was dropped or an event was marked. Values are stable JSON keys."""

    MALFORMED = "malformed"  # unparsable line, bad JSON, missing field, wrong type
    UNKNOWN_STREAM = "unknown_stream"  # a message type this loader does not handle
    DUPLICATE = "duplicate"  # same row (or same update id / trade id) seen before
    OUT_OF_ORDER = "out_of_order"  # timestamp or sequence id going backwards
    SEQUENCE_GAP = "sequence_gap"  # missing depth updates: book invalid until next snapshot
    STALE_UPDATE = "stale_update"  # depth diff older than the snapshot (Binance sync rule)
    UNSYNCED = "unsynced"  # depth diff while no valid book (before snapshot / after a gap)
    CROSSED_BOOK = "crossed_book"  # best bid > best ask
    LOCKED_BOOK = "locked_book"  # best bid == best ask
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_SIZE = "negative_size"
    ZERO_SIZE = "zero_size"  # zero size where a size is required (quote side, trade)
    NAN = "nan"
    OUTLIER = "outlier"  # price too far from a running reference (see loader docs)
    TIME_GAP = "time_gap"  # no data for longer than the threshold (marked, not dropped)
    TRUNCATED = "truncated"  # file ends mid-stream (e.g. truncated gzip)


EXPECTED = frozenset({Issue.STALE_UPDATE})
"""Issues that are normal protocol (Binance asks clients to discard diffs older than the
snapshot): counted, but not treated as a data problem even in strict mode."""

MARKED_ONLY = frozenset({Issue.TIME_GAP, Issue.SEQUENCE_GAP})
"""Issues that mark an event rather than drop the row that revealed it."""


class DataQualityError(ValueError):
    """Bad input: the message names the file, line and field."""


class RowRejected(Exception):
    """A loader's row fails validation with ``issue`` in ``field_name``.

    Raised deep in a loader's parsing and caught where the row's file and line are known, which
    reports it (:meth:`QualityReport.problem`) and drops the row.
    """

    def __init__(self, issue: Issue, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.issue = issue
        self.field_name = field_name
        self.detail = detail


@dataclass
class Event:
    """A marked event (sequence gap, time gap...) with where it was found and how it was handled."""

    issue: Issue
    file: str
    line: int | None
    detail: str
    handling: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "issue": self.issue.value,
            "file": self.file,
            "line": self.line,
            "detail": self.detail,
            "handling": self.handling,
        }


@dataclass
class QualityReport:
    """Counts of rows read, written and dropped (by reason), plus marked events.

    Parameters
    ----------
    source_format : str
        The ingest format name (``binance-ws``, ``tardis``...).
    strict : bool
        If True, any problem not in ``EXPECTED`` raises ``DataQualityError``.
    max_events : int
        How many events of each issue to keep verbatim (counts are always complete).
    """

    source_format: str
    strict: bool = False
    max_events: int = 50
    files: list[str] = field(default_factory=list)
    rows_read: Counter[str] = field(default_factory=Counter)
    rows_written: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    marked: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def read(self, kind: str, n: int = 1) -> None:
        """Count ``n`` input rows of ``kind`` (e.g. ``depth``, ``bookTicker``, ``trade``)."""
        self.rows_read[kind] += n

    def written(self, kind: str, n: int = 1) -> None:
        """Count ``n`` output objects of ``kind`` (e.g. ``QuoteTick``) handed to the catalog."""
        self.rows_written[kind] += n

    def problem(
        self,
        issue: Issue,
        *,
        file: str | Path,
        line: int | None,
        field_name: str | None = None,
        detail: str = "",
        handling: str = "dropped",
        n: int = 1,
        kept: bool = False,
    ) -> None:
        """Record a problem; raise in strict mode unless the issue is expected protocol.

        Drops count under ``dropped``; marked events (issues in ``MARKED_ONLY``, or any issue
        reported with ``kept=True`` because the loader repaired the row and kept it, e.g. a
        clamped timestamp) under ``marked``. The first ``max_events`` of each issue are kept
        with their location.
        """
        file = str(file)
        where = f"{file}:{line}" if line is not None else file
        message = f"{where}: {issue.value}"
        if field_name:
            message += f" in field '{field_name}'"
        if detail:
            message += f": {detail}"
        if self.strict and issue not in EXPECTED:
            raise DataQualityError(message)
        if kept or issue in MARKED_ONLY:
            self.marked[issue.value] += n
        else:
            self.dropped[issue.value] += n
        if sum(1 for e in self.events if e.issue is issue) < self.max_events:
            self.events.append(Event(issue, file, line, detail or message, handling))

    @property
    def total_read(self) -> int:
        return sum(self.rows_read.values())

    @property
    def total_written(self) -> int:
        return sum(self.rows_written.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.source_format,
            "strict": self.strict,
            "files": list(self.files),
            "rows_read": dict(self.rows_read),
            "rows_written": dict(self.rows_written),
            "dropped": dict(self.dropped),
            "marked": dict(self.marked),
            "events": [e.as_dict() for e in self.events],
            "notes": list(self.notes),
        }

    def to_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2))
        tmp.replace(path)
