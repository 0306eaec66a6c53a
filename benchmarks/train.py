"""Training throughput per algorithm with 1 and 2 envs, and the share of time in env vs learner.

Runs each algorithm for ``--steps`` environment steps on a synthetic AS-model catalog (generated
in a temporary directory), timing ``env.step`` inside the vectorised env (a wrapper around the
VecEnv) against the total ``learn`` wall time; the rest is the learner (gradient steps, rollout
bookkeeping, callbacks). Prints a table, then ONE JSON line.

    .venv/bin/python benchmarks/train.py --steps 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from stable_baselines3.common.vec_env import VecEnvWrapper


class TimedVecEnv(VecEnvWrapper):
    """Accumulate wall time spent in ``step_wait``/``reset`` (the env side, incl. IPC)."""

    def __init__(self, venv):  # noqa: ANN001
        super().__init__(venv)
        self.env_s = 0.0

    def reset(self):  # noqa: ANN201
        t = time.perf_counter()
        out = self.venv.reset()
        self.env_s += time.perf_counter() - t
        return out

    def step_wait(self):  # noqa: ANN201
        t = time.perf_counter()
        out = self.venv.step_wait()
        self.env_s += time.perf_counter() - t
        return out


TINY = {
    "ppo": {"n_steps": 256, "batch_size": 64},
    "a2c": {},
    "sac": {"learning_starts": 100},
    "dqn": {"learning_starts": 100},
    "qlearning": {},
    "recurrent_ppo": {"n_steps": 256, "batch_size": 64},
}


def main() -> None:
    import torch as th

    from rl.agents import ALGORITHMS, algorithm_class
    from rl.synth import ASModelConfig, synth_run_config, write_as_model
    from rl.train import RunConfig, build_vec_env, load_hyperparams

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--envs", default="1,2")
    args = parser.parse_args()
    th.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        model_cfg = ASModelConfig(duration_s=3600, seed=0)
        write_as_model(model_cfg, Path(tmp) / "cat")
        for algo in args.algorithms.split(","):
            for n_envs in (int(n) for n in args.envs.split(",")):
                rc = synth_run_config(model_cfg, Path(tmp) / "cat", algorithm=algo, horizon_steps=300)
                # The synthetic configs name their own hyperparameter version where one exists.
                hp = load_hyperparams(algo, rc.pop("hyperparams_file", None))
                hp["kwargs"] = {**hp.get("kwargs", {}), **TINY[algo]}
                cfg = RunConfig.from_dict({**rc, "hyperparams": hp, "n_envs": n_envs})
                venv = TimedVecEnv(build_vec_env(cfg, kind="train", run_dir=None))
                model = algorithm_class(algo)(hp["policy"], venv, seed=0, device="cpu", **hp["kwargs"])
                t = time.perf_counter()
                model.learn(args.steps)
                wall = time.perf_counter() - t
                venv.close()
                row = {"algorithm": algo, "n_envs": n_envs, "steps": int(model.num_timesteps),
                       "wall_s": round(wall, 3), "steps_per_s": round(model.num_timesteps / wall, 1),
                       "env_share": round(min(1.0, venv.env_s / wall), 3)}
                results.append(row)
                print(f"{algo:<10} envs={n_envs}  {row['steps_per_s']:>8.1f} steps/s  env {row['env_share']:.0%}  "
                      f"learner {1 - row['env_share']:.0%}", flush=True)
    print(json.dumps({"benchmark": "train", "steps": args.steps, "results": results}))


if __name__ == "__main__":
    main()
