"""Options and run statistics of :class:`~catalog.loaders.binance_ws.BinanceWsLoader`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from catalog.loaders.binance_ws.wire import Market


@dataclass(frozen=True)
class BinanceWsLoaderConfig:
    """Options of ``BinanceWsLoader``.

    Parameters
    ----------
    instrument_id : str or None
        Override the instrument id derived from the stream (must exist in the spec).
    spec_file : Path or None
        Instrument spec TOML; defaults to ``catalog/instruments.toml``.
    time_gap_threshold_s : float
        A pause between consecutive lines longer than this is marked ``TIME_GAP``.
    outlier_threshold_bps : float
        Quotes/trades further than this from the last good mid are dropped as ``OUTLIER``.
    """

    instrument_id: str | None = None
    spec_file: Path | None = None
    time_gap_threshold_s: float = 30.0
    outlier_threshold_bps: float = 500.0

    def __post_init__(self) -> None:
        if not self.time_gap_threshold_s > 0:
            raise ValueError(f"time_gap_threshold_s must be > 0, got {self.time_gap_threshold_s}")
        if not self.outlier_threshold_bps > 0:
            raise ValueError(f"outlier_threshold_bps must be > 0, got {self.outlier_threshold_bps}")


@dataclass
class BinanceWsStats:
    """What one ``iter_data`` run did, per input kind (complements the ``QualityReport``).

    ``kept[kind] + dropped[kind] == report.rows_read[kind]`` for every kind once the stream is
    consumed; ``kept['depth']`` counts applied diffs, ``delta_batches`` the ``F_LAST``-closed
    batches emitted (snapshots included).
    """

    market: Market | None = None
    symbol: str | None = None
    files_in_order: list[str] = field(default_factory=list)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    snapshots_applied: int = 0
    delta_batches: int = 0
    sequence_gaps: int = 0
    ts_clamped: int = 0
    sizes_rounded: int = 0
