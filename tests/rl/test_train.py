"""`amm train` end to end (subprocess, tiny budgets): every algorithm, resume after a kill, seeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from strategies.model_store import read_manifest, verify
from rl.synth import ASModelConfig, synth_run_config, write_as_model
from rl.train import RunConfig, load_run_config

AMM = [sys.executable, "-c", "from amm.cli import main; main()"]
TINY_OVERRIDES = {
    "ppo": {"kwargs": {"n_steps": 32, "batch_size": 32, "n_epochs": 1}},
    "a2c": {"kwargs": {"n_steps": 8}},
    "sac": {"kwargs": {"learning_starts": 16, "batch_size": 16, "buffer_size": 1000}},
    "dqn": {"kwargs": {"learning_starts": 16, "batch_size": 16, "buffer_size": 1000, "target_update_interval": 16}},
    "qlearning": {},
    "recurrent_ppo": {"kwargs": {"n_steps": 32, "batch_size": 32, "n_epochs": 1,
                                 "policy_kwargs": {"net_arch": [8], "lstm_hidden_size": 8}}},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    model = ASModelConfig(duration_s=900, seed=1)
    write_as_model(model, root / "cat")
    for algo, hp in TINY_OVERRIDES.items():
        rc = synth_run_config(model, root / "cat", algorithm=algo, exp=f"tiny-{algo}", total_timesteps=64, horizon_steps=20)
        rc.update(eval_freq_steps=32, eval_episodes=2, checkpoint_freq_steps=32, hyperparams_overrides=hp)
        (root / f"{algo}.yml").write_text(yaml.safe_dump(rc))
    return root


def _train(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*AMM, "train", *args, "--no-progress"], capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.parametrize("algo", ["ppo", "a2c", "sac", "dqn", "qlearning", "recurrent_ppo"])
def test_every_algorithm_trains_and_saves_a_verified_model(tiny, algo) -> None:
    proc = _train(["--config", str(tiny / f"{algo}.yml"), "--out", str(tiny / "runs"), "--json"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    run = Path(summary["run_dir"])
    assert run.name.startswith(f"MarketMaking-v0__tiny-{algo}__0__")
    assert summary["num_timesteps"] >= 64
    m = verify(run / "model.zip")
    assert m.algorithm == algo and m.seed == 0 and m.windows["test"]["start_ns"] > m.windows["validation"]["end_ns"]
    assert "validation_mean_reward" in m.metrics and len(m.metrics["validation_episode_rewards"]) == 2
    assert (run / "config.yml").exists() and any((run / "tb").iterdir())
    assert (run / "best" / "best_model.zip").exists() and (run / "eval" / "evaluations.npz").exists()
    assert list((run / "checkpoints").glob("model_*_steps.zip"))
    if algo != "qlearning":
        assert m.vecnormalize_file == "vecnormalize.pkl"
    # the policy runs through SB3's predict surface after a verified load
    from strategies.model_store import load_model

    model, _ = load_model(run / "model.zip")
    assert model.predict(__import__("numpy").zeros(16, dtype="float32"), deterministic=True)[0] is not None


def test_same_seed_same_metrics(tiny) -> None:
    out = []
    for _ in range(2):
        proc = _train(["--config", str(tiny / "ppo.yml"), "--out", str(tiny / "repro"), "--json"])
        assert proc.returncode == 0, proc.stderr
        out.append(json.loads(proc.stdout))
        time.sleep(1.1)  # run names have second resolution
    assert out[0]["validation_mean_reward"] == out[1]["validation_mean_reward"]
    other = _train(["--config", str(tiny / "ppo.yml"), "--out", str(tiny / "repro"), "--json", "--seed", "5"])
    assert json.loads(other.stdout.strip().splitlines()[-1])["run_dir"].split("__")[2] == "5"


@pytest.mark.slow
def test_resume_after_sigkill(tiny) -> None:
    cfg = yaml.safe_load((tiny / "ppo.yml").read_text())
    cfg.update(total_timesteps=3000, checkpoint_freq_steps=200, eval_freq_steps=1000)
    (tiny / "long.yml").write_text(yaml.safe_dump(cfg))
    out = tiny / "resume"
    proc = subprocess.Popen([*AMM, "train", "--config", str(tiny / "long.yml"), "--out", str(out), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    ckpts = []
    while time.time() < deadline and proc.poll() is None:
        ckpts = list(out.glob("*/checkpoints/model_*_steps.manifest.json"))
        if len(ckpts) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = ckpts[0].parents[1]
    assert not (run / "model.zip").exists()
    done = max(int(p.name.split("_")[1]) for p in ckpts)
    resumed = _train(["--resume", str(run), "--json"])
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["run_dir"] == str(run)
    assert summary["num_timesteps"] >= 3000
    assert read_manifest(run / "model.zip").num_timesteps == summary["num_timesteps"]
    assert done < 3000


def test_resume_refuses_a_tampered_checkpoint(tiny) -> None:
    proc = _train(["--config", str(tiny / "ppo.yml"), "--out", str(tiny / "tamper"), "--json"])
    run = Path(json.loads(proc.stdout)["run_dir"])
    (run / "model.manifest.json").unlink()  # as if killed before the final manifest: resumable
    ckpts = sorted(run.glob("checkpoints/model_*_steps.zip"), key=lambda p: int(p.name.split("_")[1]))
    data = bytearray(ckpts[-1].read_bytes())
    data[-20] ^= 0xFF
    ckpts[-1].write_bytes(bytes(data))
    bad = _train(["--resume", str(run)])
    assert bad.returncode == 1
    assert "does not match its manifest" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_windows_must_be_disjoint(tiny) -> None:
    cfg = yaml.safe_load((tiny / "ppo.yml").read_text())
    cfg["test"] = {"start": cfg["validation"]["start"], "end": cfg["test"]["end"]}
    (tiny / "overlap.yml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="validation and test windows overlap"):
        load_run_config(tiny / "overlap.yml")
    proc = _train(["--config", str(tiny / "overlap.yml")])
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1  # one line naming the file and the field
    assert lines[0].startswith(f"error: {tiny / 'overlap.yml'}: test: the validation and test windows overlap")


def test_test_window_never_reaches_training_or_selection(tiny) -> None:
    """The train env and the EvalCallback env only ever load data inside their own windows."""
    from rl.train import build_vec_env

    cfg = load_run_config(tiny / "ppo.yml")
    test_start = cfg.test.ns()[0]
    for kind in ("train", "validation"):
        venv = build_vec_env(cfg, kind=kind, run_dir=None)
        try:
            base = venv.envs[0].unwrapped
            last = max(d.ts_init for d in base.feed.data)
            assert last < test_start, f"{kind} env holds data from the test window"
        finally:
            venv.close()
    assert isinstance(cfg, RunConfig)
