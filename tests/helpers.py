"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.config_io import ConfigError


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
