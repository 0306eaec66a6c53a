"""Manifests: hashes recorded, provenance captured, tampered or unlisted models refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from strategies.model_store import ModelIntegrityError, load_model, manifest_path, read_manifest
from rl.manifest import load_vecnormalize, write_manifest
from tests.rl.test_qlearning import _model, make_chain


@pytest.fixture()
def saved(tmp_path):
    model = _model().learn(300)
    path = tmp_path / "model.zip"
    model.save(path)
    venv = VecNormalize(make_vec_env(make_chain, n_envs=1, seed=0))
    venv.save(str(tmp_path / "vecnormalize.pkl"))
    write_manifest(
        path, algorithm="qlearning", seed=0, config={"env": {"x": 1}},
        windows={"train": ["a", "b"], "validation": ["b", "c"]}, metrics={"mean_reward": 1.5},
        vecnormalize_path=tmp_path / "vecnormalize.pkl", num_timesteps=300,
    )
    return model, path


def test_manifest_records_provenance(saved) -> None:
    _, path = saved
    m = read_manifest(path)
    assert manifest_path(path).name == "model.manifest.json"
    assert len(m.sha256) == 64 and m.algorithm == "qlearning" and m.seed == 0
    assert m.windows["validation"] == ["b", "c"] and m.metrics["mean_reward"] == 1.5
    assert m.vecnormalize_file == "vecnormalize.pkl"
    assert m.package_versions["stable-baselines3"] == "2.9.2"
    assert "commit" in m.git and m.created_utc.endswith("Z")


def test_load_verified_model_and_vecnormalize(saved) -> None:
    model, path = saved
    loaded, manifest = load_model(path)
    obs = np.array([[0.2, 0.1], [0.8, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    venv = load_vecnormalize(path, manifest, make_vec_env(make_chain, n_envs=1))
    assert venv.training is False and venv.norm_reward is False


def test_tampered_model_is_refused(saved) -> None:
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        load_model(path)


def test_tampered_vecnormalize_and_missing_manifest_are_refused(saved, tmp_path) -> None:
    _, path = saved
    (tmp_path / "vecnormalize.pkl").write_bytes(b"not the statistics")
    with pytest.raises(ModelIntegrityError, match="VecNormalize|vecnormalize"):
        load_model(path)
    manifest_path(path).unlink()
    with pytest.raises(ModelIntegrityError, match="no manifest"):
        load_model(path)


def test_manifest_with_wrong_hash_field(saved) -> None:
    _, path = saved
    mp = manifest_path(path)
    data = json.loads(mp.read_text())
    data["sha256"] = "0" * 64
    mp.write_text(json.dumps(data))
    with pytest.raises(ModelIntegrityError):
        load_model(path)


def test_policy_market_maker_default_loader_refuses_a_tampered_model(saved) -> None:
    """The strategy's default loader verifies before unpickling, so a swapped file never runs."""
    from strategies.policy import PolicyMarketMakerConfig, load_policy

    _, path = saved
    from strategies.agent import AgentConfig

    default_loader = PolicyMarketMakerConfig(agent=AgentConfig()).policy_loader
    policy = load_policy(default_loader, str(path))  # intact: loads, wrapped with VecNormalize
    assert callable(policy.predict)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        load_policy(default_loader, str(path))
