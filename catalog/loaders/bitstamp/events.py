"""What the readers produce and the book and the side inference consume: pure data, no files.

One event per input row (an order message, a trade, a level snapshot), or per block for the
recorder's REST book and its closing deletes; the :class:`Fill` s the book reveals to the side
inference; the loader's options (:class:`BitstampLoaderConfig`) and counts
(:class:`BitstampStats`); prices and sizes as integer ticks and lots (:func:`to_units`); and the
ids of the synthetic orders that stand for orders older than a capture (:func:`synthetic_order_id`,
see :mod:`~catalog.loaders.bitstamp.book`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nautilus_trader.model.enums import AggressorSide, RecordFlag

from catalog.quality import Issue, RowRejected

F_LAST = int(RecordFlag.F_LAST)
F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
MS = 1_000_000

SYNTHETIC_ID_BASE = 1 << 62
"""Ids at or above this are synthetic orders (one per side and price level); Bitstamp's are < 2**53."""

CREATED, CHANGED, DELETED = "created", "changed", "deleted"
_KIND_OF_ACTION = {CREATED: "order_created", CHANGED: "order_changed", DELETED: "order_deleted"}
_RECENT_IDS = 200_000
"""Deleted order ids / trade ids remembered for duplicate detection (bounds memory)."""


def synthetic_order_id(is_bid: bool, price_ticks: int) -> int:
    """The id of the synthetic order standing for unknown orders at one level (see the ``book`` module)."""
    return SYNTHETIC_ID_BASE | (int(not is_bid) << 60) | price_ticks


def is_synthetic(order_id: int) -> bool:
    return order_id >= SYNTHETIC_ID_BASE



# --- parsed events (pure data: the book and the inference never see files) ------------------


@dataclass(slots=True)
class OrderEvent:
    """One order message: ``amount`` is the remaining amount in lots, ``price`` in ticks."""

    action: str
    order_id: int
    is_bid: bool
    price: int
    amount: int
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0
    ts_local: int = 0  # before clamping (0: same as ts_init)


@dataclass(slots=True)
class TradeEvent:
    """One trade; ``side`` is the file's own aggressor side (None: the source has none)."""

    trade_id: int
    price: int
    amount: int
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0
    side: AggressorSide | None = None


@dataclass(slots=True)
class LevelSnapshot:
    """A top-N price-level snapshot (``order_book``): ``(price_ticks, lots)``, best first."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class OrderImage:
    """The full order-by-order book the recorder fetched over REST (opens its CSV)."""

    orders: list[OrderEvent]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class BookClose:
    """The recorder's closing deletes (one per order still open when it stopped)."""

    orders: list[OrderEvent]
    ts_init: int
    ts_event: int
    file: str = ""
    line: int = 0


Event = OrderEvent | TradeEvent | LevelSnapshot | OrderImage | BookClose


@dataclass(slots=True)
class Fill:
    """Evidence of a match: an order's remaining amount fell by ``lots`` (None: unknown)."""

    ts: int
    order_id: int
    is_bid: bool
    price: int
    lots: int | None
    used: bool = False


# --- options and statistics ------------------------------------------------------------------


