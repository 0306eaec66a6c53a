"""The ``amm`` command: one entry point for ingest, downloads, backtests, training and live.

The application sits on top and imports down: each library package adds its commands through
``register(app)`` in its own ``cli.py``. Those modules import only Typer and constants at the top;
heavy imports (NautilusTrader engines, torch) happen inside the commands, so ``amm --help`` stays
fast. Errors follow one policy (:mod:`amm.errors`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from amm.errors import run_with_policy
from backtests.cli import register as register_backtests
from catalog.cli import register as register_catalog
from catalog.download.cli import register as register_download
from live.cli import register as register_live
from rl.cli import register as register_rl

app = typer.Typer(
    name="amm",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are Markdown: wrapped lines of a paragraph join, lists stay lists (the default
    # "rich" mode keeps every source line break and wraps again, leaving ragged lines).
    rich_markup_mode="markdown",
)
for register in (register_catalog, register_download, register_backtests, register_rl, register_live):
    register(app)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"amm {version('automated-market-making')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Automated market making: ingest market data, backtest baselines, train and deploy RL market makers."""


@app.command("sweep")
def sweep(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sweep file (TOML or YAML).")],
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (ray://HOST:10001, auto); default: a local Ray.")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(min=1, help="Override the sweep file's max_concurrent (trials at once).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the sweep already in --out.")] = False,
    out: Annotated[Path, typer.Option(help="Sweeps directory (the sweep writes <out>/<name>/).")] = Path("runs/sweeps"),
    json_output: Annotated[bool, typer.Option("--json", help="Print only a JSON summary on stdout.")] = False,
) -> None:
    """Search a baseline's parameters, or RL hyperparameters and reward weights, with Ray Tune + Optuna.

    A sweep file's [sweep] names either run (an amm backtest run file and the strategy to tune)
    or train (an amm train run file: each trial trains, then is evaluated on the run's
    validation window). Each trial is an ordinary run directory; the sweep writes a table of
    trials (CSV, Markdown), the best config (best.toml or best.yml) and objective.png.
    Progress: one line per finished trial on stderr.
    """
    if not config.exists():
        raise FileNotFoundError(f"{config}: sweep file not found")
    from contextlib import redirect_stdout

    from backtests.sweep import is_training_sweep, load_sweep, run_sweep

    if is_training_sweep(config):
        from rl.sweep import load_training_sweep

        spec = load_training_sweep(config)
    else:
        spec = load_sweep(config)
    with redirect_stdout(sys.stderr):  # Tune's own banners: stdout stays for the summary
        result = run_sweep(spec, out=out, address=address, max_concurrent=max_concurrent, resume=resume)
    if json_output:
        typer.echo(json.dumps(result.summary(), default=str))
        return
    typer.echo(result.table.drop(columns=["run_dir"]).to_string(index=False))
    typer.echo(f"best: {result.best} {spec.table.metric} = {result.best_metric}")
    typer.echo(f"sweep directory: {result.directory}")


@app.command("walkforward")
def walkforward(
    config: Annotated[Path, typer.Option("--config", "-c", help="Walk-forward file (TOML or YAML).")],
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (ray://HOST:10001, auto); default: a local Ray.")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(min=1, help="Override the file's max_concurrent (tasks at once).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the walk-forward already in --out.")] = False,
    out: Annotated[Path, typer.Option(help="Directory the walk-forward writes <out>/<name>/ in.")] = Path("runs/walkforward"),
    json_output: Annotated[bool, typer.Option("--json", help="Print only a JSON summary on stdout.")] = False,
) -> None:
    """Run a grid of (instrument, window, strategy or model, seed) backtests as Ray tasks.

    Every task is an ordinary run directory; the results are aggregated per instrument and
    strategy with Student-t intervals over windows (runs.csv, summary.csv/md/json,
    walkforward.png). Progress: one line per finished task on stderr.
    """
    if not config.exists():
        raise FileNotFoundError(f"{config}: walk-forward file not found")
    from amm.walkforward import headline, load_walkforward, run_walkforward

    wf = load_walkforward(config)
    result = run_walkforward(wf, out=out, address=address, max_concurrent=max_concurrent, resume=resume)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        typer.echo(headline(result.summary, wf.table.metric, wf.table.confidence).to_string(index=False))
        if len(result.paired):
            typer.echo(result.paired.to_string(index=False))
        typer.echo(f"walk-forward directory: {result.directory}")
    failed = int((result.runs["status"] != "ok").sum())
    if failed:
        print(f"error: {failed} of {len(result.runs)} tasks failed (see {result.directory / 'summary.md'})", file=sys.stderr)
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry (``amm = "amm.cli:main"``)."""
    run_with_policy(app)


if __name__ == "__main__":
    main()
