"""Fixtures shared by every test package: the real Binance USD-M capture in one session catalog.

``binance_ws/usdm/btcusdt_20240808.gz`` (BTCUSDT-PERP, 2024-08-08 23:54:15 -> 23:59:59 UTC:
66k bookTicker quotes, 21k trades, 445k depth deltas with the opening REST snapshot) is ingested
once, with its full-book checkpoints, into a temporary catalog; tests read windows from it and
never write to it. ``lobster_catalog`` does the same for LOBSTER's two full NASDAQ days
(``lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip``, 10 levels, and ``..._AMZN_2012-06-21_5.zip``,
5 levels): two instruments, 09:30-16:00 ET, in one catalog; ``bitstamp_catalog`` for the Bitstamp
BTC/USD 2015-05-01 log (``bitstamp/bitstamp_btcusd_20150501.log.xz``, order by order).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.settings import data_file

USDM_SOURCE = "binance_ws/usdm/btcusdt_20240808.gz"
LOBSTER_GOOG = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
LOBSTER_AMZN = "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip"
BITSTAMP_LOG = "bitstamp/bitstamp_btcusd_20150501.log.xz"

# Configs may name only the project's registered code (catalog.importables); the tests' toy
# strategies and recorded-policy loaders live under ``tests``, opted in the documented way. Set in
# the environment, so subprocesses (the CLI tests) and local Ray workers inherit it.
_allowed = [p for p in os.environ.get("AMM_ALLOW_IMPORTS", "").split(",") if p.strip()]
os.environ["AMM_ALLOW_IMPORTS"] = ",".join([*_allowed, "tests"] if "tests" not in _allowed else _allowed)


@pytest.fixture(scope="session")
def usdm_catalog(tmp_path_factory) -> Path:
    from catalog.ingest import ingest_files

    target = tmp_path_factory.mktemp("usdm") / "catalog"
    ingest_files("binance-ws", [data_file(USDM_SOURCE)], target)
    return target


@pytest.fixture(scope="session")
def lobster_catalog(tmp_path_factory) -> Path:
    from catalog.ingest import ingest_files

    target = tmp_path_factory.mktemp("lobster") / "catalog"
    ingest_files("lobster", [data_file(LOBSTER_GOOG), data_file(LOBSTER_AMZN)], target)
    return target


@pytest.fixture(scope="session")
def bitstamp_catalog(tmp_path_factory) -> Path:
    """The Bitstamp BTC/USD 2015-05-01 log, order by order (L3), checkpointed every 10 minutes."""
    from catalog.ingest import ingest_files

    path = data_file(BITSTAMP_LOG)
    target = tmp_path_factory.mktemp("bitstamp") / "catalog"
    ingest_files("bitstamp", [path], target, checkpoint_interval_s=600, progress=False)
    return target


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with the session's own exit status once pytest has reported it.

    After the summary, the interpreter's final teardown runs the exit handlers of the background
    threads the in-process Ray drivers and NautilusTrader engines of the suite left behind; one
    crashed with SIGSEGV after a complete report (a fresh-clone run: 725 passed, then make's
    "Segmentation fault"), turning a finished result into exit 139. Nothing is left to report
    by then, so the process ends here with the status pytest computed.
    """
    if _EXIT_STATUS and not hasattr(config, "workerinput"):  # an xdist worker ends its own way
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
