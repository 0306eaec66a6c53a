"""Write a stream of Nautilus data into a ``ParquetDataCatalog`` all at once, or not at all.

Why not call ``ParquetDataCatalog.write_data`` directly:

* it needs the whole list in memory, and a multi-GB history does not fit;
* a crash or a bad row halfway leaves half a day of data in the catalog;
* writing a file whose time interval overlaps an existing file fails (``Intervals are not
  disjoint``), so re-ingesting a file, or a file overlapping earlier data, is impossible.

So the stream goes in bounded chunks into a *staging* catalog beside the target (same file system,
``<catalog>/.amm-staging-<id>``). Only when the loader has finished does ``commit`` move the files in:
a staged file that overlaps existing files of the same type and instrument is merged with them,
exact duplicate rows removed (so ingesting a file twice keeps one copy), and the merged file
replaces them. The move is journaled: the files it replaces are first renamed into a trash folder,
and a journal lists every step, so an interrupted commit is rolled back on the next write.

Book checkpoints (``catalog.checkpoints``) are built from the same stream as it passes through
``add`` and staged in a second staging catalog; ``commit`` moves both in one journaled step, so a
catalog never holds data without its checkpoints or the reverse.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.checkpoints import (
    CHECKPOINT_DIR,
    DEFAULT_INTERVAL_S,
    BookImage,
    CheckpointBuilder,
    checkpoint_catalog_path,
)

STAGING_PREFIX = ".amm-staging-"
TRASH_PREFIX = ".amm-trash-"
JOURNAL_NAME = ".amm-commit-journal.json"
RECORDS_NAME = ".amm-commit-records.json"
"""What a commit must also write about itself (its ingest-log line, its quality report): saved
before the journal is dropped, applied after, and re-applied by :func:`recover` after a crash."""
_ROW_INDEX = "__amm_row__"
DATA_ROOTS = ("data", f"{CHECKPOINT_DIR}/data")
"""Directories (relative to a catalog or staging root) whose files a commit moves: data, checkpoints."""


def _parse_interval(path: Path) -> tuple[int, int] | None:
    # Same rule as the catalog's own file naming: <first ts_init>_<last ts_init>.parquet
    from nautilus_trader.persistence.catalog.parquet import _parse_filename_timestamps

    return _parse_filename_timestamps(str(path))


def _interval_name(start: int, end: int) -> str:
    from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename

    return _timestamps_to_filename(start, end)


@dataclass
class CommitSummary:
    """What a commit changed in the catalog."""

    files_added: int = 0
    files_replaced: int = 0
    rows_added: Counter[str] = field(default_factory=Counter)
    duplicate_rows_removed: Counter[str] = field(default_factory=Counter)


class StagedCatalogWriter:
    """Buffer data, write it aside in chunks, and move it into the catalog on ``commit``.

    Parameters
    ----------
    catalog_path : Path
        The target catalog directory (created if missing).
    chunk_rows : int
        Objects held in memory before a chunk is written to staging. A chunk is only cut where
        ``ts_init`` strictly increases, so one type's files never share a timestamp (the catalog
        requires disjoint intervals) and an order-book batch never straddles two files.
    checkpoint_interval_s : float or None
        Stream seconds between two book checkpoints per instrument; None writes none.
    replace_instruments : bool, default False
        An instrument the catalog already defines differently (another tick size, lot size, fee,
        multiplier...) is an error unless this is set; then the new definition replaces the old
        one, in the same journaled commit. Never two definitions of one instrument: a backtest and
        the env would each pick one (one fee in training, another in evaluation).

    Use as a context manager: leaving the block with an exception discards the staging area and the
    target catalog is untouched.
    """

    def __init__(
        self,
        catalog_path: Path,
        chunk_rows: int = 250_000,
        checkpoint_interval_s: float | None = DEFAULT_INTERVAL_S,
        replace_instruments: bool = False,
    ) -> None:
        self.catalog_path = Path(catalog_path)
        self.chunk_rows = chunk_rows
        self.replace_instruments = replace_instruments
        self._created = not self.catalog_path.exists()  # removed again if nothing is committed
        self.catalog_path.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_catalog(self.catalog_path)
        recover(self.catalog_path)
        self._stage_dir = self.catalog_path / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        self._stage = ParquetDataCatalog(str(self._stage_dir))
        self._checkpoint_stage = ParquetDataCatalog(str(self._stage_dir / CHECKPOINT_DIR))
        self._checkpoints = (
            None
            if checkpoint_interval_s is None
            else CheckpointBuilder(int(checkpoint_interval_s * 1e9), anchored=self._series_starts_here)
        )
        self._checkpoint_buffer: list[OrderBookDelta] = []
        self.checkpoints_written = 0
        self._buffer: list[Data] = []
        self._last_ts: int | None = None
        self._instruments: dict[str, Instrument] = {}
        self._closed = False

    # -- streaming -------------------------------------------------------------------------------

    def add(self, obj: Data) -> None:
        """Append one object; ``ts_init`` must not decrease (loaders guarantee it)."""
        ts = obj.ts_init
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(
                f"data not in ts_init order: {type(obj).__name__} at {ts} after {self._last_ts}",
            )
        if len(self._buffer) >= self.chunk_rows and ts > self._last_ts:
            self._flush()
        self._buffer.append(obj)
        self._last_ts = ts
        if self._checkpoints is not None and isinstance(obj, (OrderBookDelta, OrderBookDeltas)):
            for image in self._checkpoints.add(obj):
                self.add_checkpoint(image)

    @property
    def checkpoint_root(self) -> Path:
        """The target catalog's checkpoint sub-catalog (``catalog.checkpoints``)."""
        return checkpoint_catalog_path(self.catalog_path)

    def add_checkpoint(self, image: BookImage) -> None:
        """Stage a checkpoint built elsewhere (``catalog.migrate`` builds them for old catalogs)."""
        self._checkpoint_buffer.extend(image.to_deltas().deltas)
        self.checkpoints_written += 1

    def _series_starts_here(self, instrument_id: InstrumentId, first_ts: int) -> bool:
        """No delta of the instrument in the catalog before ``first_ts``: the book starts empty here."""
        target = ParquetDataCatalog(str(self.catalog_path))
        spans = target.get_intervals(OrderBookDelta, instrument_id.value)
        return not any(lo < first_ts for lo, _ in spans)

    def extend(self, objs: Iterable[Data]) -> None:
        for obj in objs:
            self.add(obj)

    def add_instruments(self, instruments: Iterable[Instrument]) -> None:
        for instrument in instruments:
            self._instruments[instrument.id.value] = instrument

    def _flush(self) -> None:
        if self._buffer:
            self._stage.write_data(self._buffer)
            self._buffer = []
        if self._checkpoint_buffer:
            self._checkpoint_stage.write_data(self._checkpoint_buffer)
            self._checkpoint_buffer = []

    # -- commit / abort --------------------------------------------------------------------------

    def commit(self, records: Callable[[CommitSummary], list[Record]] | None = None) -> CommitSummary:
        """Move everything staged into the catalog (merging overlaps, removing duplicates).

        ``records(summary)`` returns files to write about this commit (:class:`Record`): they are
        part of it, so a crash can leave neither data without its log line nor a log line without
        its data.
        """
        if self._checkpoints is not None:
            for image in self._checkpoints.finish():
                self.add_checkpoint(image)
        self._flush()
        replace: set[Path] = set()
        if self._instruments:
            replace = self._instrument_leaves_to_replace()
            # Instruments carry ts_init=0 unless the source dated them: one file per definition.
            self._stage.write_data(list(self._instruments.values()))
        try:
            summary = _commit_staging(self._stage_dir, self.catalog_path, replace=replace, records=records)
        except BaseException:
            self.abort()
            raise
        self._created = False
        self._cleanup()
        return summary

    def _instrument_leaves_to_replace(self) -> set[Path]:
        """The instrument directories whose old definition the new one replaces (see
        ``replace_instruments``); raises :class:`InstrumentConflictError` when not allowed."""
        from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

        target = ParquetDataCatalog(str(self.catalog_path))
        replace = set()
        for iid, new in self._instruments.items():
            old = target.instruments(instrument_ids=[iid]) if (self.catalog_path / "data").is_dir() else []
            changes = sorted({c for o in old for c in instrument_changes(o, new)})
            if not changes and len(old) <= 1:
                continue
            if changes and not self.replace_instruments:
                raise InstrumentConflictError(
                    f"{self.catalog_path}: {iid} is already defined differently ({'; '.join(changes)}); "
                    "pass --replace-instrument to replace its definition (all its data then trades on the "
                    "new terms), or ingest into another catalog",
                )
            replace.add(Path("data") / class_to_filename(type(new)) / urisafe_identifier(iid))
            for o in old:  # an old definition of another class lives in another directory
                replace.add(Path("data") / class_to_filename(type(o)) / urisafe_identifier(iid))
        return replace

    def abort(self) -> None:
        """Discard everything staged; a catalog directory this writer created goes too (a failed
        first ingest leaves no empty catalog behind)."""
        self._cleanup()
        if self._created:
            left = {p.name for p in self.catalog_path.iterdir()} if self.catalog_path.is_dir() else set()
            if left <= {".amm-lock"}:
                shutil.rmtree(self.catalog_path, ignore_errors=True)

    def _cleanup(self) -> None:
        self._closed = True
        self._buffer = []
        shutil.rmtree(self._stage_dir, ignore_errors=True)
        self._lock.close()  # releases the flock

    def __enter__(self) -> StagedCatalogWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if not self._closed:
            self.abort()


