"""Run a loader over files and land its output in a catalog atomically, with a quality report.

The quality report is printed by the CLI and saved as JSON in the catalog under
``quality/<UTC time>_<format>.json``; ``ingest_log.jsonl`` records which files went in (with their
sha256), so the catalog says where its data came from.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.checkpoints import CHECKPOINT_DIR, DEFAULT_INTERVAL_S
from catalog.identity import PriceSampler, check_label, check_price_scale
from catalog.migrate import check_layout
from catalog.quality import DataQualityError, QualityReport
from catalog.writer import CommitSummary, Record, StagedCatalogWriter


@dataclass(frozen=True)
class IngestResult:
    """The outcome of one ingest: quality counts plus what the commit changed."""

    report: QualityReport
    commit: CommitSummary
    report_path: Path
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "commit": {
                "files_added": self.commit.files_added,
                "files_replaced": self.commit.files_replaced,
                "rows_added": dict(self.commit.rows_added),
                "duplicate_rows_removed": dict(self.commit.duplicate_rows_removed),
            },
            "report_path": str(self.report_path),
            "seconds": round(self.seconds, 3),
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_files(files: Sequence[Path]) -> list[Path]:
    if not files:
        raise DataQualityError("no input files given")
    out = []
    for f in files:
        p = Path(f)
        if not p.exists():
            raise DataQualityError(f"{p}: file not found")
        if p.is_dir():
            raise DataQualityError(f"{p}: is a directory, expected a data file")
        out.append(p)
    return out


MAX_LOSS_SHARE = 0.5
"""More than this share of an input kind's rows dropped fails the ingest (see :func:`check_yield`)."""


def check_yield(fmt: str, report: QualityReport, loader: Any, paths: list[Path]) -> None:
    """Refuse input that yields nothing, or loses most rows of a kind, before it commits.

    Dropping a bad row is the loader's job, with a count; dropping *most* rows means the input is
    not what the format expects (a depth file given as ticks, a capture's second day without the
    first day's snapshot, a column named unexpectedly) and an ingest that reports success then
    misleads. Per input kind where the loader counts them (``losses()``), else over all rows.
    """
    source = f"{paths[0]}" + (f" (+{len(paths) - 1} more)" if len(paths) > 1 else "")
    if report.total_written == 0:
        raise DataQualityError(
            f"{source}: nothing to ingest: the {fmt} loader read {report.total_read:,} rows and kept none"
            f"{_top_issues(report)}; is {fmt} the right format? (--accept-losses to commit nothing but the instrument)",
        )
    losses = loader.losses() if hasattr(loader, "losses") else {"input": (report.total_dropped, report.total_read)}
    for kind, (dropped, read) in losses.items():
        if read >= 10 and dropped > MAX_LOSS_SHARE * read:
            raise DataQualityError(
                f"{source}: {dropped:,} of {read:,} {kind} rows dropped{_top_issues(report)}; "
                "pass --accept-losses to ingest what is left",
            )


def _top_issues(report: QualityReport) -> str:
    if not report.dropped:
        return ""
    top = ", ".join(f"{issue} {n:,}" for issue, n in report.dropped.most_common(3))
    return f" ({top})"


def _check_label(loader: Any, instrument_id: str | None, paths: list[Path]) -> None:
    if instrument_id and hasattr(loader, "native_instrument_ids"):
        check_label(instrument_id, loader.native_instrument_ids(),
                    market_known=getattr(loader, "native_market_known", False), source=str(paths[0]))


