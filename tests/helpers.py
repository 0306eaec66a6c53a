"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


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
