"""Deploying a trained policy: the dry run loads the model and checks its hash first."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from live.config import load_config
from live.node import build_node, preflight_strategies
from strategies.agent import AgentConfig
from strategies.model_store import ModelIntegrityError
from rl.manifest import write_manifest
from tests.live import helpers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "model.zip"
    path.parent.mkdir()
    path.write_bytes(b"not really a zip: the test loader only reads it")
    write_manifest(path, algorithm="PPO", seed=1, config={}, windows={})
    return path


def _toml_inline(d: dict) -> str:
    items = [f"{k} = {_toml_inline(v) if isinstance(v, dict) else json.dumps(v)}" for k, v in d.items() if v is not None]
    return "{ " + ", ".join(items) + " }"


def _write(tmp_path: Path, catalog: Path, model: Path) -> Path:
    """A replay deployment of ``PolicyMarketMaker`` with the environment's default agent config."""
    path = tmp_path / "policy.toml"
    path.write_text(textwrap.dedent(f"""\
        [node]
        trader_id = "POLICY-001"
        log_level = "ERROR"

        [venue]
        adapter = "replay"

        [replay]
        catalog_path = "{catalog}"

        [execution]
        mode = "sandbox"

        [[strategies]]
        name = "agent_PPO"
        strategy_path = "strategies.policy:PolicyMarketMaker"
        config_path = "strategies.policy:PolicyMarketMakerConfig"
        [strategies.config]
        policy_loader = "tests.live.helpers:load_constant_policy"
        model_path = "{model}"
        """) + f"agent = {_toml_inline(AgentConfig().to_dict())}\n")
    return path


def test_dry_run_verifies_and_loads_the_policy(tmp_path, capture_catalog, model):
    catalog, _, _ = capture_catalog
    cfg = load_config(_write(tmp_path, catalog, model))
    node = build_node(cfg, log_level="ERROR", dry_run=True)
    try:
        helpers.LOADED.clear()
        (note,) = preflight_strategies(node)
    finally:
        node.dispose()
    assert "sha256 matches manifest" in note and "ConstantPolicy" in note
    assert helpers.LOADED == [str(model)]


def test_dry_run_refuses_a_tampered_model(tmp_path, capture_catalog, model):
    catalog, _, _ = capture_catalog
    path = _write(tmp_path, catalog, model)
    model.write_bytes(model.read_bytes() + b"!")
    cfg = load_config(path)
    node = build_node(cfg, log_level="ERROR", dry_run=True)
    try:
        helpers.LOADED.clear()
        with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
            preflight_strategies(node)
        assert helpers.LOADED == [], "nothing is unpickled before the hash check"
    finally:
        node.dispose()

    done = subprocess.run([sys.executable, "-m", "amm.cli", "live", "--config", str(path), "--dry-run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ModelIntegrityError:") and "does not match its manifest" in line