class InstrumentConflictError(ValueError):
    """The data's instrument definition contradicts the one the catalog holds."""


_DEFINITION_IGNORED = {"ts_event", "ts_init", "info"}


def instrument_changes(old: Instrument, new: Instrument) -> list[str]:
    """``field old -> new`` for every contract term in which two definitions differ."""
    a, b = type(old).to_dict(old), type(new).to_dict(new)
    out = [f"type {a.get('type')} -> {b.get('type')}"] if type(old) is not type(new) else []
    for key in sorted((a.keys() | b.keys()) - _DEFINITION_IGNORED - {"type"}):
        if a.get(key) != b.get(key):
            out.append(f"{key} {a.get(key)} -> {b.get(key)}")
    return out


def _lock_catalog(catalog_path: Path):  # noqa: ANN202 - returns an open file object
    """Take an exclusive lock so two ingests never interleave their commits in one catalog."""
    handle = open(catalog_path / ".amm-lock", "w")  # noqa: SIM115 - held for the writer's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"{catalog_path}: catalog is being written by another process") from None
    return handle


# -- the journaled move ---------------------------------------------------------------------------


def _leaf_dirs(root: Path) -> list[Path]:
    leaves: set[Path] = set()
    for sub in DATA_ROOTS:
        data = root / sub
        if data.exists():
            leaves.update(p.parent for p in data.rglob("*.parquet"))
    return sorted(leaves)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _overlap_groups(staged: list[Path], existing: list[Path]) -> list[tuple[list[Path], list[Path]]]:
    """Split one leaf's files into groups joined by overlapping spans, transitively.

    Returns ``(staged, existing)`` per group that holds a staged file. Several small staged files
    can fall inside one large existing file, and one staged file can bridge two existing ones:
    each such group must become one merged file, or the catalog would hold overlapping files.
    A file whose name carries no interval is a group of its own.
    """
    spans: list[tuple[tuple[int, int], bool, Path]] = []
    groups: list[tuple[list[Path], list[Path]]] = []
    for is_staged, files in ((True, staged), (False, existing)):
        for f in files:
            span = _parse_interval(f)
            if span is not None:
                spans.append((span, is_staged, f))
            elif is_staged:
                groups.append(([f], []))
    end = None
    current: tuple[list[Path], list[Path]] = ([], [])
    for (lo, hi), is_staged, f in sorted(spans, key=lambda x: x[0]):
        if end is None or lo > end:
            if current[0]:
                groups.append(current)
            current, end = ([], []), hi
        (current[0] if is_staged else current[1]).append(f)
        end = max(end, hi)
    if current[0]:
        groups.append(current)
    return groups


