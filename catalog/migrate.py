"""Bring a catalog written by NautilusTrader 1.221 (this project before 1.231) up to date.

Two things changed under existing catalogs:

* NautilusTrader 1.231 reads ``OrderBookDelta`` from ``data/order_book_deltas/``; 1.221 wrote
  ``data/order_book_delta/``. Opened by 1.231, an old catalog silently holds no book at all
  (quotes, trades and instruments still read). The files themselves are compatible (checked on a
  catalog written by 1.221, ``tests/fixtures/catalog_1221``), so the directory is renamed.
* Windows must start from a full book (``catalog.checkpoints``): old catalogs have no
  checkpoints, so they are built from the migrated deltas.

Readers refuse an old layout with a one-line error naming ``amm catalog migrate`` instead of
replaying an empty book (:func:`legacy_layout`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.checkpoints import DEFAULT_INTERVAL_S, CheckpointBuilder
from catalog.writer import StagedCatalogWriter

LEGACY_DELTA_DIR = "order_book_delta"
DELTA_DIR = "order_book_deltas"


class LegacyCatalogError(ValueError):
    """A catalog in 1.221's layout: migrate it before reading or writing it."""


def legacy_layout(catalog_path: str | Path) -> list[str]:
    """Instruments whose deltas sit in 1.221's ``data/order_book_delta/`` (empty: up to date)."""
    legacy = Path(catalog_path) / "data" / LEGACY_DELTA_DIR
    if not legacy.is_dir():
        return []
    return sorted(p.name for p in legacy.iterdir() if p.is_dir() and any(p.glob("*.parquet")))


def check_layout(catalog_path: str | Path) -> None:
    """Raise :class:`LegacyCatalogError` (one line, says what to run) for a 1.221 catalog."""
    old = legacy_layout(catalog_path)
    if old:
        raise LegacyCatalogError(
            f"{catalog_path}: order book data of {', '.join(old)} is in NautilusTrader 1.221's layout "
            f"(data/{LEGACY_DELTA_DIR}/), which 1.231 reads as empty; run "
            f"`amm catalog migrate --catalog {catalog_path}`",
        )


@dataclass
class MigrationResult:
    """What :func:`migrate_catalog` did."""

    moved: list[str] = field(default_factory=list)
    checkpoints: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"moved": self.moved, "checkpoints": self.checkpoints}


def migrate_catalog(catalog_path: str | Path, *, checkpoint_interval_s: float = DEFAULT_INTERVAL_S) -> MigrationResult:
    """Move 1.221's delta directories into 1.231's layout and build the missing checkpoints.

    Idempotent: an up-to-date catalog is left as it is (only checkpoints an instrument lacks are
    built). Holds the catalog's writer lock; each directory move is one atomic rename, and the
    checkpoints are committed through the journaled writer, so an interrupted migration leaves
    a catalog that the next run finishes.
    """
    root = Path(catalog_path)
    if not (root / "data").is_dir():
        raise FileNotFoundError(f"{root}: not a catalog (no data/ directory)")
    result = MigrationResult()
    with StagedCatalogWriter(root, checkpoint_interval_s=None) as writer:  # the lock, and a staging area
        legacy = root / "data" / LEGACY_DELTA_DIR
        for iid in legacy_layout(root):
            target = root / "data" / DELTA_DIR / iid
            if target.exists() and any(target.glob("*.parquet")):
                raise LegacyCatalogError(
                    f"{root}: {iid} has order book files in both data/{LEGACY_DELTA_DIR}/ and "
                    f"data/{DELTA_DIR}/; re-ingest it into a new catalog",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(legacy / iid, target)
            result.moved.append(iid)
        if legacy.is_dir() and not any(legacy.iterdir()):
            legacy.rmdir()
        catalog = ParquetDataCatalog(str(root))
        existing = ParquetDataCatalog(str(writer.checkpoint_root))
        for iid in sorted(p.name for p in (root / "data" / DELTA_DIR).glob("*") if p.is_dir()):
            if existing.get_intervals(OrderBookDelta, iid):
                continue
            builder = CheckpointBuilder(int(checkpoint_interval_s * 1e9), anchored=lambda _i, _t: True)
            images = []
            for delta in catalog.query(OrderBookDelta, identifiers=[iid]):
                images.extend(builder.add(delta))
            images.extend(builder.finish())
            for image in images:
                writer.add_checkpoint(image)
            result.checkpoints[iid] = len(images)
        writer.commit()
    return result
