"""API credentials: from the environment or a mounted secret, never from a config file.

NautilusTrader's Binance and Bybit adapters read their keys from fixed environment variables when
the client config leaves ``api_key`` / ``api_secret`` empty (``adapters/binance/common/
credentials.py``, ``adapters/bybit/common/credentials.py``). This module keeps it that way: the
node configs built by :mod:`live.node` never hold a key, so a key cannot end up in the
``config.json`` that streaming persistence writes beside the data, in a log line that prints a
config, or in a Kubernetes ``ConfigMap``.

A key is taken from, in order:

1. the environment variable the adapter reads (e.g. ``BINANCE_FUTURES_TESTNET_API_KEY``);
2. a mounted secret: a directory holding one file per variable, named like the variable (what a
   Kubernetes ``Secret`` volume looks like), or a ``NAME=value`` file (docker ``--env-file`` /
   compose secrets). Values found there are exported into this process' environment under the
   adapter's variable name, which is the only channel the adapter reads.

Plans and errors name the variable and where it came from, never the value. The values are also
handed to :class:`live.redact.OutputRedactor`, because both adapters log the full API key once
connected ("API key ... has trading permissions").
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from catalog.config_io import is_credential_name

SECRETS_PATH_ENV = "AMM_SECRETS_PATH"
"""Environment variable naming the mounted secret (directory or ``NAME=value`` file)."""


class CredentialsError(RuntimeError):
    """A credential the node needs is missing or unreadable (the message names, never shows, it)."""


@dataclass(frozen=True)
class CredentialSpec:
    """The two environment variables one venue client reads, and why it needs them."""

    key_env: str
    secret_env: str
    purpose: str


@dataclass(frozen=True)
class ResolvedCredential:
    """Where a credential came from. Holds the variable name and source, not the value."""

    env: str
    source: str  # "environment" or the secret path it was read from
    length: int

    def describe(self) -> str:
        return f"{self.env} ({self.source}, {self.length} chars)"


def credential_spec(adapter: str, account_type: str, environment: str) -> CredentialSpec:
    """Return the variables NautilusTrader's adapter reads for this venue account.

    Mirrors ``get_api_key`` / ``get_api_secret`` of the 1.231.0 Binance adapter
    (``adapters/binance/common/credentials.py``) and the names the Rust Bybit adapter reads.
    """
    if adapter == "binance":
        if environment == "testnet":
            spot = account_type.upper() in ("SPOT", "MARGIN", "ISOLATED_MARGIN")
            prefix = "BINANCE_TESTNET" if spot else "BINANCE_FUTURES_TESTNET"
        else:
            prefix = "BINANCE"
        return CredentialSpec(f"{prefix}_API_KEY", f"{prefix}_API_SECRET", f"binance {account_type} {environment}")
    if adapter == "bybit":
        prefix = {"production": "BYBIT", "testnet": "BYBIT_TESTNET", "demo": "BYBIT_DEMO"}[environment]
        return CredentialSpec(f"{prefix}_API_KEY", f"{prefix}_API_SECRET", f"bybit {account_type} {environment}")
    raise ValueError(f"no credentials known for adapter {adapter!r}")


def _read_secret_path(path: Path) -> dict[str, str]:
    """Read a mounted secret: a directory of ``NAME`` files or a ``NAME=value`` file."""
    if path.is_dir():
        out = {}
        for f in sorted(path.iterdir()):
            # Kubernetes volumes hold ``..data`` symlinks beside the keys; skip dotfiles.
            if f.name.startswith(".") or not f.is_file():
                continue
            try:
                out[f.name] = f.read_text().strip()
            except OSError as e:
                raise CredentialsError(f"secret {f}: cannot read ({e.strerror})") from None
        return out
    if path.is_file():
        out = {}
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise CredentialsError(f"secret file {path}: cannot read ({e.strerror})") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.removeprefix("export ").partition("=")
            if not sep or not name.strip():
                # Never echo the line: it may be a bare key.
                raise CredentialsError(f"secret file {path}:{n}: expected NAME=value")
            out[name.strip()] = value.strip().strip("'\"")
        return out
    raise CredentialsError(f"secret path {path} does not exist (set by {SECRETS_PATH_ENV} or node.secrets_path)")


def resolve_credentials(
    specs: list[CredentialSpec],
    secrets_path: Path | None = None,
    environ: MutableMapping[str, str] | None = None,
    export: bool = True,
) -> tuple[list[ResolvedCredential], list[str]]:
    """Find every credential in ``specs``; export secret-file values into ``environ``.

    Parameters
    ----------
    specs : list[CredentialSpec]
        What the node's venue clients need.
    secrets_path : Path, optional
        A mounted secret (directory or ``NAME=value`` file); ``$AMM_SECRETS_PATH`` when ``None``.
    environ : MutableMapping[str, str], optional
        The environment to read and export to (``os.environ`` by default).
    export : bool, default True
        Copy values found in the secret path into ``environ`` (the adapters read nothing else).

    Returns
    -------
    tuple[list[ResolvedCredential], list[str]]
        Where each credential came from, and the secret values (for the output redactor).

    Raises
    ------
    CredentialsError
        If a variable is in neither place; the message lists every missing name.

    """
    env = os.environ if environ is None else environ
    if secrets_path is None and env.get(SECRETS_PATH_ENV):
        secrets_path = Path(env[SECRETS_PATH_ENV])
    from_file: Mapping[str, str] = _read_secret_path(Path(secrets_path)) if secrets_path else {}
    resolved: list[ResolvedCredential] = []
    values: list[str] = []
    missing: list[str] = []
    for spec in specs:
        for name in (spec.key_env, spec.secret_env):
            if env.get(name):
                value, source = env[name], "environment"
            elif from_file.get(name):
                value, source = from_file[name], str(secrets_path)
                if export:
                    env[name] = value
            else:
                missing.append(f"{name} ({spec.purpose})")
                continue
            resolved.append(ResolvedCredential(env=name, source=source, length=len(value)))
            values.append(value)
    if missing:
        where = f" or in the secret at {secrets_path}" if secrets_path else f" (or mount a secret and set {SECRETS_PATH_ENV})"
        raise CredentialsError(f"missing credentials: set {', '.join(missing)} in the environment{where}")
    return resolved, values


def is_credential_field(name: str) -> bool:
    """Whether a config field name can only mean a credential (``api_key``, ``binance_key``,
    ``secret``, ...): the one rule of :func:`catalog.config_io.is_credential_name`, so a live file
    and every other config refuse the same names."""
    return is_credential_name(name)


def looks_like_api_key(value: str) -> bool:
    """Heuristic for a pasted exchange key: a long token mixing upper case, lower case and digits.

    Binance and Bybit keys are 18-64 character alphanumeric tokens of mixed case. Hex digests
    (model hashes) are single-case and do not match; neither do paths or identifiers with
    separators.
    """
    return (
        len(value) >= 18
        and value.isascii()
        and value.isalnum()
        and sum(c.isupper() for c in value) >= 2
        and sum(c.islower() for c in value) >= 2
        and sum(c.isdigit() for c in value) >= 2
    )


def find_credential_literals(tree: object, prefix: str = "") -> list[str]:
    """Return the dotted paths of config fields that hold a credential literal.

    A field is flagged if its name can only mean a credential and it holds a non-empty value, or
    if a string value anywhere looks like an exchange API key.
    """
    found: list[str] = []
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if is_credential_field(str(k)) and v not in (None, "", [], {}):
                found.append(path)
            else:
                found.extend(find_credential_literals(v, path))
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            found.extend(find_credential_literals(v, f"{prefix}[{i}]"))
    elif isinstance(tree, str) and looks_like_api_key(tree):
        found.append(prefix)
    return found