def _merge_tables(files: list[Path]) -> tuple[pa.Table, int]:
    """Concatenate files in time order, drop exact duplicate rows (keep first), stable-sort."""
    tables = [pq.read_table(f) for f in sorted(files, key=lambda f: _parse_interval(f) or (0, 0))]
    schema = tables[0].schema
    table = pa.concat_tables([t.cast(schema) for t in tables])
    n = table.num_rows
    indexed = table.append_column(_ROW_INDEX, pa.array(range(n), pa.int64()))
    keys = table.column_names
    first = indexed.group_by(keys, use_threads=False).aggregate([(_ROW_INDEX, "min")])
    keep = pc.sort_indices(first.column(f"{_ROW_INDEX}_min"))
    kept_rows = pc.take(first.column(f"{_ROW_INDEX}_min"), keep)
    deduped = table.take(kept_rows)
    order = pc.sort_indices(deduped, sort_keys=[("ts_init", "ascending")])  # stable
    merged = deduped.take(order)
    return merged.replace_schema_metadata(schema.metadata), n - merged.num_rows


def _class_of(leaf: Path, root: Path) -> str:
    rel = leaf.relative_to(root).parts
    return rel[1] if rel[0] == "data" else f"{rel[0]}/{rel[2]}"


@dataclass(frozen=True)
class Record:
    """A file a commit writes about itself: ``text`` appended to (or written as) ``path``, relative
    to the catalog. Appends are applied once: a line already in the file is not added again."""

    path: str
    text: str
    append: bool = True


