"""Crash points of the catalog commit: a writer SIGKILLed after every file move it makes.

A child process commits data that overlaps what the catalog holds (so the commit trashes old files,
moves merged and new ones in, journals each step, and writes its records: an ingest-log line and a
quality report) and kills itself with SIGKILL right after
its k-th ``os.replace``, for every k, and once more after the journal is gone. After each death the
readers (:func:`catalog.window.open_catalog`, ``catalog info``) must see the old catalog or the new
one, never a mix; the old one is restored byte for byte.

Synthetic quotes: this tests file handling, not market data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catalog.info import catalog_info
from catalog.window import open_catalog
from catalog.writer import JOURNAL_NAME
from tests.helpers import tree_digest

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, os, shutil, signal, sys
    from catalog import writer
    from catalog.instruments import build_instrument, get_spec
    from nautilus_trader.model.data import QuoteTick

    path, part, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    inst = build_instrument(get_spec("BTCUSDT-PERP.BINANCE"))
    T0, STEP = 1_723_161_600_000_000_000, 100_000_000

    def quotes(start, n):
        out = []
        for i in range(n):
            ts = start + i * STEP
            bid = 60_000.0 + ((ts - T0) // STEP % 7) * 0.1
            out.append(QuoteTick(inst.id, inst.make_price(bid), inst.make_price(bid + 0.1),
                                 inst.make_qty(1.0), inst.make_qty(2.0), ts, ts))
        return out

    moves = [0]
    real_replace, real_rmtree = os.replace, shutil.rmtree

    def replace(src, dst):
        real_replace(src, dst)
        moves[0] += 1
        if moves[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def rmtree(p, *a, **k):  # kill_at = -1: die after the journal is gone, before the trash is emptied
        if kill_at == -1 and writer.TRASH_PREFIX in str(p):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_rmtree(p, *a, **k)

    data = quotes(T0, 1000) if part == "old" else quotes(T0 + 500 * STEP, 2000)
    with writer.StagedCatalogWriter(path, chunk_rows=400) as w:
        w.extend(data)
        w.add_instruments([inst])
        if part == "new":
            os.replace, shutil.rmtree = replace, rmtree
        records = lambda summary: [writer.Record("ingest_log.jsonl", f"{part} {summary.files_added}\\n"),
                                   writer.Record("quality/report.json", part, append=False)]
        w.commit(records)
    print(json.dumps({"moves": moves[0]}))
""")


def _commit(path: Path, part: str, kill_at: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(path), part, str(kill_at)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def _seen(path: Path) -> tuple[list[int], int, int, list[str], str]:
    """What a reader sees: quote timestamps, instrument definitions, ``catalog info`` rows, and the
    commit's own records (the ingest-log lines and the quality report)."""
    catalog = open_catalog(path)
    ts = [q.ts_init for q in catalog.quote_ticks()]
    rows = sum(r["rows"] for r in catalog_info(path)["data"] if r["type"] == "quote_tick")
    log = (path / "ingest_log.jsonl").read_text().split()[::2] if (path / "ingest_log.jsonl").exists() else []
    return ts, len(catalog.instruments()), rows, log, (path / "quality" / "report.json").read_text()


@pytest.mark.slow
def test_every_reader_sees_the_old_or_the_new_catalog_after_a_kill_at_any_move(tmp_path):
    base = tmp_path / "base"
    assert _commit(base, "old").returncode == 0
    old_digest = tree_digest(base)
    old = _seen(base)
    full = tmp_path / "full"
    subprocess.run(["cp", "-a", str(base), str(full)], check=True)
    done = _commit(full, "new")
    assert done.returncode == 0, done.stderr[-2000:]
    moves = json.loads(done.stdout)["moves"]
    new = _seen(full)
    assert old[0] != new[0] and len(new[0]) == 2500
    assert old[3:] == (["old"], "old") and new[3:] == (["old", "new"], "new")  # records: once each
    assert moves >= 8  # journal writes, old files to the trash, merged and new files in, records

    outcomes = []
    for kill_at in [*range(1, moves + 1), -1]:
        cat = tmp_path / f"kill{kill_at}"
        subprocess.run(["cp", "-a", str(base), str(cat)], check=True)
        died = _commit(cat, "new", kill_at)
        assert died.returncode == -9, f"kill point {kill_at}: {died.stderr[-1000:]}"
        journal_left = (cat / JOURNAL_NAME).exists()
        seen = _seen(cat)  # the first reader rolls an interrupted commit back
        assert seen in (old, new), f"kill after move {kill_at}: a reader saw a mix"
        if journal_left:
            assert seen == old and tree_digest(cat) == old_digest, f"kill after move {kill_at}: not restored"
        else:
            assert seen == new
        outcomes.append("old" if seen == old else "new")
        assert _seen(cat) == seen  # and every later reader the same
    # old up to the moment the journal goes, new from then on (the records re-applied on recovery)
    first_new = outcomes.index("new")
    assert outcomes == ["old"] * first_new + ["new"] * (len(outcomes) - first_new) and first_new >= moves - 2
    print(f"{moves + 1} kill points: {outcomes.count('old')} rolled back to the old catalog, {outcomes.count('new')} committed")
