"""Nothing lost, nothing silently wrong (issue 17): resume keeps history, manifests hash the config.

* ``amm train --resume`` on a finished run is refused and writes nothing;
* a run killed mid-training and resumed keeps its Monitor rows and ``evaluations.npz`` entries and
  appends the new ones (timesteps strictly increasing, on the run's evaluation grid);
* a model's manifest hashes the run's ``config.yml``: editing its windows after training makes
  ``amm evaluate`` (and ``load_trained_policy``, ``resume_config``, the live loader's ``verify``)
  refuse with one line naming the file, before anything runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from rl.synth import ASModelConfig, synth_run_config, write_as_model
from strategies.model_store import ModelIntegrityError, manifest_path, read_manifest, verify
from tests.helpers import amm
from tests.rl.test_train import AMM, TINY_OVERRIDES

START = "2024-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 15-minute synthetic catalog and tiny PPO/DQN run configs (as in ``tests/rl/test_train.py``)."""
    root = tmp_path_factory.mktemp("integrity")
    model = ASModelConfig(duration_s=900, seed=1, start=START)
    write_as_model(model, root / "cat")
    for algo in ("ppo", "dqn"):
        rc = synth_run_config(model, root / "cat", algorithm=algo, exp=f"tiny-{algo}", total_timesteps=64,
                              horizon_steps=20)
        rc.update(eval_freq_steps=32, eval_episodes=2, checkpoint_freq_steps=32,
                  hyperparams_overrides=TINY_OVERRIDES[algo])
        (root / f"{algo}.yml").write_text(yaml.safe_dump(rc))
    return root


def _train(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*AMM, "train", *args, "--no-progress"], capture_output=True, text=True, timeout=300)


def _finished(tiny: Path, algo: str) -> Path:
    out = tiny / f"runs-{algo}"
    existing = list(out.glob("*/model.manifest.json"))
    if existing:
        return existing[0].parent
    proc = _train(["--config", str(tiny / f"{algo}.yml"), "--out", str(out), "--json"])
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)["run_dir"])


@pytest.fixture()
def run(tiny: Path, tmp_path: Path) -> Path:
    """A copy of a finished tiny PPO run (trained once per module)."""
    return Path(shutil.copytree(_finished(tiny, "ppo"), tmp_path / "run"))


