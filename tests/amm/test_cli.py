"""The ``amm`` application: every command answers ``--help``, one error policy, layers point down.

* each command and subcommand the packages register answers ``--help`` with exit 0;
* a user error (a missing config or data file) is exit 1 and exactly one stderr line, from the
  real entry point too; Ctrl-C is 130; a bug keeps its traceback;
* ``catalog``, the lowest layer, imports nothing above it: every ``catalog`` module imports with
  ``amm``, ``strategies``, ``backtests``, ``rl`` and ``live`` made unimportable;
* ``amm --help`` loads neither NautilusTrader nor torch (heavy imports live inside the commands).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from amm.cli import app
from amm.errors import run_with_policy
from tests.helpers import amm, run_with_imports_blocked

ROOT = Path(__file__).resolve().parents[2]
UPPER_PACKAGES = ("amm", "strategies", "backtests", "rl", "live")


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``command`` (a Click command; groups have ``commands``)."""
    paths = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_every_package_registers_its_commands() -> None:
    top = {p[0] for p in COMMANDS if p}
    assert top >= {"ingest", "catalog", "download", "backtest", "report", "train", "evaluate", "synth",
                   "live", "live-persist"}
    assert {("catalog", "info"), ("catalog", "migrate"), ("download", "binance"), ("synth", "as-model")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "amm")
def test_every_command_answers_help(capsys, path: tuple[str, ...]) -> None:
    code, out, err = amm(capsys, *path, "--help")
    assert code == 0, err
    assert "Usage:" in out and err == ""


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("backtest", "--config", "{tmp}/missing.toml"), "missing.toml"),
        (("ingest", "binance-ws", "{tmp}/missing.gz", "--catalog", "{tmp}/c"), "missing.gz"),
        (("train", "--config", "{tmp}/missing.yml"), "missing.yml"),
        (("live", "--config", "{tmp}/missing.toml", "--dry-run"), "missing.toml"),
        (("catalog", "info", "--catalog", "{tmp}/nowhere", "--json"), "nowhere"),
    ],
)
def test_user_error_is_exit_1_and_one_stderr_line(capsys, tmp_path: Path, args: tuple[str, ...], name: str) -> None:
    code, out, err = amm(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("error: ") and name in line
    assert out == ""


def test_real_entry_point_prints_one_line(tmp_path: Path) -> None:
    """``python -m amm.cli``, as the console script runs it: nothing but the error line on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "amm.cli", "backtest", "--config", str(tmp_path / "missing.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"error: {tmp_path / 'missing.toml'}: config file not found\n"


def _app_raising(error: BaseException) -> typer.Typer:
    toy = typer.Typer(pretty_exceptions_enable=False)

    @toy.command()
    def boom() -> None:
        raise error

    return toy


def test_policy_ctrl_c_is_130(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_with_policy(lambda: _app_raising(KeyboardInterrupt())([]))
    assert exit_info.value.code == 130


@pytest.mark.parametrize("bug", [KeyError("x"), TypeError("x"), NotImplementedError("x")], ids=type)
def test_policy_keeps_the_traceback_of_a_bug(bug: BaseException) -> None:
    with pytest.raises(type(bug)):
        run_with_policy(lambda: _app_raising(bug)([]))


def test_policy_puts_a_multiline_message_on_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_with_policy(lambda: _app_raising(ValueError("bad.toml: field 'x'\n  expected an int"))([]))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: bad.toml: field 'x' expected an int\n"


@pytest.mark.parametrize(
    ("error", "expected"),
    [(FileNotFoundError(2), "FileNotFoundError 2 (No such file or directory) at "), (RuntimeError(), "RuntimeError at ")],
    ids=["bare-errno", "empty"],
)
def test_policy_names_an_error_whose_message_has_no_words(capsys, error: BaseException, expected: str) -> None:
    """``train`` once printed ``error: 2``: a bare ``OSError(2)`` must say what it is and where it came from."""
    with pytest.raises(SystemExit) as exit_info:
        run_with_policy(lambda: _app_raising(error)([]))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}"), err
    assert "test_cli.py:" in err and err.count("\n") == 1


def test_catalog_imports_nothing_above_it() -> None:
    done = run_with_imports_blocked(set(UPPER_PACKAGES), """
        import typer
        import catalog.cli
        names = import_all("catalog")
        app = typer.Typer()
        catalog.cli.register(app)
        app(["--help"], standalone_mode=False)
        print(len(names))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 20  # every catalog module was imported


def test_help_loads_no_heavy_library() -> None:
    code = "import sys, amm.cli; print(sorted(m for m in ('nautilus_trader', 'torch', 'stable_baselines3', 'pandas') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_version(capsys) -> None:
    from importlib.metadata import version

    code, out, err = amm(capsys, "--version")
    assert (code, out.strip(), err) == (0, f"amm {version('automated-market-making')}", "")


def test_help_joins_the_lines_of_a_paragraph(capsys, monkeypatch) -> None:
    """Docstrings render as Markdown: a paragraph wrapped in the source is one paragraph on screen
    (the rich default kept each source line break, and wrapped again)."""
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = amm(capsys, "walkforward", "--help")
    assert code == 0
    assert any("the results are aggregated per instrument and strategy with Student-t intervals over windows" in line
               for line in out.splitlines())
