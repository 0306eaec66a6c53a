"""Exchange trading hours: when a market maker may quote, and when it must be flat.

Crypto venues trade around the clock; an equity exchange has a session (NASDAQ: 09:30-16:00
America/New_York) and a market maker carries nothing overnight: the close auction and the
overnight gap are risks a quoting model does not price. :class:`TradingSession` answers, for a
UTC timestamp, whether quoting is allowed, and gives the moment to be flat by: ``flat_before_s``
before the close, so the flattening order still meets a continuous book.

Daylight-saving changes are handled by computing each day's bounds in the session's time zone
(``zoneinfo``); holidays are not modelled (no data arrives on them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NS = 1_000_000_000


def parse_clock(value: str, name: str) -> dt.time:
    """``"HH:MM"`` or ``"HH:MM:SS"`` as a time of day; ``ValueError`` naming ``name`` otherwise."""
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected a time of day like '09:30', got {value!r}") from e


@dataclass
class TradingSession:
    """A daily session in a time zone, with a flat-by margin before its close.

    Parameters
    ----------
    timezone : str
        IANA time-zone name of the exchange (``America/New_York``).
    open, close : str
        Session bounds in local time (``"09:30"``, ``"16:00"``).
    flat_before_s : int
        Seconds before ``close`` from which no quote rests and the position is closed.
    """

    timezone: str
    open: str = "09:30"
    close: str = "16:00"
    flat_before_s: int = 60
    _tz: ZoneInfo = field(init=False, repr=False)
    _day: tuple[int, int, int, int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"session_timezone: unknown time zone {self.timezone!r}") from e
        self._open = parse_clock(self.open, "session_open")
        self._close = parse_clock(self.close, "session_close")
        length = (dt.datetime.combine(dt.date.min, self._close) - dt.datetime.combine(dt.date.min, self._open)).total_seconds()
        if length <= 0:
            raise ValueError(f"session_close {self.close!r} must be after session_open {self.open!r}")
        if not 0 <= self.flat_before_s < length:
            raise ValueError(f"flat_before_close_s: must be in [0, {int(length)}) s, got {self.flat_before_s}")

    def _bounds(self, ts_ns: int) -> tuple[int, int, int, int]:
        """(local day start, open, flat-by, next local day start) in UTC ns for ``ts_ns``'s day."""
        day = self._day
        if day is not None and day[0] <= ts_ns < day[3]:
            return day
        local = dt.datetime.fromtimestamp(ts_ns / _NS, tz=self._tz).date()

        def at(date: dt.date, time: dt.time) -> int:
            return int(dt.datetime.combine(date, time, tzinfo=self._tz).timestamp()) * _NS

        start = at(local, dt.time(0))
        flat = at(local, self._close) - self.flat_before_s * _NS
        self._day = (start, at(local, self._open), flat, at(local + dt.timedelta(days=1), dt.time(0)))
        return self._day

    def quoting_allowed(self, ts_ns: int) -> bool:
        """True from the open until ``flat_before_s`` before the close."""
        _, open_ns, flat_ns, _ = self._bounds(ts_ns)
        return open_ns <= ts_ns < flat_ns

    def day_of(self, ts_ns: int) -> int:
        """An id of the local trading day of ``ts_ns`` (its local midnight in UTC ns)."""
        return self._bounds(ts_ns)[0]