def ingest_files(
    fmt: str,
    files: Sequence[Path],
    catalog_path: Path,
    *,
    instrument_id: str | None = None,
    spec_file: Path | None = None,
    strict: bool = False,
    progress: bool = False,
    chunk_rows: int = 250_000,
    checkpoint_interval_s: float | None = DEFAULT_INTERVAL_S,
    replace_instrument: bool = False,
    force_instrument: bool = False,
    accept_losses: bool = False,
    **loader_options: Any,
) -> IngestResult:
    """Ingest ``files`` of format ``fmt`` into the catalog at ``catalog_path``.

    Either everything lands (merged with existing data, duplicates removed) or nothing does: any
    exception, including ``DataQualityError`` in strict mode or for a broken file, leaves the
    catalog as it was. Order-book data also gets a full-book checkpoint every
    ``checkpoint_interval_s`` of stream time (``catalog.checkpoints``; None: none).

    An instrument the catalog already defines with other terms is refused unless
    ``replace_instrument`` (``catalog.writer.StagedCatalogWriter``: one definition per instrument).
    An ``instrument_id`` label that contradicts the data, and data whose prices are not those of
    the series it would join, are refused unless ``force_instrument`` (:mod:`catalog.identity`).
    Input that yields nothing, or loses most of the rows of a kind, is refused unless
    ``accept_losses`` (:func:`check_yield`).
    """
    from catalog.loaders.registry import make_loader

    started = time.perf_counter()
    if Path(catalog_path).exists() and not Path(catalog_path).is_dir():
        raise NotADirectoryError(f"{catalog_path}: --catalog is a file, not a catalog directory (give a directory, new or existing)")
    check_layout(catalog_path)  # a 1.221 catalog would end up with two delta layouts
    paths = _check_files(files)
    loader = make_loader(fmt, instrument_id=instrument_id, spec_file=spec_file, **loader_options)
    report = QualityReport(source_format=fmt, strict=strict)  # each loader lists the files it reads
    catalog_path = Path(catalog_path)
    with StagedCatalogWriter(
        catalog_path, chunk_rows=chunk_rows, checkpoint_interval_s=checkpoint_interval_s,
        replace_instruments=replace_instrument,
    ) as writer:
        stream = loader.iter_data(paths, report)
        if progress:
            from tqdm import tqdm

            stream = tqdm(stream, desc=f"ingest {fmt}", unit=" rows", unit_scale=True, mininterval=0.5)
        sampler, labelled = PriceSampler(), force_instrument
        for obj in stream:
            if not labelled:  # as soon as the loader knows what it reads: at its first row
                _check_label(loader, instrument_id, paths)
                labelled = True
            sampler.add(obj)
            writer.add(obj)
        if not force_instrument:
            _check_label(loader, instrument_id, paths)
            check_price_scale(catalog_path, sampler, source=str(paths[0]))
        if not accept_losses:
            check_yield(fmt, report, loader, paths)
        instruments = loader.instruments()
        if not instruments:
            raise DataQualityError(f"{paths[0]}: no instrument could be determined from the data")
        writer.add_instruments(instruments)
        hashes = [_sha256(p) for p in paths]
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        report_path = catalog_path / "quality" / f"{stamp}_{fmt}.json"
        results: list[IngestResult] = []

        def records(summary: CommitSummary) -> list[Record]:
            """The quality report and the ingest-log lines, written as part of the commit (a crash
            cannot leave committed data without its log line, or a line without its data)."""
            if writer.checkpoints_written:
                report.notes.append(
                    f"{writer.checkpoints_written} full-book checkpoint(s), at most one per "
                    f"{checkpoint_interval_s:g} s of stream time, in {catalog_path / CHECKPOINT_DIR} "
                    "(every window starts from a full book)",
                )
            result = IngestResult(report=report, commit=summary, report_path=report_path,
                                  seconds=time.perf_counter() - started)
            results.append(result)
            lines = "".join(
                json.dumps({"time": stamp, "format": fmt, "file": str(p.resolve()), "sha256": digest,
                            "report": str(report_path)}) + "\n"
                for p, digest in zip(paths, hashes, strict=True)
            )
            return [Record(str(report_path.relative_to(catalog_path)), json.dumps(result.as_dict(), indent=2), append=False),
                    Record("ingest_log.jsonl", lines)]

        writer.commit(records)
    result = results[0]
    return result
