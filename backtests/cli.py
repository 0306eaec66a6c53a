"""``amm backtest`` and ``amm report`` (``amm sweep`` is the application's: it also sweeps training runs).

Heavy imports (NautilusTrader, QuantStats, matplotlib) happen inside the command bodies so that
``amm --help`` stays fast. Bad input raises ``ValueError`` or ``OSError`` naming the file; the
application (:mod:`amm.errors`) prints it as one line.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` and ``report`` commands to the root ``amm`` app."""

    @app.command("backtest")
    def backtest(
        config: Annotated[Path, typer.Option("--config", "-c", help="Run config (TOML or YAML).")],
        catalog: Annotated[Path | None, typer.Option(help="Override [run] catalog.")] = None,
        start: Annotated[str | None, typer.Option(help="Override [run] start (ISO-8601 or UNIX ns).")] = None,
        end: Annotated[str | None, typer.Option(help="Override [run] end (ISO-8601 or UNIX ns).")] = None,
        out: Annotated[Path | None, typer.Option(help="Override [run] out_dir (runs are created inside).")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
        progress: Annotated[bool, typer.Option(help="Progress bar of simulated time (stderr).")] = True,
        tearsheets: Annotated[bool, typer.Option(help="Write the HTML reports (QuantStats tearsheets, mm_report.html).")] = True,
    ) -> None:
        """Backtest every strategy of a run config on the same data and venue model.

        Each strategy runs in its own engine; the run directory gets the resolved config, Nautilus
        reports (CSV), metrics.json, the equity curve, plots, tearsheets and a comparison table.
        """
        if not config.exists():
            raise FileNotFoundError(f"{config}: config file not found")
        from backtests.config import load_run_config
        from backtests.runner import run_backtest

        spec = load_run_config(config).with_overrides(catalog=catalog, start=start, end=end, out_dir=out)
        result = run_backtest(spec, progress=progress and sys.stderr.isatty(), tearsheets=tearsheets)
        if json_output:
            typer.echo(json.dumps(result.summary(), default=str))
            return
        from rich.console import Console

        from backtests.tearsheet import comparison_frame, load_run_dirs, rich_table

        console = Console()
        console.print(rich_table(comparison_frame(load_run_dirs([result.run_dir])), title=spec.name))
        console.print(f"run directory: {result.run_dir}")
        if tearsheets:
            console.print(f"market-making report: {result.run_dir / 'mm_report.html'}")

    @app.command("report")
    def report(
        run_dirs: Annotated[list[Path], typer.Argument(help="Run directories written by amm backtest.")],
        benchmark: Annotated[
            str | None,
            typer.Option(help="Strategy (label) whose returns benchmark the tearsheets; default: the first."),
        ] = None,
        out: Annotated[Path | None, typer.Option(help="Output directory (default: the run dir, or runs/report__<time>).")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
        tearsheets: Annotated[bool, typer.Option(help="Write the HTML reports (QuantStats tearsheets, mm_report.html).")] = True,
        allow_incomplete: Annotated[
            bool, typer.Option("--allow-incomplete", help="Report a killed or failed run's strategies, labelled (incomplete).")
        ] = False,
    ) -> None:
        """Compare strategies of one or more runs: table (terminal, Markdown, HTML), the market-making
        report (mm_report.html: PnL split, inventory, quotes, mark-outs, queue) and tearsheets.

        A run directory that amm backtest did not finish is refused unless --allow-incomplete.
        """
        from backtests.tearsheet import rich_table, write_reports

        for rd in run_dirs:
            if not rd.is_dir():
                raise FileNotFoundError(f"{rd}: run directory not found")
        if out is None:
            if len(run_dirs) == 1:
                out = run_dirs[0]
            else:
                out = Path("runs") / f"report__{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        result = write_reports(run_dirs, out_dir=out, benchmark=benchmark, tearsheets=tearsheets,
                               allow_incomplete=allow_incomplete)
        if json_output:
            from backtests.metrics import flatten_summary

            payload = {
                "out_dir": str(result.out_dir),
                "tearsheets": {k: str(v) for k, v in result.tearsheets.items()},
                "mm_report": str(result.mm_report) if result.mm_report is not None else None,
                "strategies": {s.label: flatten_summary(s.metrics) for s in result.strategies},
            }
            typer.echo(json.dumps(payload, default=str))
            return
        from rich.console import Console

        console = Console()
        console.print(rich_table(result.table))
        console.print(f"report: {result.out_dir / 'comparison.html'}")
        if result.mm_report is not None:
            console.print(f"market-making report: {result.mm_report}")
