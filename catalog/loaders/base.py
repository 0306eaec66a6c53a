"""The contract every source-format loader follows.

A loader streams its files (never reading a multi-GB file into memory), validates each row, and
yields Nautilus data objects in non-decreasing ``ts_init`` order. Rows it cannot keep are reported to
the ``QualityReport`` with file, line and field, never silently dropped. The ingest driver batches
the stream, writes it aside and moves it into the catalog only when the loader finished.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from nautilus_trader.core.data import Data
from nautilus_trader.model.instruments import Instrument

from catalog.quality import QualityReport


class Loader(Protocol):
    """A source format. Construct with format-specific options, then stream."""

    name: str
    """The ``amm ingest`` format name, e.g. ``binance-ws``."""

    def instruments(self) -> list[Instrument]:
        """Instruments the data refers to (call after ``iter_data`` has been consumed)."""
        ...

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        """Yield data objects for ``files`` (one continuous stream) in ``ts_init`` order."""
        ...