def _state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: (sha256, mtime_ns); equal states = nothing written or added."""
    import hashlib

    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- item 4: resume -----------------------------------------------------------------------------------


def test_resume_refuses_a_finished_run_and_writes_nothing(run: Path) -> None:
    before = _state(run)
    proc = _train(["--resume", str(run)])
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {run}: the run already finished")
    assert "start a new run" in line
    assert _state(run) == before  # model.zip, its manifest and the history untouched


def test_resume_refuses_overrides(run: Path, capsys) -> None:
    before = _state(run)
    code, _, err = amm(capsys, "train", "--resume", str(run), "--timesteps", "5000")
    assert code == 1
    assert err.strip() == ("error: --resume continues the run with its own config.yml; "
                           "do not pass --timesteps")
    assert _state(run) == before


def _monitor_rows(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and lines[1] == "r,l,t"
    return lines[2:]


@pytest.mark.slow
def test_resume_after_a_kill_keeps_and_appends_history(tiny: Path) -> None:
    from stable_baselines3.common.monitor import load_results

    from rl.train import latest_checkpoint

    cfg = yaml.safe_load((tiny / "ppo.yml").read_text())
    cfg.update(total_timesteps=2400, checkpoint_freq_steps=200, eval_freq_steps=400)
    (tiny / "long.yml").write_text(yaml.safe_dump(cfg))
    out = tiny / "killed"
    proc = subprocess.Popen([*AMM, "train", "--config", str(tiny / "long.yml"), "--out", str(out), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        evals = list(out.glob("*/eval/evaluations.npz"))
        ckpts = list(out.glob("*/checkpoints/model_*_steps.manifest.json"))
        if evals and len(ckpts) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = ckpts[0].parents[1]
    assert not manifest_path(run / "model.zip").exists()
    resumed_from = latest_checkpoint(run)[1]
    monitor = run / "monitor" / "random-0.monitor.csv"
    monitor_before = monitor.read_bytes()
    rows_before = _monitor_rows(monitor)
    with np.load(run / "eval" / "evaluations.npz") as d:
        old = {k: d[k] for k in d.files}
    assert len(rows_before) >= 1 and len(old["timesteps"]) >= 1

    resumed = _train(["--resume", str(run), "--json"])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["num_timesteps"] >= 2400

    # Monitor: the first segment's file is untouched, the resumed segment has its own file
    assert monitor.read_bytes() == monitor_before
    new_rows = _monitor_rows(run / "monitor" / "random-0.resume1.monitor.csv")
    assert new_rows
    episodes = load_results(str(run / "monitor"))
    assert len(episodes) == len(rows_before) + len(new_rows)
    assert episodes["t"].is_monotonic_increasing

    # evaluations.npz: the entries up to the checkpoint first, then the resumed run's, on the grid
    with np.load(run / "eval" / "evaluations.npz") as d:
        new = {k: d[k] for k in d.files}
    kept = old["timesteps"] <= resumed_from
    n_kept = int(kept.sum())
    for key in ("timesteps", "results", "ep_lengths"):
        np.testing.assert_array_equal(new[key][:n_kept], old[key][kept])
    assert new["timesteps"].tolist() == list(range(400, 2401, 400))  # strictly increasing, none lost
    if not kept.all():  # evaluated after the last checkpoint, then killed: kept aside, not deleted
        with np.load(run / "eval" / "evaluations.discarded1.npz") as d:
            np.testing.assert_array_equal(d["timesteps"], old["timesteps"][~kept])

    # the best model beat every earlier evaluation, not only the resumed run's
    every = [new["results"]] + ([old["results"][~kept]] if not kept.all() else [])
    best = max(float(r.mean(axis=1).max()) for r in every)
    best_manifest = verify(run / "best" / "best_model.zip")
    assert best_manifest.metrics["validation_mean_reward"] == pytest.approx(best)
    assert read_manifest(run / "model.zip").num_timesteps >= 2400


def test_resume_refuses_a_tampered_replay_buffer(tiny: Path, tmp_path: Path) -> None:
    """Off-policy checkpoints hash their pickled replay buffer; resume unpickles only that file."""
    run = Path(shutil.copytree(_finished(tiny, "dqn"), tmp_path / "dqn"))
    ckpt = max(run.glob("checkpoints/model_*_steps.zip"), key=lambda p: int(p.name.split("_")[1]))
    m = read_manifest(ckpt)
    assert m.replay_buffer_file and len(m.replay_buffer_sha256) == 64
    manifest_path(run / "model.zip").unlink()  # as if killed before the final manifest
    rb = ckpt.parent / m.replay_buffer_file
    rb.write_bytes(rb.read_bytes() + b"!")
    proc = _train(["--resume", str(run)])
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert str(rb) in line and "sha256 does not match" in line


# -- item 7: the run config is hashed --------------------------------------------------------------


def _shrink_training_window(run: Path) -> tuple[str, str]:
    """Edit config.yml so that minutes 5-6, inside the real training window, look held out."""
    from catalog.window import to_ns

    path = run / "config.yml"
    cfg = yaml.safe_load(path.read_text())
    start = to_ns(START)
    assert cfg["env"]["window_start"] <= to_ns("2024-01-01T00:06:00Z") < cfg["env"]["window_end"]
    cfg["env"]["window_end"] = start + 60 * 10**9 - 1
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return "2024-01-01T00:05:00Z", "2024-01-01T00:06:00Z"


def test_manifests_hash_the_run_config(run: Path) -> None:
    from strategies.model_store import file_sha256

    digest = file_sha256(run / "config.yml")
    for model in (run / "model.zip", run / "best" / "best_model.zip", *run.glob("checkpoints/*.zip")):
        m = verify(model)
        assert (model.parent / m.config_file).resolve() == (run / "config.yml").resolve()
        assert m.config_sha256 == digest and m.version == 2


def test_amm_evaluate_refuses_an_edited_config(run: Path, capsys, monkeypatch) -> None:
    import backtests.runner

    from rl.evaluate import load_trained_policy
    from rl.train import resume_config

    ran = []
    monkeypatch.setattr(backtests.runner, "run_backtest", lambda *a, **k: ran.append(a))
    assert load_trained_policy(run).config.env.window_end > 0  # intact: loads
    start, end = _shrink_training_window(run)
    code, out, err = amm(capsys, "evaluate", "--model", str(run), "--start", start, "--end", end, "--json")
    assert code == 1 and ran == [] and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {run / 'config.yml'}: sha256 does not match the manifest of model.zip")
    for load in (load_trained_policy, resume_config):
        with pytest.raises(ModelIntegrityError, match="config.yml: sha256 does not match"):
            load(run)
    with pytest.raises(ModelIntegrityError, match="config.yml: sha256 does not match"):
        verify(run / "model.zip")  # the live loader's check (strategies.model_store) refuses it too


def test_a_manifest_without_the_config_hash_is_refused(run: Path) -> None:
    """Version 1 manifests did not hash config.yml: their windows cannot be trusted, so no evaluation."""
    from rl.evaluate import load_trained_policy

    mp = manifest_path(run / "model.zip")
    data = json.loads(mp.read_text())
    data.update(config_file=None, config_sha256=None, version=1)
    mp.write_text(json.dumps(data))
    verify(run / "model.zip")  # the model itself still verifies (live deployment reads no config.yml)
    with pytest.raises(ModelIntegrityError, match="records no sha256 of the run's config.yml.*retrain"):
        load_trained_policy(run)


def test_best_model_is_evaluated_with_its_run_config(run: Path) -> None:
    from rl.evaluate import load_trained_policy

    trained = load_trained_policy(run / "best" / "best_model.zip")
    assert trained.run_dir == run.resolve()
    assert trained.config == load_trained_policy(run).config


def test_a_run_that_cannot_start_leaves_no_run_directory(tmp_path, capsys):
    """A missing catalog used to leave runs/<run>/config.yml: a run that reads as interrupted."""
    from tests.helpers import amm

    out = tmp_path / "runs"
    code, _, err = amm(capsys, "train", "--config", "rl/configs/usdm_btcusdt_ppo.yml",
                       "--catalog", str(tmp_path / "missing"), "--out", str(out))
    assert code == 1 and "not a data catalog" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