def _apply_records(catalog_path: Path, records: list[dict]) -> None:
    for r in records:
        path = catalog_path / r["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if r["append"]:
            have = path.read_text() if path.exists() else ""
            new = [line for line in r["text"].splitlines(keepends=True) if line not in have.splitlines(keepends=True)]
            with open(path, "a") as f:
                f.writelines(new)
                f.flush()
                os.fsync(f.fileno())
        else:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(r["text"])
            os.replace(tmp, path)


def _commit_staging(
    stage_dir: Path,
    catalog_path: Path,
    replace: set[Path] = frozenset(),
    records: Callable[[CommitSummary], list[Record]] | None = None,
) -> CommitSummary:
    """Move staged files in, merging overlaps; the directories in ``replace`` (relative) are
    emptied into the trash first, so their staged files replace them instead of merging."""
    summary = CommitSummary()
    trash = catalog_path / f"{TRASH_PREFIX}{uuid.uuid4().hex[:12]}"
    moves: list[tuple[str, str]] = []  # (new file in catalog, origin) - for rollback
    trashed: list[tuple[str, str]] = []  # (original path, trash path)
    journal = catalog_path / JOURNAL_NAME
    plan = {"trash": str(trash), "added": moves, "trashed": trashed}

    def save_journal() -> None:
        tmp = journal.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan))
        os.replace(tmp, journal)

    def to_trash(f: Path) -> None:
        dest = trash / f.relative_to(catalog_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        trashed.append((str(f), str(dest)))
        save_journal()  # journal first: a crash after it can still roll back
        os.replace(f, dest)

    save_journal()
    try:
        for rel in sorted(replace):
            for f in sorted((catalog_path / rel).glob("*.parquet")):
                to_trash(f)
                summary.files_replaced += 1
        for stage_leaf in _leaf_dirs(stage_dir):
            rel = stage_leaf.relative_to(stage_dir)
            target_leaf = catalog_path / rel
            kind = _class_of(stage_leaf, stage_dir)
            staged = sorted(stage_leaf.glob("*.parquet"))
            existing = sorted(target_leaf.glob("*.parquet")) if target_leaf.exists() else []
            for new_files, old_files in _overlap_groups(staged, existing):
                if old_files:
                    merged, dupes = _merge_tables(new_files + old_files)
                    ts = merged.column("ts_init")
                    name = _interval_name(pc.min(ts).as_py(), pc.max(ts).as_py())
                    out = stage_leaf / f"merged-{uuid.uuid4().hex[:8]}.parquet.part"
                    pq.write_table(merged, out)
                    old_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in old_files)
                    summary.rows_added[kind] += merged.num_rows - old_rows
                    summary.duplicate_rows_removed[kind] += dupes
                    summary.files_replaced += len(old_files)
                    for f in old_files:
                        to_trash(f)
                    source = out
                else:
                    name = new_files[0].name
                    summary.rows_added[kind] += pq.ParquetFile(new_files[0]).metadata.num_rows
                    source = new_files[0]
                target_leaf.mkdir(parents=True, exist_ok=True)
                final = target_leaf / name
                if final.exists():  # same interval but not overlapping-merged: impossible, be safe
                    raise RuntimeError(f"{final}: refusing to overwrite existing catalog file")
                moves.append((str(final), str(source)))
                save_journal()
                os.replace(source, final)
                summary.files_added += 1
        _assert_disjoint(catalog_path)
        pending = [dict(path=r.path, text=r.text, append=r.append) for r in (records(summary) if records else [])]
        marker = catalog_path / RECORDS_NAME
        if pending:  # before the journal goes: a crash from here on keeps the data and its records
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(json.dumps(pending))
            os.replace(tmp, marker)
    except BaseException:
        _rollback(plan)
        journal.unlink(missing_ok=True)
        journal.with_suffix(".tmp").unlink(missing_ok=True)
        (catalog_path / RECORDS_NAME).unlink(missing_ok=True)
        raise
    journal.unlink(missing_ok=True)
    if pending:
        _apply_records(catalog_path, pending)
        marker.unlink(missing_ok=True)
    shutil.rmtree(trash, ignore_errors=True)
    return summary


