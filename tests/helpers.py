"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.config_io import ConfigError

CHROMIUM = next((p for p in (os.environ.get("AMM_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
"""A Chromium for the headless-browser tests (Playwright's own download needs the internet)."""


def tree_digest(root: Path) -> dict[str, str]:
    """Map every file under ``root`` (relative path) to its sha256: equal digests = unchanged tree."""
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".amm-lock"
    }


def amm(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``amm`` console entry point in-process; return (exit code, stdout, stderr)."""
    from amm.cli import main

    argv = sys.argv
    sys.argv = ["amm", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


_BLOCKED_PRELUDE = '''
import importlib, importlib.abc, pkgutil, sys

class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked import of {{name}}")
        return None

sys.meta_path.insert(0, _Blocker())

def import_all(package_name):
    """Import every module of a package; return their names."""
    package = importlib.import_module(package_name)
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package_name + ".")]
    for name in names:
        importlib.import_module(name)
    return names
'''


def run_with_imports_blocked(blocked: set[str], script: str, *args: str, timeout: float = 300):
    """Run ``script`` in a fresh interpreter in which importing any package of ``blocked`` fails.

    The script may call ``import_all("pkg")``. For the package-graph tests: a lower package must
    import and work with the packages above it made unimportable.
    """
    import subprocess
    import textwrap

    code = _BLOCKED_PRELUDE.format(blocked=set(blocked)) + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=timeout, check=False)


def assert_config_error(load: Callable[[Path], object], path: Path, field: str, message: str) -> None:
    """``load(path)`` must fail with one line ``<path>: <field>: <why>``, ``why`` holding ``message``."""
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    assert (err.source, err.field) == (str(path), field), str(err)
    assert message in err.message and str(err) == f"{path}: {field}: {err.message}"
    assert "\n" not in str(err)


USDM_VENUE = """\
[venue]
account_type = "MARGIN"
starting_balances = ["2000 USDT"]
default_leverage = 5.0
book_type = "L2_MBP"
queue_position = true
liquidity_consumption = true
latency_base_ns = 10_000_000
"""
"""The ``[venue]`` of the small USD-M run files the sweep and walk-forward tests write: L2 with
queue position and liquidity consumption, 10 ms latency, a 2,000 USDT margin account."""


def fixed_spread_entry(name: str, half_spread_ticks: float) -> str:
    """A ``[[strategies]]`` entry: the fixed-spread maker, 0.002 BTC quotes every 100 ms."""
    return f"""
[[strategies]]
name = "{name}"
strategy_path = "strategies.fixed_spread:FixedSpreadMarketMaker"
config_path = "strategies.fixed_spread:FixedSpreadMarketMakerConfig"
[strategies.config]
order_qty = "0.002"
max_inventory = "0.010"
half_spread_ticks = {half_spread_ticks}
quote_interval_ms = 100
"""


def interrupt_after(cmd: list[str], first_line: Callable[[str], bool], *, timeout: float = 120) -> None:
    """Run ``cmd`` and send it Ctrl-C (SIGINT) once it prints a stderr line where ``first_line``
    holds; wait for it to exit (killed if it outlives ``timeout``). The project is importable
    from the child (PYTHONPATH = the repository root)."""
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        for line in proc.stderr:
            if first_line(line):
                proc.send_signal(signal.SIGINT)
                break
        proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