@dataclass(frozen=True)
class BitstampLoaderConfig:
    """Options of :class:`BitstampLoader` (what each one decides: the ``book``, ``sides`` and ``loader`` modules).

    Parameters
    ----------
    instrument_id : str or None
        Override the id implied by the file names (``bitstamp_btcusd_*`` -> ``BTCUSD.BITSTAMP``).
    spec_file : Path or None
        Instrument spec TOML; defaults to ``catalog/instruments.toml``.
    trade_sides : {"file", "infer"}
        Where a trade's aggressor side comes from when the file has one.
    side_window_before_ms, side_window_after_ms : int
        How far before / after a trade (local time) its order fills are looked for.
    correction_confirmations : int
        Consecutive snapshots a level must disagree in (by the same amount) before it is
        corrected; 0 disables corrections (the first snapshot still anchors).
    stale_after_ms : int
        How long an order may wait in flight without an event of its own before the resting
        orders it locks/crosses are taken as gone.
    """

    instrument_id: str | None = None
    spec_file: Path | None = None
    trade_sides: Literal["file", "infer"] = "file"
    side_window_before_ms: int = 2_000
    side_window_after_ms: int = 2_000
    correction_confirmations: int = 2
    stale_after_ms: int = 1_000

    def __post_init__(self) -> None:
        if self.trade_sides not in ("file", "infer"):
            raise ValueError(f"trade_sides must be 'file' or 'infer', got {self.trade_sides!r}")
        if self.side_window_before_ms < 0 or self.side_window_after_ms < 0:
            raise ValueError("side windows must be >= 0 ms")
        if self.correction_confirmations < 0:
            raise ValueError(f"correction_confirmations must be >= 0, got {self.correction_confirmations}")
        if self.stale_after_ms <= 0:
            raise ValueError(f"stale_after_ms must be > 0, got {self.stale_after_ms}")


@dataclass
class BitstampStats:
    """What one ``iter_data`` run did (complements the ``QualityReport``).

    ``kept[kind] + dropped[kind] == report.rows_read[kind]`` for every kind; ``sides`` counts
    trades by the rule that gave their side (``file`` when written from the trades CSV,
    ``none`` when no rule could decide).
    """

    file_kinds: dict[str, str] = field(default_factory=dict)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    events: int = 0
    anchors: int = 0
    synthetic_orders_seeded: int = 0
    synthetic_orders_added: int = 0
    corrections: int = 0
    corrected_lots: int = 0
    excess_known: int = 0
    unknown_ids: Counter[str] = field(default_factory=Counter)
    unknown_deletes_from_synthetic: int = 0
    image_orders: int = 0
    closing_deletes: int = 0
    unpriced_orders: int = 0
    stale_removals: int = 0
    stale_orders_removed: int = 0
    deletes_before_create: int = 0
    held_in_flight: int = 0
    released_from_flight: int = 0
    takers_never_rested: int = 0
    crossed_after_event: int = 0
    snapshots_compared: int = 0
    snapshot_best_agree: int = 0
    snapshot_top5_agree: int = 0
    snapshot_all_agree: int = 0
    sides: Counter[str] = field(default_factory=Counter)
    inferred: Counter[str] = field(default_factory=Counter)
    side_agreement: Counter[str] = field(default_factory=Counter)
    ts_replayed: int = 0
    ts_clamped: int = 0
    meta: dict = field(default_factory=dict)


def to_units(value: str | float | int, scale: int, field_name: str, *, what: str) -> int:
    """``value * scale`` as an integer (ticks or lots); raise ``RowRejected`` if it is off the grid.

    Float noise up to 1e-6 of a unit is not information (the recorder writes Python floats);
    more than that means the value is not a multiple of the tick / lot.
    """
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise RowRejected(Issue.MALFORMED, field_name, f"{what} {value!r} is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    else:
        raise RowRejected(Issue.MALFORMED, field_name, f"{what} {value!r} is not a number")
    if not math.isfinite(x):
        raise RowRejected(Issue.NAN, field_name, f"{what} {value!r} is not finite")
    scaled = x * scale
    units = round(scaled)
    if abs(scaled - units) > 1e-6 + 4e-16 * abs(scaled):
        raise RowRejected(Issue.MALFORMED, field_name, f"{what} {value} is not a multiple of {1 / scale:g}")
    return units


__all__ = [
    "SYNTHETIC_ID_BASE",
    "BitstampLoaderConfig",
    "BitstampStats",
    "BookClose",
    "Event",
    "Fill",
    "LevelSnapshot",
    "OrderEvent",
    "OrderImage",
    "TradeEvent",
    "is_synthetic",
    "synthetic_order_id",
    "to_units",
]
