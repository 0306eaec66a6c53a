"""Model manifests: what a saved model is, where it came from, and proof it was not swapped.

Stable-Baselines3 model zips (and ``VecNormalize`` statistics) contain *pickled Python objects*:
loading an untrusted model file runs its code. Every model this project saves therefore gets a
manifest beside it (``model.zip`` -> ``model.manifest.json``) recording

* the sha256 of the model file (and of the ``VecNormalize`` file saved with it),
* the algorithm, the seed and the full run configuration,
* the data windows it was trained / validated on,
* package versions and the git commit of the code that trained it,
* the metrics on the validation window,

and :func:`load_model` refuses to unpickle a file whose hash does not match its manifest. The
manifest is a provenance record, not a signature: someone who can rewrite both files can forge it.
Only load models you trained or trust.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1

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


class ModelIntegrityError(RuntimeError):
    """A model file is missing its manifest or does not match the hash recorded in it."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(model_path: str | Path) -> Path:
    """``run/model.zip`` -> ``run/model.manifest.json``."""
    p = Path(model_path)
    return p.with_name(p.name.removesuffix(".zip") + MANIFEST_SUFFIX)


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


@dataclass(frozen=True)
class Manifest:
    """The record written beside a model file (see the module docstring)."""

    model_file: str
    sha256: str
    algorithm: str
    seed: int
    config: dict[str, Any]
    windows: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    vecnormalize_file: str | None = None
    vecnormalize_sha256: str | None = None
    package_versions: dict[str, str] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    created_utc: str = ""
    num_timesteps: int | None = None
    version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
) -> Manifest:
    """Hash ``model_path`` (and ``vecnormalize_path``) and write the manifest beside it."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path}: model file not found")
    vn = Path(vecnormalize_path) if vecnormalize_path else None
    if vn is not None and not vn.exists():
        raise FileNotFoundError(f"{vn}: VecNormalize file not found")
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


def read_manifest(model_path: str | Path) -> Manifest:
    """Read the manifest of ``model_path`` (no hash check)."""
    mp = manifest_path(model_path)
    if not mp.exists():
        raise ModelIntegrityError(
            f"{model_path}: no manifest ({mp.name}); refusing to load an unverified model "
            "(model files hold pickled code)",
        )
    try:
        data = json.loads(mp.read_text())
        return Manifest(**data)
    except (json.JSONDecodeError, TypeError) as e:
        raise ModelIntegrityError(f"{mp}: unreadable manifest: {e}") from e


def verify(model_path: str | Path) -> Manifest:
    """Check the model (and VecNormalize) files against the manifest; return it or raise."""
    model_path = Path(model_path)
    manifest = read_manifest(model_path)
    if not model_path.exists():
        raise ModelIntegrityError(f"{model_path}: model file not found")
    actual = file_sha256(model_path)
    if actual != manifest.sha256:
        raise ModelIntegrityError(
            f"{model_path}: sha256 {actual[:16]}... does not match its manifest "
            f"({manifest.sha256[:16]}...); refusing to load (model files hold pickled code)",
        )
    if manifest.vecnormalize_file:
        vn = vecnormalize_path(model_path, manifest)
        if not vn.exists():
            raise ModelIntegrityError(f"{vn}: VecNormalize file named in the manifest is missing")
        if file_sha256(vn) != manifest.vecnormalize_sha256:
            raise ModelIntegrityError(
                f"{vn}: sha256 does not match the manifest of {model_path.name}; refusing to load",
            )
    return manifest


def vecnormalize_path(model_path: str | Path, manifest: Manifest) -> Path:
    p = Path(manifest.vecnormalize_file or "")
    return p if p.is_absolute() else Path(model_path).parent / p


def load_model(model_path: str | Path, *, env: Any = None, device: str = "cpu") -> tuple[Any, Manifest]:
    """Verify ``model_path`` against its manifest, then load it with its algorithm's class."""
    from rl.agents import algorithm_class

    manifest = verify(model_path)
    model = algorithm_class(manifest.algorithm).load(str(model_path), env=env, device=device)
    return model, manifest


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
