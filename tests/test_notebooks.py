"""The notebooks (``notebooks/*.ipynb``) run top to bottom, and are stored without outputs.

Every notebook in ``notebooks/`` is found by glob, so a new one is tested without editing this
file. Each runs in a fresh IPython kernel of *this* interpreter (the project's ``.venv``, not
whatever ``python3`` kernel a user has registered), with the notebook's own directory as the
working directory (its relative paths, e.g. ``_work/``, resolve there) and ``AMM_DATA_DIR``
set to the data directory this process uses (``catalog.settings.data_dir``). A cell that
raises fails the test with that cell's source and traceback. The executed copy, with its
outputs and plots, is written to ``notebooks/_work/executed/`` (git-ignored) for inspection.

The execution tests are ``slow`` (each notebook takes one to three minutes on two cores);
``make notebooks`` runs just this file.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from catalog.settings import REPO_ROOT, data_dir

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXECUTED_DIR = NOTEBOOK_DIR / "_work" / "executed"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""Terminal colour codes of IPython tracebacks, stripped from the failure message."""
CELL_TIMEOUT_S = 600
"""Per-cell limit: a training or backtest cell takes under a minute; ten means a hang."""


def _ids(path: Path) -> str:
    return path.stem


def test_notebooks_are_found() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """Committed notebooks carry no outputs and no execution counts (diffs stay readable, and
    no stale result passes for a current one)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or an execution count; clear them before "
        "committing (e.g. `jupyter nbconvert --clear-output --inplace` or the editor's 'Clear All Outputs')"
    )


def _kernel_manager():
    """A kernel manager that starts ipykernel with this interpreter, ignoring registered specs."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path: Path) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=_kernel_manager(),
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
    )
    env = {**os.environ, "AMM_DATA_DIR": str(data_dir()), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    started = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as e:
        pytest.fail(f"{path.name}: a cell raised\n{ANSI.sub('', str(e))}", pytrace=False)
    finally:
        EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, EXECUTED_DIR / path.name)
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
