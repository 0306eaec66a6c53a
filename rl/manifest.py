"""Writing model manifests: what a saved model is and where it came from (the training side).

The manifest format, verification and loading live with the deployable code
(:mod:`strategies.model_store`); training writes one beside every model it saves, with package
versions and the git state of the code that trained it, and the sha256 of every file that is
trusted along with the model: its ``VecNormalize`` statistics, the run's ``config.yml`` and (for
checkpoints of off-policy runs) the replay buffer.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from strategies.model_store import Manifest, ModelIntegrityError, file_sha256, manifest_path, vecnormalize_path

TRACKED_PACKAGES = (
    "automated-market-making",
    "nautilus_trader",
    "stable-baselines3",
    "gymnasium",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    import sys

    out["python"] = sys.version.split()[0]
    return out


def git_state(cwd: str | Path | None = None) -> dict[str, Any]:
    """Commit of the code and whether the work tree had uncommitted changes (None outside git)."""
    from catalog.settings import REPO_ROOT

    where = str(cwd or REPO_ROOT)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def write_manifest(
    model_path: str | Path,
    *,
    algorithm: str,
    seed: int,
    config: dict[str, Any],
    windows: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    vecnormalize_path: str | Path | None = None,
    num_timesteps: int | None = None,
    config_path: str | Path | None = None,
    replay_buffer_path: str | Path | None = None,
) -> Manifest:
    """Hash ``model_path`` and the files trusted with it, and write the manifest beside it.

    ``config_path`` is the run's ``config.yml`` (its windows guard ``amm evaluate``; a model
    manifest without it cannot be evaluated or resumed, see
    :func:`strategies.model_store.verified_config_path`); ``replay_buffer_path`` the pickled replay
    buffer ``--resume`` loads with a checkpoint. Both are recorded relative to the model's directory
    (``../config.yml`` for a checkpoint), so a run directory can be moved.
    """
    model_path = Path(model_path)
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path}: model file not found")
    vn = Path(vecnormalize_path) if vecnormalize_path else None
    if vn is not None and not vn.exists():
        raise FileNotFoundError(f"{vn}: VecNormalize file not found")
    cfg_file = Path(config_path) if config_path else None
    if cfg_file is not None and not cfg_file.exists():
        raise FileNotFoundError(f"{cfg_file}: run config file not found")
    rb = Path(replay_buffer_path) if replay_buffer_path else None
    if rb is not None and not rb.exists():
        raise FileNotFoundError(f"{rb}: replay buffer file not found")
    manifest = Manifest(
        model_file=model_path.name,
        sha256=file_sha256(model_path),
        algorithm=algorithm,
        seed=int(seed),
        config=config,
        windows=windows,
        metrics=dict(metrics or {}),
        vecnormalize_file=None if vn is None else _relative(vn, model_path.parent),
        vecnormalize_sha256=None if vn is None else file_sha256(vn),
        package_versions=package_versions(),
        git=git_state(),
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        num_timesteps=num_timesteps,
        config_file=None if cfg_file is None else _relpath(cfg_file, model_path.parent),
        config_sha256=None if cfg_file is None else file_sha256(cfg_file),
        replay_buffer_file=None if rb is None else _relpath(rb, model_path.parent),
        replay_buffer_sha256=None if rb is None else file_sha256(rb),
    )
    out = manifest_path(model_path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, default=str))
    tmp.replace(out)
    return manifest


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def _relpath(path: Path, base: Path) -> str:
    """``path`` relative to ``base``, climbing with ``..`` where needed (checkpoints/ -> ../config.yml)."""
    return os.path.relpath(path.resolve(), base.resolve())


def load_vecnormalize(model_path: str | Path, manifest: Manifest, venv: Any) -> Any:
    """Load the verified ``VecNormalize`` statistics around ``venv`` in evaluation mode.

    ``training=False`` freezes the running statistics and ``norm_reward=False`` reports raw rewards,
    as SB3's docs prescribe for evaluation.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    if not manifest.vecnormalize_file:
        return venv
    vn = vecnormalize_path(model_path, manifest)
    if file_sha256(vn) != manifest.vecnormalize_sha256:
        raise ModelIntegrityError(f"{vn}: sha256 does not match the manifest; refusing to load")
    wrapped = VecNormalize.load(str(vn), venv)
    wrapped.training = False
    wrapped.norm_reward = False
    return wrapped