def _assert_disjoint(catalog_path: Path) -> None:
    for leaf in _leaf_dirs(catalog_path):
        spans = sorted(s for s in (_parse_interval(f) for f in leaf.glob("*.parquet")) if s)
        for a, b in zip(spans, spans[1:], strict=False):
            if _overlaps(a, b):
                raise RuntimeError(f"{leaf}: overlapping files after commit ({a}, {b})")


def _rollback(plan: dict) -> None:
    for final, _origin in reversed(plan["added"]):
        Path(final).unlink(missing_ok=True)
    for original, in_trash in reversed(plan["trashed"]):
        if Path(in_trash).exists():
            Path(original).parent.mkdir(parents=True, exist_ok=True)
            os.replace(in_trash, original)
    shutil.rmtree(plan["trash"], ignore_errors=True)


class CommitInProgressError(RuntimeError):
    """A reader met a catalog whose commit another process is carrying out right now."""


def recover_for_reading(catalog_path: Path) -> bool:
    """Make a catalog safe to read: roll back a commit that a crash interrupted.

    A commit killed halfway leaves its journal and a catalog holding part of the new files and
    without some of the old ones. Every reader (``catalog.window.open_catalog``: backtests, the
    env, ``catalog info``, the live replay) calls this first, so none of them sees that mix:

    * no journal: nothing to do (the common case, one ``stat``);
    * a journal and nobody holds the catalog's lock: the writer died; roll back (what the next
      write would do) under the lock, and read the catalog as it was before that commit;
    * a journal and the lock is held: a commit is under way; refuse, saying so, rather than read
      files that are moving.

    Returns True if a commit was rolled back.
    """
    catalog_path = Path(catalog_path)
    if not (catalog_path / JOURNAL_NAME).exists() and not (catalog_path / RECORDS_NAME).exists():
        return False
    try:
        lock = _lock_catalog(catalog_path)
    except RuntimeError:
        raise CommitInProgressError(
            f"{catalog_path}: another process is committing data into this catalog right now; "
            "read it once that ingest has finished",
        ) from None
    except OSError as e:
        raise CommitInProgressError(
            f"{catalog_path}: an interrupted commit must be rolled back before the catalog can be read, "
            f"but it cannot be locked for that ({e.strerror or e}); run `amm ingest` or `amm catalog info` "
            "on it as a user who may write it",
        ) from None
    try:
        return recover(catalog_path)
    finally:
        lock.close()


def recover(catalog_path: Path) -> bool:
    """Roll back a commit that was interrupted (process killed mid-move); drop stale staging.

    Returns True if something was rolled back.
    """
    catalog_path = Path(catalog_path)
    rolled_back = False
    journal = catalog_path / JOURNAL_NAME
    marker = catalog_path / RECORDS_NAME
    if journal.exists():
        _rollback(json.loads(journal.read_text()))
        marker.unlink(missing_ok=True)  # the records of a commit that did not happen
        journal.unlink()
        rolled_back = True
    elif marker.exists():  # committed, but killed before its records were written
        _apply_records(catalog_path, json.loads(marker.read_text()))
        marker.unlink()
    journal.with_suffix(".tmp").unlink(missing_ok=True)
    marker.with_suffix(".tmp").unlink(missing_ok=True)
    for stale in catalog_path.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in catalog_path.glob(f"{TRASH_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return rolled_back
