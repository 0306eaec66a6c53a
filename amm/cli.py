"""The ``amm`` command: one entry point for ingest, downloads, backtests, training and live.

The application sits on top and imports down: each library package adds its commands through
``register(app)`` in its own ``cli.py``. Those modules import only Typer and constants at the top;
heavy imports (NautilusTrader engines, torch) happen inside the commands, so ``amm --help`` stays
fast. Errors follow one policy (:mod:`amm.errors`).
"""

from __future__ import annotations

import typer

from amm.errors import run_with_policy
from backtests.cli import register as register_backtests
from catalog.cli import register as register_catalog
from catalog.download.cli import register as register_download
from live.cli import register as register_live
from rl.cli import register as register_rl

app = typer.Typer(
    name="amm",
    help="Automated market making: ingest market data, backtest baselines, train and deploy RL market makers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for register in (register_catalog, register_download, register_backtests, register_rl, register_live):
    register(app)


def main() -> None:
    """Console-script entry (``amm = "amm.cli:main"``)."""
    run_with_policy(app)


if __name__ == "__main__":
    main()
