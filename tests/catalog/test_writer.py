"""The staged writer: all-or-nothing commits, idempotent re-ingest, rollback after a crash.

Synthetic quotes are fine here: this tests file handling, not market data (the loaders' tests
use the real captures).
"""

from __future__ import annotations

import os

import pytest
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog import writer as writer_mod
from catalog.instruments import build_instrument, get_spec
from catalog.writer import StagedCatalogWriter, recover
from tests.helpers import tree_digest

INSTRUMENT = build_instrument(get_spec("BTCUSDT-PERP.BINANCE"))
T0 = 1_723_161_600_000_000_000


def quotes(start: int, n: int, step_ns: int = 100_000_000) -> list[QuoteTick]:
    out = []
    for i in range(n):
        ts = start + i * step_ns
        bid = 60_000.0 + ((ts - T0) // step_ns % 7) * 0.1  # a function of time: overlaps repeat rows
        out.append(
            QuoteTick(
                instrument_id=INSTRUMENT.id,
                bid_price=INSTRUMENT.make_price(bid),
                ask_price=INSTRUMENT.make_price(bid + 0.1),
                bid_size=INSTRUMENT.make_qty(1.0),
                ask_size=INSTRUMENT.make_qty(2.0),
                ts_event=ts,
                ts_init=ts,
            ),
        )
    return out


def write(path, data, chunk_rows=1000) -> writer_mod.CommitSummary:
    with StagedCatalogWriter(path, chunk_rows=chunk_rows) as w:
        w.extend(data)
        w.add_instruments([INSTRUMENT])
        return w.commit()


def read_ts(path) -> list[int]:
    return [q.ts_init for q in ParquetDataCatalog(str(path)).quote_ticks()]


def test_chunks_are_written_and_read_back_in_order(tmp_path):
    data = quotes(T0, 2500)
    summary = write(tmp_path, data, chunk_rows=1000)
    assert summary.rows_added["quote_tick"] == 2500
    assert read_ts(tmp_path) == [q.ts_init for q in data]
    assert len(list((tmp_path / "data" / "quote_tick").rglob("*.parquet"))) == 3
    assert [i.id.value for i in ParquetDataCatalog(str(tmp_path)).instruments()] == ["BTCUSDT-PERP.BINANCE"]
    assert not list(tmp_path.glob(".amm-staging-*"))


def test_writing_the_same_data_twice_does_not_duplicate(tmp_path):
    data = quotes(T0, 1500)
    write(tmp_path, data)
    second = write(tmp_path, data)
    assert second.rows_added["quote_tick"] == 0
    assert second.duplicate_rows_removed["quote_tick"] == 1500
    assert read_ts(tmp_path) == [q.ts_init for q in data]
    assert len(ParquetDataCatalog(str(tmp_path)).instruments()) == 1


def test_several_new_files_inside_one_existing_file_merge_into_it(tmp_path):
    """A dense re-ingest (small chunks) of a span one earlier file covers: one merged group."""
    data = quotes(T0, 2000)
    write(tmp_path, data, chunk_rows=10_000)  # one file
    summary = write(tmp_path, data, chunk_rows=500)  # four staged files, all inside it
    assert summary.rows_added["quote_tick"] == 0
    assert summary.duplicate_rows_removed["quote_tick"] == 2000
    assert summary.files_replaced == 2 and summary.files_added == 2  # the quote file and the instrument's
    assert read_ts(tmp_path) == [q.ts_init for q in data]


def test_one_new_file_bridging_two_existing_files_merges_all_three(tmp_path):
    write(tmp_path, quotes(T0, 500))
    write(tmp_path, quotes(T0 + 1000 * 100_000_000, 500))
    summary = write(tmp_path, quotes(T0 + 400 * 100_000_000, 700), chunk_rows=10_000)  # spans the gap
    assert summary.rows_added["quote_tick"] == 500
    assert summary.files_replaced == 3  # both quote files and the instrument's
    ts = read_ts(tmp_path)
    assert ts == [T0 + i * 100_000_000 for i in range(1500)]
    assert len(list((tmp_path / "data" / "quote_tick").rglob("*.parquet"))) == 1


def test_overlapping_data_is_merged_and_deduplicated(tmp_path):
    write(tmp_path, quotes(T0, 1000))
    summary = write(tmp_path, quotes(T0 + 500 * 100_000_000, 1000))  # half overlaps
    assert summary.rows_added["quote_tick"] == 500
    ts = read_ts(tmp_path)
    assert len(ts) == 1500 and ts == sorted(ts) and len(set(ts)) == 1500


def test_disjoint_later_data_appends(tmp_path):
    write(tmp_path, quotes(T0, 100))
    write(tmp_path, quotes(T0 + 10**12, 100))
    assert len(read_ts(tmp_path)) == 200


def test_exception_in_stream_leaves_catalog_unchanged(tmp_path):
    write(tmp_path, quotes(T0, 100))
    before = tree_digest(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with StagedCatalogWriter(tmp_path, chunk_rows=10) as w:
            w.extend(quotes(T0 + 10**12, 100))  # staged chunks already on disk
            raise RuntimeError("boom")
    assert tree_digest(tmp_path) == before


def test_crash_during_commit_rolls_back(tmp_path, monkeypatch):
    write(tmp_path, quotes(T0, 1000))
    before = tree_digest(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:  # after old files went to trash and some new ones moved in
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(writer_mod.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path, quotes(T0 + 500 * 100_000_000, 2000), chunk_rows=300)
    monkeypatch.setattr(writer_mod.os, "replace", real_replace)
    assert tree_digest(tmp_path) == before
    assert len(read_ts(tmp_path)) == 1000


def test_recover_rolls_back_a_killed_commit(tmp_path, monkeypatch):
    """Simulate a process killed mid-commit: the journal is left behind, the next writer restores."""
    write(tmp_path, quotes(T0, 1000))
    before = tree_digest(tmp_path)

    def killed(plan):  # the process dies before it can roll back
        raise KeyboardInterrupt

    real_replace = os.replace
    calls = {"n": 0}

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(writer_mod, "_rollback", killed)
    monkeypatch.setattr(writer_mod.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path, quotes(T0 + 500 * 100_000_000, 2000), chunk_rows=300)
    monkeypatch.undo()
    assert (tmp_path / writer_mod.JOURNAL_NAME).exists()
    assert tree_digest(tmp_path) != before  # half-committed on disk
    assert recover(tmp_path)
    assert tree_digest(tmp_path) == before


def test_out_of_order_input_is_refused(tmp_path):
    data = quotes(T0, 10)
    with pytest.raises(ValueError, match="ts_init order"):
        write(tmp_path, data[5:] + data[:5])
    assert tree_digest(tmp_path) == {}


def test_second_writer_on_same_catalog_is_refused(tmp_path):
    with StagedCatalogWriter(tmp_path):
        with pytest.raises(RuntimeError, match="being written by another process"):
            StagedCatalogWriter(tmp_path)


def test_a_reader_refuses_a_catalog_while_another_process_commits_into_it(tmp_path):
    """Journal present and the lock held: a commit is moving files; reading now could see a mix."""
    from catalog.window import CatalogDataError, open_catalog

    write(tmp_path, quotes(T0, 100))
    (tmp_path / writer_mod.JOURNAL_NAME).write_text('{"trash": "x", "added": [], "trashed": []}')
    lock = writer_mod._lock_catalog(tmp_path)  # the committing process
    try:
        with pytest.raises(CatalogDataError, match="committing data into this catalog right now"):
            open_catalog(tmp_path)
    finally:
        lock.close()
    assert len(open_catalog(tmp_path).quote_ticks()) == 100  # the writer gone: rolled back, readable
    assert not (tmp_path / writer_mod.JOURNAL_NAME).exists()


def test_a_changed_instrument_definition_is_refused_or_replaced_never_doubled(tmp_path):
    """Re-ingesting with another spec used to leave two definitions (env and backtest each took one)."""
    from catalog.instruments import InstrumentSpec
    from catalog.writer import InstrumentConflictError

    write(tmp_path, quotes(T0, 100))
    before = tree_digest(tmp_path)
    spec = get_spec("BTCUSDT-PERP.BINANCE")
    cheaper = build_instrument(InstrumentSpec(**{**spec.__dict__, "maker_fee": spec.maker_fee / 2}))
    with pytest.raises(InstrumentConflictError, match=r"already defined differently \(maker_fee .* -> .*\); pass --replace-instrument"):
        with StagedCatalogWriter(tmp_path) as w:
            w.extend(quotes(T0 + 10**12, 10))
            w.add_instruments([cheaper])
            w.commit()
    assert tree_digest(tmp_path) == before
    with StagedCatalogWriter(tmp_path, replace_instruments=True) as w:
        w.extend(quotes(T0 + 10**12, 10))
        w.add_instruments([cheaper])
        w.commit()
    defined = ParquetDataCatalog(str(tmp_path)).instruments()
    assert len(defined) == 1 and defined[0].maker_fee == cheaper.maker_fee
    assert len(read_ts(tmp_path)) == 110
