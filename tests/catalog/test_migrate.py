"""A catalog written by NautilusTrader 1.221 is refused by readers, then migrated in place.

``tests/fixtures/catalog_1221`` was written by 1.221 (``tests/fixtures/make_catalog_1221.py``,
synthetic data): its 27 deltas sit in ``data/order_book_delta/``, which 1.231 reads as no book.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nautilus_trader.model.data import OrderBookDelta, QuoteTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.window import CatalogDataError, load_window
from catalog.checkpoints import CHECKPOINT_DIR, start_book
from catalog.ingest import ingest_files
from catalog.migrate import LegacyCatalogError, legacy_layout, migrate_catalog

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "catalog_1221"
IID = "BTCUSDT-PERP.BINANCE"


@pytest.fixture
def old_catalog(tmp_path) -> Path:
    path = tmp_path / "old"
    shutil.copytree(FIXTURE, path)
    return path


def test_nautilus_1231_reads_no_book_from_the_old_layout(old_catalog):
    cat = ParquetDataCatalog(str(old_catalog))
    assert cat.query(OrderBookDelta) == [] and len(cat.query(QuoteTick)) == 20
    assert legacy_layout(old_catalog) == [IID]


def test_readers_and_writers_refuse_the_old_layout_saying_what_to_run(old_catalog):
    with pytest.raises(CatalogDataError, match=r"1\.221's layout .* run `amm catalog migrate --catalog"):
        load_window(old_catalog, IID, None, None, "L2_MBP")
    with pytest.raises(LegacyCatalogError, match="amm catalog migrate"):
        ingest_files("binance-ws", [Path("/nonexistent.gz")], old_catalog)


def test_migrate_moves_the_deltas_and_builds_checkpoints_once(old_catalog):
    result = migrate_catalog(old_catalog, checkpoint_interval_s=5.0)
    # t = 0, 6, 12, 18 s: >= 5 s apart and >= 6 deltas (the 6 levels of the last image) since the last
    assert result.moved == [IID] and result.checkpoints == {IID: 4}
    assert legacy_layout(old_catalog) == []
    assert not (old_catalog / "data" / "order_book_delta").exists()
    cat = ParquetDataCatalog(str(old_catalog))
    assert len(cat.query(OrderBookDelta)) == 27
    window = load_window(old_catalog, IID, 1_700_000_007_500_000_000, None, "L2_MBP")
    assert window.start_book is not None and len(window.start_book.deltas) == 7  # CLEAR + 6 levels
    assert start_book(old_catalog, IID, 1_700_000_007_500_000_000, per_order=False) is not None
    cps = ParquetDataCatalog(str(old_catalog / CHECKPOINT_DIR)).query(OrderBookDelta)
    again = migrate_catalog(old_catalog)
    assert again.moved == [] and again.checkpoints == {}
    assert len(ParquetDataCatalog(str(old_catalog / CHECKPOINT_DIR)).query(OrderBookDelta)) == len(cps)


def test_cli_migrate_json(old_catalog):
    done = subprocess.run(
        [sys.executable, "-m", "amm.cli", "catalog", "migrate", "--catalog", str(old_catalog), "--json"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["moved"] == [IID]
    info = subprocess.run(
        [sys.executable, "-m", "amm.cli", "catalog", "info", "--catalog", str(old_catalog), "--json"],
        capture_output=True, text=True, check=False,
    )
    rows = {(r["type"], r["identifier"]): r["rows"] for r in json.loads(info.stdout)["data"]}
    assert rows[("order_book_deltas", IID)] == 27


def test_cli_info_on_an_old_catalog_is_one_line_error(old_catalog):
    done = subprocess.run(
        [sys.executable, "-m", "amm.cli", "catalog", "info", "--catalog", str(old_catalog)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "amm catalog migrate" in done.stderr
