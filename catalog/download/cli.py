"""``amm download binance|tardis|lobster``: fetch public archives into the cache, then ingest.

Exit codes: 0 every file is in the cache, verified (and ingested with ``--catalog``); 1 the request
is wrong (bad option, a Tardis day that needs an API key, bookTicker on spot: ``ValueError``) or a
download or ingest failed (unreachable host, missing file, checksum mismatch, bad data). The
application (:mod:`amm.errors`) prints the error as one line on stderr. Heavy imports (Nautilus,
through the ingest) happen inside the commands.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from catalog.download.sources import (
    BINANCE_KINDS,
    BINANCE_MARKET_PATHS,
    BINANCE_URL,
    LOBSTER_SAMPLES,
    LOBSTER_SHA256,
    LOBSTER_URL,
    TARDIS_INGESTABLE,
    TARDIS_URL,
    RemoteFile,
)

if TYPE_CHECKING:
    from catalog.download.http import Fetched
    from catalog.ingest import IngestResult

CacheDir = Annotated[Path | None, typer.Option(
    "--cache-dir", envvar="AMM_CACHE_DIR",
    help="Download cache (default ~/.cache/amm/downloads); files mirror the archive's paths.")]
Catalog = Annotated[Path | None, typer.Option(
    "--catalog", "-c", help="Ingest the downloaded files into this ParquetDataCatalog.")]
Instrument = Annotated[str | None, typer.Option(
    "--instrument", help="Instrument id for the ingest, e.g. BTCUSDT-PERP.BINANCE.")]
InstrumentSpec = Annotated[Path | None, typer.Option(
    "--instrument-spec", help="TOML instrument spec for the ingest (see catalog/instruments.toml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the files (and ingest report) as JSON on stdout.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars on stderr (a TTY).")]
Start = Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD (YYYY-MM with --monthly).")]
End = Annotated[str | None, typer.Option("--end", help="Last day, included (default: --start).")]

Plan = tuple[list[RemoteFile], str | None]
"""What a command will fetch, and the instrument id its ingest uses (None: the loader's own)."""


def register(app: typer.Typer) -> None:
    """Add the ``download`` command group to the root ``amm`` app."""
    download_app = typer.Typer(
        help="Download public market-data archives (verified, resumable, cached) and optionally ingest them.",
        no_args_is_help=True,
    )
    app.add_typer(download_app, name="download")

    @download_app.command("binance")
    def binance(
        market: Annotated[str, typer.Option("--market", help=f"Market: {', '.join(BINANCE_MARKET_PATHS)} (USD-M / COIN-M futures).")],
        kind: Annotated[str, typer.Option("--kind", help=f"Data type: {', '.join(BINANCE_KINDS)} (bookTicker: futures only, up to 2024-03).")],
        symbol: Annotated[str, typer.Option("--symbol", help="Archive symbol, e.g. BTCUSDT (spot, USD-M) or BTCUSD_PERP (COIN-M).")],
        start: Start,
        end: End = None,
        monthly: Annotated[bool, typer.Option("--monthly", help="Monthly files instead of daily ones.")] = False,
        base_url: Annotated[str, typer.Option("--base-url", envvar="AMM_BINANCE_ARCHIVE_URL", help="Archive root (a mirror).")] = BINANCE_URL,
        cache_dir: CacheDir = None,
        catalog: Catalog = None,
        instrument: Instrument = None,
        instrument_spec: InstrumentSpec = None,
        as_json: AsJson = False,
        progress: Progress = True,
    ) -> None:
        """Binance's public data archive (data.binance.vision): zips checked against their .CHECKSUM.

        Ingested as binance-csv with the market's instrument id (BTCUSDT.BINANCE,
        BTCUSDT-PERP.BINANCE, BTCUSD-PERP.BINANCE) unless --instrument says otherwise.
        """
        from catalog.download.sources import binance_files, binance_instrument_id, days, months, parse_day, parse_month

        def plan() -> Plan:
            parse = parse_month if monthly else parse_day
            first = parse(start, name="--start")
            last = parse(end, name="--end") if end else first
            periods = months(first, last) if monthly else days(first, last)
            files = binance_files(market, kind, symbol, periods, monthly=monthly, base_url=base_url)
            return files, instrument or binance_instrument_id(market, symbol)

        _execute("binance-csv", plan, cache_dir, catalog, instrument_spec, as_json, progress)

    @download_app.command("tardis")
    def tardis(
        exchange: Annotated[str, typer.Option("--exchange", help="Tardis exchange id, e.g. binance-futures, bitmex, deribit.")],
        data_type: Annotated[str, typer.Option("--data-type", help=f"Tardis data type; ingestable: {', '.join(TARDIS_INGESTABLE)}.")],
        symbol: Annotated[str, typer.Option("--symbol", help="Exchange symbol, e.g. BTCUSDT, XBTUSD, BTC-PERPETUAL.")],
        start: Start,
        end: End = None,
        api_key: Annotated[str | None, typer.Option("--api-key", envvar="TARDIS_API_KEY", show_default=False, help="Tardis API key; without one only the first day of each month is served.")] = None,
        base_url: Annotated[str, typer.Option("--base-url", envvar="AMM_TARDIS_URL", help="Datasets root (a mirror).")] = TARDIS_URL,
        cache_dir: CacheDir = None,
        catalog: Catalog = None,
        instrument: Instrument = None,
        instrument_spec: InstrumentSpec = None,
        as_json: AsJson = False,
        progress: Progress = True,
    ) -> None:
        """Tardis.dev CSV datasets (.csv.gz per exchange, data type, day and symbol).

        Tardis publishes no checksums: a file is accepted when its gzip stream decompresses to the
        end (the gzip trailer's CRC-32 and length then vouch for it). Ingested as tardis.
        """
        from catalog.download.sources import days, parse_day, tardis_files

        def plan() -> Plan:
            if catalog is not None and data_type not in TARDIS_INGESTABLE:
                raise ValueError(f"--data-type {data_type}: the tardis loader reads {', '.join(TARDIS_INGESTABLE)}; "
                                 f"drop --catalog to only download it")
            first = parse_day(start, name="--start")
            last = parse_day(end, name="--end") if end else first
            files = tardis_files(exchange, data_type, symbol, days(first, last), api_key=api_key, base_url=base_url)
            return files, instrument

        _execute("tardis", plan, cache_dir, catalog, instrument_spec, as_json, progress)

    @download_app.command("lobster")
    def lobster(
        ticker: Annotated[str | None, typer.Option("--ticker", help="Sample ticker: AAPL, AMZN, GOOG, INTC, MSFT (SPY at 30/50 levels).")] = None,
        levels: Annotated[int, typer.Option("--levels", help="Book levels of the sample: 1, 5 or 10 (30, 50 for AAPL, MSFT, SPY).")] = 10,
        list_samples: Annotated[bool, typer.Option("--list", help="List the samples LOBSTER offers and exit.")] = False,
        base_url: Annotated[str, typer.Option("--base-url", envvar="AMM_LOBSTER_URL", help="Samples root (a mirror).")] = LOBSTER_URL,
        cache_dir: CacheDir = None,
        catalog: Catalog = None,
        instrument: Instrument = None,
        instrument_spec: InstrumentSpec = None,
        as_json: AsJson = False,
        progress: Progress = True,
    ) -> None:
        """LOBSTER's free NASDAQ order-book samples (2012-06-21), sha256-pinned where known.

        No licence ships with the samples: keep them out of repositories and cite LOBSTER
        (lobsterdata.com) with any result. Ingested as lobster.
        """
        from catalog.download.sources import lobster_files

        if list_samples:
            rows = [{"ticker": t, "levels": n, "pinned_sha256": LOBSTER_SHA256.get(
                f"LOBSTER_SampleFile_{t}_2012-06-21_{n}.zip")} for t, n in sorted(LOBSTER_SAMPLES)]
            if as_json:
                typer.echo(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    typer.echo(f"{r['ticker']:<5} {r['levels']:>2} levels{'  (sha256 pinned)' if r['pinned_sha256'] else ''}")
            return
        if ticker is None:
            raise ValueError("pass --ticker (and --levels), or --list to see the samples")

        def plan() -> Plan:
            return lobster_files(str(ticker), levels, base_url=base_url), instrument

        _execute("lobster", plan, cache_dir, catalog, instrument_spec, as_json, progress)


def _execute(
    fmt: str,
    plan: Callable[[], Plan],
    cache_dir: Path | None,
    catalog: Path | None,
    spec_file: Path | None,
    as_json: bool,
    progress: bool,
) -> None:
    """Plan (a bad request raises ``ValueError``), download, then ingest ``fmt`` or say how."""
    from catalog.download.cache import cache_root, download_all

    remotes, iid = plan()
    root = cache_root(cache_dir)
    show = progress and not as_json and sys.stderr.isatty()
    fetched = download_all(remotes, root, progress=show)
    files = [f.path for f in fetched]
    command = _ingest_command(fmt, files, catalog, iid, spec_file)
    result = None
    if catalog is not None:
        from catalog.ingest import ingest_files

        try:
            result = ingest_files(fmt, files, catalog, instrument_id=iid, spec_file=spec_file, progress=show)
        except (ValueError, RuntimeError, OSError) as e:
            raise RuntimeError(f"downloaded {len(files)} file(s) into {root}, but the ingest failed: {e}") from e
    if as_json:
        typer.echo(json.dumps({
            "cache_dir": str(root),
            "files": [f.as_dict() for f in fetched],
            "ingest_command": command,
            "ingest": result.as_dict() if result is not None else None,
        }, indent=2))
        return
    _print_files(fetched)
    if result is None:
        typer.echo(f"ingest with: {command}")
    else:
        _print_ingest(result, catalog)


def _ingest_command(fmt: str, files: list[Path], catalog: Path | None, iid: str | None, spec: Path | None) -> str:
    argv = ["amm", "ingest", fmt, *map(str, files), "--catalog", str(catalog) if catalog else "CATALOG"]
    if iid:
        argv += ["--instrument", iid]
    if spec:
        argv += ["--instrument-spec", str(spec)]
    return shlex.join(argv)


def _print_files(fetched: list[Fetched]) -> None:
    for f in fetched:
        typer.echo(f"{f.status:<10}  {f.path}  ({f.size:,} bytes)")


def _print_ingest(result: IngestResult, catalog: Path | None) -> None:
    report = result.report
    written = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.rows_written.items())) or "nothing"
    typer.echo(f"ingested into {catalog}: {written}")
    if report.dropped:
        typer.echo("dropped: " + ", ".join(f"{n:,} {issue}" for issue, n in sorted(report.dropped.items())))
    for note in report.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"report: {result.report_path}  ({result.seconds:.1f} s)")
