"""``amm ingest``, ``amm catalog info`` and ``amm catalog migrate``: the catalog's own commands.

The ``amm`` root lives in the application (:mod:`amm.cli`), which adds these through
:func:`register`, as it does every package's. Heavy imports (NautilusTrader, rich tables) happen
inside the commands so ``amm --help`` stays fast. Bad input raises ``ValueError`` or ``OSError``
with a message naming the file; the application prints it as one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from catalog.loaders.registry import FORMATS  # imports no loader (they load lazily)

if TYPE_CHECKING:
    from catalog.ingest import IngestResult

catalog_app = typer.Typer(help="Inspect a Parquet data catalog.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and the ``catalog`` group (``info``, ``migrate``) to the root ``amm`` app."""
    app.command("ingest")(ingest)
    app.add_typer(catalog_app, name="catalog")


def ingest(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=f"Source format: {', '.join(FORMATS)}.")],
    files: Annotated[list[Path], typer.Argument(help="Input files; several files form one continuous stream.")],
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Target ParquetDataCatalog directory.")],
    instrument: Annotated[str | None, typer.Option("--instrument", help="Instrument id override, e.g. BTCUSDT-PERP.BINANCE.")] = None,
    instrument_spec: Annotated[Path | None, typer.Option("--instrument-spec", help="TOML instrument spec (see catalog/instruments.toml).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first data problem instead of dropping and counting it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the quality report as JSON on stdout.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    checkpoint_interval_s: Annotated[float, typer.Option("--checkpoint-interval-s", min=0.001, help="Stream seconds between two full-book checkpoints (order-book data), so any window starts from a full book.")] = 60.0,
    force_instrument: Annotated[bool, typer.Option("--force-instrument", help="Accept an --instrument label that contradicts the data's symbol or market, or prices unlike the series it joins.")] = False,
    accept_losses: Annotated[bool, typer.Option("--accept-losses", help="Commit even when the input yields nothing or most rows of a kind are dropped (refused otherwise).")] = False,
    replace_instrument: Annotated[bool, typer.Option("--replace-instrument", help="Replace the catalog's definition of the instrument when this ingest's differs (tick, lot, fees...); refused otherwise.")] = False,
) -> None:
    """Clean, validate and write market data into a NautilusTrader Parquet catalog.

    The catalog changes only if the whole ingest succeeds; re-ingesting a file adds nothing twice.
    """
    from catalog.ingest import ingest_files

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    result = ingest_files(
        fmt,
        files,
        catalog,
        instrument_id=instrument,
        spec_file=instrument_spec,
        strict=strict,
        progress=progress and not as_json and sys.stderr.isatty(),
        checkpoint_interval_s=checkpoint_interval_s,
        replace_instrument=replace_instrument,
        force_instrument=force_instrument,
        accept_losses=accept_losses,
    )
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    _print_quality(result)


def _print_quality(result: IngestResult) -> None:
    from rich.console import Console
    from rich.table import Table

    report = result.report
    console = Console()
    table = Table(title=f"Data quality: {report.source_format} ({len(report.files)} file(s))")
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, n in sorted(report.rows_read.items()):
        table.add_row(f"read {kind}", f"{n:,}")
    for kind, n in sorted(report.rows_written.items()):
        table.add_row(f"written {kind}", f"{n:,}")
    for issue, n in sorted(report.dropped.items()):
        table.add_row(f"dropped: {issue}", f"{n:,}", style="yellow")
    for issue, n in sorted(report.marked.items()):
        table.add_row(f"marked: {issue}", f"{n:,}", style="cyan")
    for kind, n in sorted(result.commit.duplicate_rows_removed.items()):
        table.add_row(f"already in catalog: {kind}", f"{n:,}", style="dim")
    console.print(table)
    for event in report.events[:10]:
        console.print(f"  {event.issue.value} at {event.file}:{event.line}: {event.detail} ({event.handling})")
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)
    console.print(f"report: {result.report_path}  ({result.seconds:.1f} s)")


@catalog_app.command("info")
def info(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="ParquetDataCatalog directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    by_day: Annotated[bool, typer.Option("--by-day", help="Rows and span per UTC day, type and instrument (reads the ts_init column).")] = False,
) -> None:
    """List instruments, data types, row counts and time span per instrument and type (or per day)."""
    from catalog.info import catalog_days, catalog_info

    if by_day:
        days = catalog_days(catalog)
        if as_json:
            typer.echo(json.dumps(days, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Data per UTC day in {days['catalog']}")
        for col in ("day", "identifier", "type", "rows", "start", "end"):
            table.add_column(col, justify="right" if col == "rows" else "left")
        for row in days["days"]:
            table.add_row(row["day"], row["identifier"], row["type"], f"{row['rows']:,}",
                          row["start"][11:23], row["end"][11:23])
        Console().print(table)
        return
    summary = catalog_info(catalog)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    instruments = Table(title=f"Instruments in {summary['catalog']}")
    for col in ("id", "type", "tick_size", "lot_size", "multiplier", "maker_fee", "taker_fee"):
        instruments.add_column(col)
    for row in summary["instruments"]:
        instruments.add_row(*(str(row[c]) for c in ("id", "type", "tick_size", "lot_size", "multiplier", "maker_fee", "taker_fee")))
    console.print(instruments)
    data = Table(title="Data")
    for col in ("type", "identifier", "files", "rows", "start", "end"):
        data.add_column(col, justify="right" if col in ("files", "rows") else "left")
    for row in summary["data"]:
        data.add_row(row["type"], row["identifier"], str(row["files"]), f"{row['rows']:,}", row["start"], row["end"])
    console.print(data)


@catalog_app.command("migrate")
def migrate(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="ParquetDataCatalog directory.")],
    checkpoint_interval_s: Annotated[float, typer.Option("--checkpoint-interval-s", min=0.001, help="Stream seconds between two full-book checkpoints.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Move a catalog written by NautilusTrader 1.221 into 1.231's layout and build its book checkpoints."""
    from catalog.migrate import migrate_catalog

    result = migrate_catalog(catalog, checkpoint_interval_s=checkpoint_interval_s)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    moved = ", ".join(result.moved) or "nothing (already 1.231's layout)"
    typer.echo(f"moved order book data of: {moved}")
    for iid, n in result.checkpoints.items():
        typer.echo(f"built {n} book checkpoint(s) for {iid}")
