"""Trained models on disk: their manifests, and loading one only if it is the file that was trained.

Stable-Baselines3 model zips (and ``VecNormalize`` statistics) contain *pickled Python objects*:
loading an untrusted model file runs its code. Every model the training harness saves
(``rl.manifest.write_manifest``) therefore gets a manifest beside it (``model.zip`` ->
``model.manifest.json``) recording the sha256 of the model file (and of the ``VecNormalize`` file
saved with it), the algorithm, the seed, the full run configuration, the data windows, package
versions, the git commit and the validation metrics. This module is the deployment side: read a
manifest, verify the files against it, and load the policy (:func:`load_verified_policy`, the
default ``PolicyMarketMakerConfig.policy_loader``) without importing the training harness. The
manifest is a provenance record, not a signature: someone who can rewrite both files can forge it.
Only load models you trained or trust.

Every file that is trusted *because of* a model is hashed in its manifest, not only the pickles:
the run's ``config.yml`` (``config_file``; its windows are what ``amm evaluate`` refuses to
evaluate on, and its agent settings what the policy is run with) and, for a checkpoint of an
off-policy run, its replay buffer (``replay_buffer_file``; unpickled by ``amm train --resume``).
:func:`verify` checks every file the manifest names; :func:`verified_config_path` additionally
refuses a manifest that does not hash its run config (version 1 manifests, written before the
config was hashed), so a run whose config cannot be checked is never trusted for its windows.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 2
"""2: ``config_file``/``config_sha256`` and ``replay_buffer_file``/``replay_buffer_sha256`` added."""

ALGORITHM_CLASSES: dict[str, str] = {
    "ppo": "stable_baselines3:PPO",
    "a2c": "stable_baselines3:A2C",
    "sac": "stable_baselines3:SAC",
    "dqn": "stable_baselines3:DQN",
    "qlearning": "rl.agents.qlearning:QLearning",
    "recurrent_ppo": "sb3_contrib:RecurrentPPO",
}
"""The class that loads each algorithm's model file. A tabular Q-learning model is its own
learner class (``rl.agents.qlearning``): deploying one is the one case that imports ``rl``.
``recurrent_ppo`` is SB3-contrib's PPO with an LSTM policy (``MlpLstmPolicy``)."""

RECURRENT = frozenset({"recurrent_ppo"})
"""Algorithms whose policy keeps a hidden state between decisions (``strategies.policy.RecurrentPolicy``)."""


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
    config_file: str | None = None
    config_sha256: str | None = None
    replay_buffer_file: str | None = None
    replay_buffer_sha256: str | None = None
    version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Check the model and every file its manifest names (VecNormalize statistics, run config,
    replay buffer) against the recorded sha256; return the manifest or raise."""
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
    named = (
        ("VecNormalize", manifest.vecnormalize_file, manifest.vecnormalize_sha256),
        ("run config", manifest.config_file, manifest.config_sha256),
        ("replay buffer", manifest.replay_buffer_file, manifest.replay_buffer_sha256),
    )
    for what, name, digest in named:
        if not name:
            continue
        path = named_path(model_path, name)
        if not path.exists():
            raise ModelIntegrityError(f"{path}: {what} file named in the manifest of {model_path.name} is missing")
        if file_sha256(path) != digest:
            raise ModelIntegrityError(
                f"{path}: sha256 does not match the manifest of {model_path.name} (the {what} changed "
                "after training); refusing to use it",
            )
    return manifest


def named_path(model_path: str | Path, name: str) -> Path:
    """A file a manifest names, relative to the model's directory (or absolute)."""
    p = Path(name)
    return p if p.is_absolute() else Path(model_path).parent / p


def vecnormalize_path(model_path: str | Path, manifest: Manifest) -> Path:
    return named_path(model_path, manifest.vecnormalize_file or "")


def verified_config_path(model_path: str | Path) -> Path:
    """The run ``config.yml`` of ``model_path``, verified with the model against its manifest.

    A manifest that does not hash its run config (version 1) is refused rather than trusted with
    a warning: the config's windows are what keeps ``amm evaluate`` off the training data, and a
    warning beside a result computed on the training window is a silently wrong result. Such a
    run is retrained (the manifest cannot be re-signed after the fact without trusting the very
    file it would vouch for).
    """
    model_path = Path(model_path)
    manifest = verify(model_path)
    if not manifest.config_file or not manifest.config_sha256:
        raise ModelIntegrityError(
            f"{manifest_path(model_path)}: records no sha256 of the run's config.yml (manifest version "
            f"{manifest.version}); its windows cannot be checked: retrain the run",
        )
    return named_path(model_path, manifest.config_file)


def algorithm_class(name: str) -> Any:
    """The class that loads a model of algorithm ``name`` (:data:`ALGORITHM_CLASSES`)."""
    path = ALGORITHM_CLASSES.get(name.lower())
    if path is None:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHM_CLASSES)}")
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def load_model(model_path: str | Path, *, env: Any = None, device: str = "cpu") -> tuple[Any, Manifest]:
    """Verify ``model_path`` against its manifest, then load it with its algorithm's class."""
    manifest = verify(model_path)
    model = algorithm_class(manifest.algorithm).load(str(model_path), env=env, device=device)
    return model, manifest


def load_verified_policy(model_path: str | None, **_: Any) -> Any:
    """``PolicyMarketMakerConfig.policy_loader`` that verifies the manifest before unpickling.

    Returns the model, wrapped with its frozen ``VecNormalize`` observation statistics when the
    run used them.
    """
    from strategies.policy import NormalizedPolicy

    if not model_path:
        raise ValueError("load_verified_policy: model_path is required")
    from strategies.policy import RecurrentPolicy

    model, manifest = load_model(model_path)
    if manifest.algorithm in RECURRENT:
        model = RecurrentPolicy(model)
    if not manifest.vecnormalize_file:
        return model
    vn = vecnormalize_path(model_path, manifest)
    if file_sha256(vn) != manifest.vecnormalize_sha256:
        raise ModelIntegrityError(f"{vn}: sha256 does not match the manifest; refusing to load")
    with open(vn, "rb") as f:
        stats = pickle.load(f)  # noqa: S301 - hash verified against the manifest above
    stats.training = False
    return NormalizedPolicy(model, stats)
