"""The ``[[strategies]]`` block that runs a trained model under ``amm live``.

A training run directory holds the model, its manifest and the agent settings it was trained
with; a live deployment needs them as one strategy entry of ``PolicyMarketMaker`` with the
verifying loader. Both demos print it, and the LOBSTER demo replays it through ``amm live``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _toml(value: Any) -> str:
    """A TOML inline value (tables inline, None fields dropped)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def live_snippet(run_dir: str | Path, name: str = "agent") -> str:
    """A ``[[strategies]]`` block for an ``amm live`` config that runs this model (verified)."""
    from rl.train import resume_config

    agent = resume_config(run_dir).env_config().agent.to_dict()
    model = (Path(run_dir) / "model.zip").resolve()
    return "\n".join([
        "# Paste into an amm live config (e.g. live/configs/paper_binance_usdm.toml).",
        "[[strategies]]", f'name = "{name}"', 'strategy_path = "strategies.policy:PolicyMarketMaker"',
        'config_path = "strategies.policy:PolicyMarketMakerConfig"', "[strategies.config]",
        'policy_loader = "strategies.model_store:load_verified_policy"', f"model_path = {json.dumps(str(model))}",
        f"agent = {_toml(agent)}",  # the AgentConfig the model was trained with
    ]) + "\n"
