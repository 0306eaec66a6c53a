"""The code a config file may name: one registry of importable paths, and the operator's opt-in.

A config string that becomes an import runs code: importing ``module`` runs its top level, and a
policy loader is then *called* with the config's ``model_path``. Left open, a run file or a live
deployment file is a script (``policy_loader = "os:system"`` with ``model_path = "<a shell
command>"`` ran the command during ``amm live --dry-run``). So every field whose value is
imported, ``strategy_path`` / ``config_path`` of a strategy table (run files, live files),
``policy_loader`` of :class:`strategies.policy.PolicyMarketMakerConfig` and ``fill_model_path``
of :class:`backtests.venue.VenueModelConfig`, is checked here, as text, before anything is
imported: it must be one of the project's registered paths below.

Running your own strategy, loader or fill model is an explicit choice of whoever runs the process,
never of the file: list the module prefixes in the environment variable ``AMM_ALLOW_IMPORTS``
(comma-separated, ``AMM_ALLOW_IMPORTS="mypkg,tests"``: ``mypkg`` and ``mypkg.*`` may then be
named in any of these fields). An environment variable rather than a config key because a file
must not be able to vouch for itself; rather than a command-line flag because it reaches every
process that reads configs (sweep workers, the live node's subprocesses, a Kubernetes pod's
``env``) without each entry point growing one. The test suite sets ``AMM_ALLOW_IMPORTS=tests``
(``tests/conftest.py``) for its toy strategies and recorded-policy loaders.

This module imports nothing it names (the registry is text), so checking a path is free and
``amm --help`` stays light.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

ALLOW_IMPORTS_ENV = "AMM_ALLOW_IMPORTS"
"""Environment variable: comma-separated module prefixes whose code configs may name."""

STRATEGIES: Mapping[str, str] = {
    "strategies.fixed_spread:FixedSpreadMarketMaker": "strategies.fixed_spread:FixedSpreadMarketMakerConfig",
    "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMaker": (
        "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMakerConfig"
    ),
    "strategies.glft:GLFTMarketMaker": "strategies.glft:GLFTMarketMakerConfig",
    "strategies.glft_alpha:AlphaGLFTMarketMaker": "strategies.glft_alpha:AlphaGLFTMarketMakerConfig",
    "strategies.policy:PolicyMarketMaker": "strategies.policy:PolicyMarketMakerConfig",
}
"""Registered strategies: ``strategy_path`` -> its ``config_path``."""

POLICY_LOADERS: tuple[str, ...] = (
    "strategies.model_store:load_verified_policy",  # the default: sha256 checked against the manifest
    "strategies.policy:load_sb3_policy",  # a bare SB3 zip trained elsewhere (no manifest)
)
"""Registered ``PolicyMarketMakerConfig.policy_loader`` functions."""

FILL_MODEL_MODULES: tuple[str, ...] = ("nautilus_trader.backtest.models",)
"""Modules whose classes ``VenueModelConfig.fill_model_path`` may name (Nautilus' own fill models;
the venue config then checks that the class is a ``FillModel``)."""

Kind = Literal["strategy_path", "config_path", "policy_loader", "fill_model_path"]

_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class ImportRefused(ValueError):
    """A config names code outside the registry (and outside ``AMM_ALLOW_IMPORTS``)."""


def allowed_prefixes(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The module prefixes the operator opted in to (``AMM_ALLOW_IMPORTS``); empty items ignored."""
    raw = (os.environ if environ is None else environ).get(ALLOW_IMPORTS_ENV, "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def registered(kind: Kind) -> tuple[str, ...]:
    """What ``kind`` may name without an opt-in (fill models: the allowed modules)."""
    if kind == "strategy_path":
        return tuple(STRATEGIES)
    if kind == "config_path":
        return tuple(STRATEGIES.values())
    if kind == "policy_loader":
        return POLICY_LOADERS
    return tuple(f"{m}:<FillModel class>" for m in FILL_MODEL_MODULES)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def is_allowed(path: str, kind: Kind, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a config may name ``path`` in a field of ``kind`` (text only: nothing is imported)."""
    if not isinstance(path, str) or not _PATH.match(path):
        return False
    module = path.partition(":")[0]
    if any(_under(module, p) for p in allowed_prefixes(environ)):
        return True
    if kind == "fill_model_path":
        return any(_under(module, m) for m in FILL_MODEL_MODULES)
    return path in registered(kind)


def check_importable(path: str, kind: Kind, environ: Mapping[str, str] | None = None) -> None:
    """Refuse ``path`` unless it is registered for ``kind`` or under an opted-in module prefix.

    Raises
    ------
    ImportRefused
        One line: what is allowed and how to opt in. Nothing has been imported.
    """
    if is_allowed(path, kind, environ):
        return
    if not isinstance(path, str) or not _PATH.match(path):
        raise ImportRefused(f"expected 'package.module:Name', got {path!r}")
    module = path.partition(":")[0]
    message = f"{path!r} is not a registered {kind}; expected one of: {', '.join(registered(kind))}"
    if not any(module == p.partition(":")[0] for p in _all_registered()):  # someone else's code
        message += (
            f" (configs name only the project's own code; to run yours, list its module in "
            f"{ALLOW_IMPORTS_ENV}, e.g. {ALLOW_IMPORTS_ENV}={module.split('.')[0]})"
        )
    raise ImportRefused(message)


def _all_registered() -> tuple[str, ...]:
    return (*STRATEGIES, *STRATEGIES.values(), *POLICY_LOADERS, *(f"{m}:" for m in FILL_MODEL_MODULES))


__all__ = [
    "ALLOW_IMPORTS_ENV",
    "FILL_MODEL_MODULES",
    "POLICY_LOADERS",
    "STRATEGIES",
    "ImportRefused",
    "allowed_prefixes",
    "check_importable",
    "is_allowed",
    "registered",
]
