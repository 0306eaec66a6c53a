"""Train an agent on the market-making environment with Stable-Baselines3 machinery.

One frozen :class:`RunConfig` holds everything a run depends on (data windows, venue model, env,
reward, algorithm and its versioned hyperparameters, seed, budget); it is dumped as
``config.yml`` into the run directory ``{env}__{exp}__{seed}__{time}`` (the rl-baselines3-zoo /
CleanRL naming), next to the model, its manifest, the ``VecNormalize`` statistics, checkpoints,
evaluation results and TensorBoard logs::

    runs/MarketMaking-v0__synth__0__20240101T000000Z/
        config.yml            resolved run config (the one object)
        model.zip             final model            + model.manifest.json
        vecnormalize.pkl      observation/reward statistics (load with training=False)
        best/best_model.zip   best on the validation window (EvalCallback) + manifest
        checkpoints/          model_<N>_steps.zip (+ vecnormalize, replay buffer, manifests)
        eval/evaluations.npz  validation rewards at every evaluation (the whole history)
        tb/                   TensorBoard
        monitor/              per-episode Monitor CSVs (one more set per resume)

Nothing here is a hand-written loop: ``model.learn(progress_bar=True)`` with ``EvalCallback`` on a
validation window disjoint from the training window, ``CheckpointCallback``, ``VecNormalize`` and
``SubprocVecEnv`` for ``n_envs > 1``. ``resume`` restarts an interrupted run from its last
checkpoint (verified against its manifest), with its own config, to the same total budget; it
refuses a finished run (its final model and manifest are never rewritten) and keeps the run's
history: the Monitor CSVs of earlier segments stay and ``evaluations.npz`` grows (see
:func:`restore_eval_history`).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import gymnasium as gym
import msgspec
import numpy as np
import yaml
from nautilus_trader.config import PositiveInt

from catalog.config_io import ConfigError, FieldError, decode, read_mapping, validate_constraints
from catalog.window import TimeWindow
from rl.agents import ACTION_MODES, ALGORITHMS, OFF_POLICY, SUPPORTED_ACTION_MODES, algorithm_class
from rl.config import EnvConfig
from strategies.model_store import (
    ModelIntegrityError,
    manifest_path,
    named_path,
    read_manifest,
    vecnormalize_path,
    verified_config_path,
    verify,
)

HYPERPARAMS_DIR = Path(__file__).with_name("hyperparams")
ENV_NAME = "MarketMaking-v0"


# -- the run config ---------------------------------------------------------------------------------


AlgorithmName = Literal["ppo", "a2c", "sac", "dqn", "qlearning", "recurrent_ppo"]
RunName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$")]


class RunConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything one training run depends on.

    Parameters
    ----------
    exp : str
        Experiment name (part of the run directory name): letters, digits, ``_``, ``.``, ``-``.
    algorithm : {"ppo", "a2c", "sac", "dqn", "qlearning", "recurrent_ppo"}
    seed : int
        Seeds the algorithm (torch, numpy, random) and the environments (env ``i`` gets
        ``seed + i``; validation episodes ``seed + 10_000``).
    total_timesteps : int
        Training budget in environment steps (all envs together).
    env : rl.config.EnvConfig
        The environment of the *training* window (``window_start``/``window_end``): agent
        (decision clock, order size, limits, action, features), reward and venue
        (``backtests.venue.VenueModelConfig``).
    validation : catalog.window.TimeWindow
        Window for ``EvalCallback`` model selection and the manifest metrics; must not overlap
        the training window.
    test : catalog.window.TimeWindow, optional
        Held-out window, recorded in the manifest for ``amm evaluate``; never read by training.
    hyperparams : dict
        The algorithm's resolved hyperparameter file (``rl/hyperparams/<algo>.yml`` unless
        ``hyperparams_file`` names another) with ``hyperparams_overrides`` applied: keyword
        arguments of the SB3 algorithm, open by nature.
    n_envs : int
        Parallel training environments (``SubprocVecEnv`` when > 1).
    eval_freq_steps, eval_episodes : int
        Evaluate every this many steps (all envs together) on this many validation episodes.
    checkpoint_freq_steps : int
        Checkpoint every this many steps (all envs together).
    align_starts_ms : int, optional
        Draw training episode starts on this grid (e.g. the synthetic market's step), so
        decisions coincide with mid updates. None lets the env draw starts (1 ms grid).
    train_instruments : list of str
        Train on several instruments of the venue at once, one per env in turn (env ``i``
        trades ``train_instruments[i % k]``, the rest of ``env`` unchanged); empty (the default):
        ``env.agent.instrument_id`` alone. It must hold ``env.agent.instrument_id`` (the model's
        own instrument, as its manifest records it), and ``n_envs`` must be a multiple of ``k``
        so every rollout holds each instrument equally. Validation then runs ``eval_episodes``
        on each instrument, and ``EvalCallback`` keeps the checkpoint best on their mean. This
        only makes sense because the observation is in ticks and lots
        (:mod:`strategies.observation`): one policy reads every instrument on the same scale.
        SB3 needs nothing more than a ``VecEnv`` whose envs differ in configuration.
    """

    exp: RunName
    algorithm: AlgorithmName
    seed: int = 0
    total_timesteps: PositiveInt
    env: EnvConfig
    validation: TimeWindow
    test: TimeWindow | None = None
    hyperparams: dict[str, Any] = {}
    n_envs: PositiveInt = 1
    eval_freq_steps: PositiveInt = 10_000
    eval_episodes: PositiveInt = 5
    checkpoint_freq_steps: PositiveInt = 10_000
    align_starts_ms: PositiveInt | None = None
    train_instruments: list[str] = []

    def __post_init__(self) -> None:
        validate_constraints(self)
        kind = self.action_kind
        if kind not in SUPPORTED_ACTION_MODES[self.algorithm]:
            raise FieldError("RunConfig", "env.agent.action.kind",
                             f"{self.algorithm} cannot train with {kind!r} actions")
        self._check_windows()
        self._check_instruments()

    @property
    def instruments(self) -> list[str]:
        """The instruments training trades: ``train_instruments``, or the agent's own alone."""
        return list(self.train_instruments) or [self.env.agent.instrument_id]

    def _check_instruments(self) -> None:
        ids = self.train_instruments
        if not ids:
            return
        own = self.env.agent.instrument_id
        if len(set(ids)) != len(ids):
            raise FieldError("RunConfig", "train_instruments", f"lists an instrument twice: {ids}")
        if own not in ids:
            raise FieldError("RunConfig", "train_instruments",
                             f"must hold env.agent.instrument_id {own!r} (the model's own instrument), got {ids}")
        venue = self.env.venue.venue
        for iid in ids:
            if iid.rsplit(".", 1)[-1] != venue:
                raise FieldError("RunConfig", "train_instruments",
                                 f"{iid!r} is not an instrument of the venue {venue!r} (env.venue.venue)")
        if self.n_envs % len(ids):
            raise FieldError("RunConfig", "n_envs", f"must be a multiple of the {len(ids)} train_instruments "
                             f"(one env per instrument in turn), got {self.n_envs}")

    @property
    def action_kind(self) -> str:
        return self.env.agent.action.kind

    def env_config(
        self, window: TimeWindow | None = None, *, instrument_id: str | None = None, **changes: Any,
    ) -> EnvConfig:
        """The ``EnvConfig`` of the training window, or of ``window`` (validation/test); of
        ``instrument_id`` instead of the agent's own (one of :attr:`instruments`)."""
        if window is not None:
            changes["window_start"], changes["window_end"] = window.start, window.end
        if instrument_id is not None and instrument_id != self.env.agent.instrument_id:
            changes["agent"] = {"instrument_id": instrument_id}
        return self.env.replace(**changes) if changes else self.env

    def windows(self) -> dict[str, TimeWindow | None]:
        try:
            train = TimeWindow(start=self.env.window_start, end=self.env.window_end)
        except FieldError as e:
            raise FieldError("RunConfig", f"env.window_{e.field}", e.message) from None
        return {"train": train, "validation": self.validation, "test": self.test}

    def _check_windows(self) -> None:
        """Training, validation and test windows must be pairwise disjoint and bounded."""
        windows = {name: w for name, w in self.windows().items() if w is not None}
        for name, w in windows.items():
            if not w.bounded:
                field_name = "env.window_start" if name == "train" else name
                raise FieldError("RunConfig", field_name, f"the {name} window needs both a start and an end")
        names = list(windows)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if windows[a].overlaps(windows[b]):
                    raise FieldError("RunConfig", b, f"the {a} and {b} windows overlap "
                                                     f"({windows[a].ns()} vs {windows[b].ns()})")

    def replace(self, **changes: Any) -> RunConfig:
        return msgspec.structs.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML-safe): what a run directory's ``config.yml`` holds."""
        return msgspec.json.decode(msgspec.json.encode(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "config") -> RunConfig:
        """Decode plain data; an unknown, mistyped or out-of-range field names ``where`` and its path."""
        from nautilus_trader.common.config import msgspec_decoding_hook

        return decode(dict(data), cls, source=where, dec_hook=msgspec_decoding_hook)


def load_hyperparams(algorithm: str, path: str | Path | None = None) -> dict[str, Any]:
    """Read ``rl/hyperparams/<algorithm>.yml`` (or ``path``)."""
    file = Path(path) if path else HYPERPARAMS_DIR / f"{algorithm}.yml"
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{file}: cannot read hyperparameters: {e}") from e
    if not isinstance(data, dict) or data.get("algorithm") != algorithm:
        raise ValueError(f"{file}: not a hyperparameter file for {algorithm!r} (field 'algorithm')")
    data["file"] = str(file.name)
    return data


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def _read_with_base(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    raw = dict(read_mapping(path))
    base = raw.pop("base", None)
    if base is None:
        return raw
    base_path = Path(base) if Path(base).is_absolute() else path.parent / base
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise ValueError(f"{path}: field 'base' makes a cycle through {base_path}")
    if not base_path.exists():
        raise ValueError(f"{path}: field 'base': {base_path} not found")
    merged = _deep_merge(_read_with_base(base_path, (*seen, path.resolve())), raw)
    if "hyperparams_overrides" in raw:  # replaced, not merged: they belong to one algorithm
        merged["hyperparams_overrides"] = raw["hyperparams_overrides"]
    return {k: v for k, v in merged.items() if v is not None}


def load_run_config(
    path: str | Path,
    *,
    catalog: str | Path | None = None,
    n_envs: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Read a run config YAML file, resolve its hyperparameter file, apply CLI overrides.

    A file may start from another with ``base: other.yml`` (relative to the file): its keys are
    merged over the base's, table by table, except ``hyperparams_overrides``, which replaces the
    base's (they belong to one algorithm); a top-level key set to ``null`` drops the base's value.
    One recipe, its algorithm variants and its other instruments stay one file each without
    copies of the shared settings.
    """
    path = Path(path)
    raw = _deep_merge(_read_with_base(path), overrides or {})
    algorithm = str(raw.get("algorithm", "")).lower()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{path}: field 'algorithm' must be one of {ALGORITHMS}, got {raw.get('algorithm')!r}")
    hp_file = raw.pop("hyperparams_file", None)
    if hp_file is not None and not Path(hp_file).is_absolute():
        hp_file = path.parent / hp_file
    hp = load_hyperparams(algorithm, hp_file)
    hp = _deep_merge(hp, raw.pop("hyperparams_overrides", None) or {})
    raw["hyperparams"] = hp
    raw["algorithm"] = algorithm
    raw.setdefault("exp", path.stem)
    env = dict(raw.get("env") or {})
    if catalog is not None:
        env["catalog_path"] = str(catalog)
    if "catalog_path" not in env:
        raise ValueError(f"{path}: env.catalog_path is missing (or pass --catalog)")
    env["catalog_path"] = str(env["catalog_path"])
    agent = dict(env.get("agent") or {})
    action = dict(agent.get("action") or {})
    action.setdefault("kind", hp.get("action_kind", ACTION_MODES[algorithm]))
    agent["action"] = action
    env["agent"] = agent
    raw["env"] = env
    if n_envs is not None:
        raw["n_envs"] = n_envs
    cfg = RunConfig.from_dict(raw, where=str(path))
    check_hyperparams(cfg, source=str(path))
    return cfg


_SET_BY_TRAIN = ("seed", "tensorboard_log", "device", "verbose")
"""Constructor arguments :func:`_new_model` passes itself."""


def check_hyperparams(cfg: RunConfig, *, source: str) -> None:
    """Refuse a ``hyperparams.kwargs`` key the algorithm's constructor does not take, naming it.

    SB3 would raise ``TypeError: ... unexpected keyword argument`` only when the model is built,
    after the environments and the run directory exist.
    """
    import inspect

    kwargs = cfg.hyperparams.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(source, "hyperparams.kwargs", f"must be a table, got {type(kwargs).__name__}")
    params = inspect.signature(algorithm_class(cfg.algorithm).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    taken = sorted(n for n, p in params.items() if n not in ("self", "policy", "env", *_SET_BY_TRAIN)
                   and not n.startswith("_") and p.kind is not inspect.Parameter.VAR_POSITIONAL)
    for name in kwargs:
        if name in _SET_BY_TRAIN:
            raise ConfigError(source, f"hyperparams.kwargs.{name}", "is set by amm train (seed: the run's `seed`)")
        if name not in taken:
            raise ConfigError(source, f"hyperparams.kwargs.{name}",
                              f"not a parameter of {cfg.algorithm.upper()}; expected one of: {', '.join(taken)}")


def run_name(cfg: RunConfig, now: float | None = None) -> str:
    """``{env}__{exp}__{seed}__{time}`` (UTC, second resolution)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{ENV_NAME}__{cfg.exp}__{cfg.seed}__{stamp}"


# -- environments -------------------------------------------------------------------------------------


class EpisodeStarts(gym.Wrapper):
    """Choose where episodes start in the window.

    ``mode="random"`` draws the first decision uniformly on a grid of ``grid_ms`` (from the env's
    own seeded ``np_random``); ``mode="fixed"`` cycles through ``n_fixed`` evenly spaced starts —
    the validation episodes, identical at every evaluation (``rewind()`` restarts the cycle), so
    model selection compares policies on the same episodes.
    """

    def __init__(self, env: gym.Env, *, mode: str, grid_ms: int | None = None, n_fixed: int = 1) -> None:
        super().__init__(env)
        if mode not in ("random", "fixed"):
            raise ValueError(f"EpisodeStarts mode must be 'random' or 'fixed', got {mode!r}")
        base = env.unwrapped
        start, end = base.window_ns
        agent = base.config.agent
        earliest = start + agent.warmup_ns
        latest = max(earliest, end - base._episode_span_ns())
        grid_ns = (grid_ms or 1) * 1_000_000
        first = -(-earliest // grid_ns) * grid_ns  # first grid point >= earliest
        self._grid = (first, max(first, latest), grid_ns)
        self.mode = mode
        n_points = (self._grid[1] - first) // grid_ns + 1
        idx = np.linspace(0, n_points - 1, num=max(1, n_fixed)).round().astype(np.int64)
        self.fixed_starts = [int(first + i * grid_ns) for i in idx]
        self._cursor = 0

    def rewind(self) -> None:
        self._cursor = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        if "first_decision_ns" not in options:
            if self.mode == "fixed":
                options["first_decision_ns"] = self.fixed_starts[self._cursor % len(self.fixed_starts)]
                self._cursor += 1
            else:
                if seed is not None:
                    from gymnasium.utils import seeding

                    self.env.unwrapped._np_random, _ = seeding.np_random(seed)
                first, last, grid = self._grid
                k = int(self.env.unwrapped.np_random.integers(0, (last - first) // grid + 1))
                options["first_decision_ns"] = first + k * grid
                return self.env.reset(options=options)
        return self.env.reset(seed=seed, options=options)


def make_env_fn(
    env_config: Any,
    *,
    rank: int,
    seed: int,
    mode: str,
    grid_ms: int | None,
    n_fixed: int = 1,
    monitor_dir: str | None = None,
    monitor_segment: int = 0,
) -> Callable[[], gym.Env]:
    """A picklable thunk (for ``SubprocVecEnv``) building one wrapped env.

    Wrappers, inside out: the Nautilus env -> :class:`EpisodeStarts` -> ``Monitor`` (episode
    reward/length for logging and ``evaluate_policy``). Segment ``k > 0`` of a resumed run writes
    ``<mode>-<rank>.resume<k>.monitor.csv`` beside the earlier segments' files (see
    :func:`monitor_filename`).
    """

    def _init() -> gym.Env:
        from stable_baselines3.common.monitor import Monitor

        import rl  # noqa: F401 - registers the env id

        env = gym.make("amm/MarketMaking-v0", config=env_config)
        env = EpisodeStarts(env, mode=mode, grid_ms=grid_ms, n_fixed=n_fixed)
        filename = None
        if monitor_dir is not None:
            Path(monitor_dir).mkdir(parents=True, exist_ok=True)
            filename = str(Path(monitor_dir) / monitor_filename(mode, rank, monitor_segment))
        env = Monitor(env, filename=filename)
        env.action_space.seed(seed + rank)
        return env

    return _init


def monitor_filename(mode: str, rank: int, segment: int) -> str:
    """Monitor file stem of env ``rank`` in training segment ``segment`` (0: the first run).

    A resumed run writes new files instead of appending to the old ones with SB3's
    ``Monitor(override_existing=False)``: appended rows carry ``t`` relative to the *new*
    Monitor's start while the file's header keeps the *old* ``t_start``, so
    ``stable_baselines3.common.monitor.load_results`` (which adds the header's ``t_start``) would
    date them wrongly; one file per segment has its own header, and ``load_results`` (``*monitor.csv``)
    reads all of them in time order.
    """
    return f"{mode}-{rank}" if segment == 0 else f"{mode}-{rank}.resume{segment}"


def next_monitor_segment(run_dir: Path) -> int:
    """1 + the newest resume segment that wrote Monitor files in ``run_dir/monitor`` (0 if none)."""
    segments = [0]
    for p in (run_dir / "monitor").glob("*.monitor.csv"):
        m = re.search(r"\.resume(\d+)\.monitor\.csv$", p.name)
        segments.append(int(m.group(1)) if m else 0)
    return max(segments) + 1 if (run_dir / "monitor").exists() else 0


def build_vec_env(
    cfg: RunConfig,
    *,
    kind: str,
    run_dir: Path | None,
    n_envs: int | None = None,
    monitor_segment: int = 0,
) -> Any:
    """Training (``kind="train"``) or validation (``kind="validation"``) vectorised env.

    Training env ``i`` trades ``cfg.instruments[i % k]``; validation has one env per instrument,
    each cycling through the same ``eval_episodes`` fixed starts.
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    instruments = cfg.instruments
    if kind == "train":
        env_cfgs = [cfg.env_config(instrument_id=iid) for iid in instruments]
        mode, seed, n = "random", cfg.seed, n_envs or cfg.n_envs
    else:
        window = cfg.validation if kind == "validation" else cfg.test
        if window is None:
            raise ValueError(f"RunConfig has no {kind} window")
        env_cfgs = [cfg.env_config(window, instrument_id=iid, random_start=False, seed_policy="venue")
                    for iid in instruments]
        mode, seed, n = "fixed", cfg.seed + 10_000, len(instruments)
    monitor = str(run_dir / "monitor") if run_dir is not None else None
    fns = [
        make_env_fn(env_cfgs[i % len(env_cfgs)], rank=i, seed=seed, mode=mode, grid_ms=cfg.align_starts_ms,
                    n_fixed=cfg.eval_episodes, monitor_dir=monitor, monitor_segment=monitor_segment)
        for i in range(n)
    ]
    venv = SubprocVecEnv(fns, start_method="forkserver") if n > 1 else DummyVecEnv(fns)
    venv.seed(seed)  # env i is reset with seed + i on the first reset
    return venv


# -- callbacks ----------------------------------------------------------------------------------------


def _make_callbacks(
    cfg: RunConfig,
    run_dir: Path,
    eval_env: Any,
    *,
    history: EvalHistory | None = None,
    resumed_from: int = 0,
) -> list[Any]:
    """``EvalCallback`` and ``CheckpointCallback`` writing manifests; on resume, carrying on.

    ``resumed_from`` (the checkpoint's step count) sets both callbacks' ``n_calls`` so evaluations
    and checkpoints stay on the run's original step grid (SB3 counts ``n_calls`` from 0 in every
    ``learn`` call); ``history`` is the earlier evaluations, which the ``EvalCallback`` keeps in
    ``evaluations.npz`` ahead of its own, and whose best mean reward the next best model must beat.
    """
    from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback

    windows = _windows_dict(cfg)

    class RewindingEvalCallback(EvalCallback):
        """EvalCallback that replays the same validation episodes every time and writes a
        manifest for each new best model."""

        def _on_step(self) -> bool:
            if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
                self.eval_env.env_method("rewind")
            before = self.best_mean_reward
            ok = super()._on_step()
            if self.best_mean_reward != before and self.best_model_save_path is not None:
                write_run_manifest(cfg, Path(self.best_model_save_path) / "best_model.zip", windows,
                                   metrics={"validation_mean_reward": float(self.best_mean_reward)},
                                   num_timesteps=self.num_timesteps, vecnormalize=None, run_dir=run_dir)
            return ok

    class ManifestCheckpointCallback(CheckpointCallback):
        """CheckpointCallback that writes a manifest (sha256) for every checkpoint it saves, so
        ``--resume`` only unpickles files this run wrote."""

        def _on_step(self) -> bool:
            ok = super()._on_step()
            if self.n_calls % self.save_freq == 0:
                path = Path(self._checkpoint_path(extension="zip"))
                vn = Path(self._checkpoint_path("vecnormalize_", extension="pkl"))
                rb = Path(self._checkpoint_path("replay_buffer_", extension="pkl"))
                write_run_manifest(cfg, path, windows, metrics={}, num_timesteps=self.num_timesteps,
                                   vecnormalize=vn if vn.exists() else None, run_dir=run_dir,
                                   replay_buffer=rb if self.save_replay_buffer and rb.exists() else None)
            return ok

    per_env = max(1, cfg.n_envs)
    evaluator = RewindingEvalCallback(
        eval_env,
        n_eval_episodes=cfg.eval_episodes * len(cfg.instruments),  # SB3 splits them evenly over the envs
        eval_freq=max(1, cfg.eval_freq_steps // per_env),
        log_path=str(run_dir / "eval"),
        best_model_save_path=str(run_dir / "best"),
        deterministic=True,
        verbose=0,
    )
    if history is not None:
        evaluator.evaluations_timesteps = list(history.timesteps)
        evaluator.evaluations_results = [list(r) for r in history.results]
        evaluator.evaluations_length = [list(r) for r in history.ep_lengths]
        evaluator.evaluations_successes = [list(r) for r in history.successes]
        if history.best_mean_reward is not None:
            evaluator.best_mean_reward = history.best_mean_reward
    checkpoints = ManifestCheckpointCallback(
        save_freq=max(1, cfg.checkpoint_freq_steps // per_env),
        save_path=str(run_dir / "checkpoints"),
        name_prefix="model",
        save_replay_buffer=cfg.algorithm in OFF_POLICY,
        save_vecnormalize=True,
    )
    evaluator.n_calls = checkpoints.n_calls = resumed_from // per_env
    return [evaluator, checkpoints]


@dataclass(frozen=True)
class EvalHistory:
    """The evaluations a resumed run carries on from (the arrays of ``evaluations.npz``)."""

    timesteps: list[int]
    results: list[list[float]]
    ep_lengths: list[list[int]]
    successes: list[list[bool]]
    best_mean_reward: float | None
    """Best mean validation reward of any earlier evaluation, the discarded ones included: the
    model in ``best/`` may come from one of them, and only a better model may replace it."""


def restore_eval_history(run_dir: Path, resumed_from: int) -> EvalHistory | None:
    """The earlier evaluations of ``run_dir``, for a run resumed from step ``resumed_from``.

    SB3's ``EvalCallback`` keeps its history in memory and rewrites ``evaluations.npz`` from it
    at every evaluation, so a resumed run would overwrite the file with its own evaluations only.
    Handing the callback the earlier arrays (its ``evaluations_*`` lists) keeps one file, in the
    format SB3 and rl-zoo's plotting read, with the whole history; merging per-segment files
    afterwards would leave ``evaluations.npz`` wrong until the merge ran.

    Evaluations made after the checkpoint (the training between the last checkpoint and the kill,
    which resuming discards) would repeat timesteps the resumed run evaluates again; they move to
    ``eval/evaluations.discarded<k>.npz`` so ``evaluations.npz`` keeps strictly increasing
    timesteps and nothing is deleted. An unreadable ``evaluations.npz`` (killed while NumPy wrote
    it) is refused rather than replaced.
    """
    eval_dir = run_dir / "eval"
    path = eval_dir / "evaluations.npz"
    if not path.exists():
        return None
    arrays = _read_npz(path)
    steps = arrays["timesteps"]
    keep = steps <= resumed_from
    best = [_best_mean(arrays)]
    for old in eval_dir.glob("evaluations.discarded*.npz"):
        best.append(_best_mean(_read_npz(old)))
    if not keep.all():
        k = 1 + max((int(m.group(1)) for p in eval_dir.glob("evaluations.discarded*.npz")
                     if (m := re.fullmatch(r"evaluations\.discarded(\d+)\.npz", p.name))), default=0)
        _write_npz(eval_dir / f"evaluations.discarded{k}.npz", {n: a[~keep] for n, a in arrays.items()})
        arrays = {n: a[keep] for n, a in arrays.items()}
        _write_npz(path, arrays)
    known = [b for b in best if b is not None]
    return EvalHistory(
        timesteps=[int(t) for t in arrays["timesteps"]],
        results=arrays["results"].tolist(),
        ep_lengths=arrays["ep_lengths"].tolist(),
        successes=arrays["successes"].tolist() if "successes" in arrays else [],
        best_mean_reward=max(known) if known else None,
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: unreadable evaluation history ({e}); move it away to resume without it") from e
    if "timesteps" not in arrays or "results" not in arrays or "ep_lengths" not in arrays:
        raise ValueError(f"{path}: not an EvalCallback history (fields timesteps, results, ep_lengths)")
    return arrays


def _best_mean(arrays: Mapping[str, np.ndarray]) -> float | None:
    results = arrays["results"]
    return float(results.mean(axis=1).max()) if results.size else None


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file, then rename: a kill leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def _windows_dict(cfg: RunConfig) -> dict[str, Any]:
    out = {}
    for name, w in cfg.windows().items():
        if w is not None:
            s, e = w.ns()
            out[name] = {"start": w.start, "end": w.end, "start_ns": s, "end_ns": e}
    return out


def write_run_manifest(
    cfg: RunConfig,
    model_path: Path,
    windows: dict[str, Any],
    *,
    metrics: dict[str, Any],
    num_timesteps: int | None,
    vecnormalize: Path | None,
    run_dir: Path,
    replay_buffer: Path | None = None,
) -> None:
    """The manifest of one model of the run, hashing the run's ``config.yml`` with it."""
    from rl.manifest import write_manifest

    write_manifest(model_path, algorithm=cfg.algorithm, seed=cfg.seed, config=cfg.to_dict(),
                   windows=windows, metrics=metrics, vecnormalize_path=vecnormalize,
                   num_timesteps=num_timesteps, config_path=run_dir / "config.yml",
                   replay_buffer_path=replay_buffer)


# -- training -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_path: Path
    num_timesteps: int
    metrics: dict[str, Any]
    seconds: float


def _new_model(cfg: RunConfig, venv: Any, run_dir: Path) -> Any:
    hp = cfg.hyperparams
    kwargs = copy.deepcopy(hp.get("kwargs") or {})
    cls = algorithm_class(cfg.algorithm)
    return cls(
        hp.get("policy", "MlpPolicy"),
        venv,
        seed=cfg.seed,
        tensorboard_log=str(run_dir / "tb"),
        device="cpu",
        verbose=0,
        **kwargs,
    )


def _wrap_normalize(cfg: RunConfig, venv: Any, *, training: bool) -> Any:
    from stable_baselines3.common.vec_env import VecNormalize

    norm = cfg.hyperparams.get("normalize")
    if not norm:
        return venv
    wrapped = VecNormalize(venv, training=training, **norm)
    if not training:
        wrapped.norm_reward = False
    return wrapped


def latest_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The newest ``checkpoints/model_<N>_steps.zip`` of a run that has its manifest, and its N.

    The manifest is written last (after the model, replay buffer and ``VecNormalize`` files), so a
    checkpoint without one was interrupted while it was being saved and is skipped.
    """
    best = None
    for p in (run_dir / "checkpoints").glob("model_*_steps.zip"):
        m = re.fullmatch(r"model_(\d+)_steps\.zip", p.name)
        if not m or not manifest_path(p).exists():
            continue
        if best is None or int(m.group(1)) > best[1]:
            best = (p, int(m.group(1)))
    return best


def train(
    cfg: RunConfig,
    *,
    out_dir: str | Path = "runs",
    resume: str | Path | None = None,
    progress_bar: bool = True,
) -> TrainResult:
    """Train (or resume) a run; return where everything went and the validation metrics.

    ``resume`` names an interrupted run directory; ``cfg`` must be its own config
    (:func:`resume_config`). A finished run is refused before anything is written.
    """
    import torch as th
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    started = time.perf_counter()
    th.set_num_threads(1)  # small MLPs: threads only fight the env processes for the cores
    segment = 0
    if resume is not None:
        run_dir = Path(resume)
        check_resumable(run_dir)
        if cfg != resume_config(run_dir):
            raise ValueError(f"{run_dir / 'config.yml'}: the run was started with another config; "
                             "resume it with its own (rl.train.resume_config)")
        segment = next_monitor_segment(run_dir)
    else:
        run_dir = Path(out_dir) / run_name(cfg)
        if run_dir.exists():
            raise FileExistsError(f"{run_dir}: run directory already exists")
        run_dir.mkdir(parents=True)
        (run_dir / "config.yml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    windows = _windows_dict(cfg)

    raw_train = None
    try:
        raw_train = build_vec_env(cfg, kind="train", run_dir=run_dir, monitor_segment=segment)
        eval_env = _wrap_normalize(cfg, build_vec_env(cfg, kind="validation", run_dir=None), training=False)
    except BaseException:
        # Nothing trained yet (no catalog, no window, a bad env setting): a new run leaves no
        # directory behind that would read as an interrupted run.
        if raw_train is not None:
            raw_train.close()
        if resume is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    history, resumed_from = None, 0
    try:
        ckpt = latest_checkpoint(run_dir) if resume is not None else None
        if ckpt is not None:
            path, steps = ckpt
            manifest = verify(path)  # refuses a checkpoint whose files differ from what this run wrote
            vn = path.with_name(f"model_vecnormalize_{steps}_steps.pkl")
            if vn.exists() and not manifest.vecnormalize_file:
                raise ModelIntegrityError(f"{vn}: not hashed in the manifest of {path.name}; refusing to unpickle it")
            vn = vecnormalize_path(path, manifest) if manifest.vecnormalize_file else None
            venv = VecNormalize.load(str(vn), raw_train) if vn is not None else raw_train
            if isinstance(venv, VecNormalize):
                venv.training = True
            model = algorithm_class(cfg.algorithm).load(str(path), env=venv, device="cpu",
                                                        tensorboard_log=str(run_dir / "tb"))
            if cfg.algorithm in OFF_POLICY:
                rb = path.with_name(f"model_replay_buffer_{steps}_steps.pkl")
                if rb.exists() and not manifest.replay_buffer_file:
                    raise ModelIntegrityError(f"{rb}: not hashed in the manifest of {path.name}; "
                                              "refusing to unpickle it")
                if manifest.replay_buffer_file:
                    model.load_replay_buffer(str(named_path(path, manifest.replay_buffer_file)))
            resumed_from = int(model.num_timesteps)
            remaining = max(0, cfg.total_timesteps - model.num_timesteps)
            reset = False
        else:
            if resume is not None and not (run_dir / "config.yml").exists():
                raise FileNotFoundError(f"{run_dir}: not a run directory (no config.yml)")
            venv = _wrap_normalize(cfg, raw_train, training=True)
            model = _new_model(cfg, venv, run_dir)
            remaining, reset = cfg.total_timesteps, True
        if resume is not None:
            history = restore_eval_history(run_dir, resumed_from)
        callbacks = _make_callbacks(cfg, run_dir, eval_env, history=history, resumed_from=resumed_from)
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks,
                progress_bar=progress_bar,
                tb_log_name=cfg.algorithm,
                reset_num_timesteps=reset,
            )
        model_path = run_dir / "model.zip"
        model.save(model_path)
        vn_path = None
        if isinstance(model.get_env(), VecNormalize):
            vn_path = run_dir / "vecnormalize.pkl"
            model.get_env().save(str(vn_path))
            eval_env.obs_rms = model.get_env().obs_rms
        eval_env.env_method("rewind")
        rewards, lengths = evaluate_policy(model, eval_env, n_eval_episodes=cfg.eval_episodes * len(cfg.instruments),
                                           deterministic=True, return_episode_rewards=True)
        metrics = {
            "validation_mean_reward": float(np.mean(rewards)),
            "validation_std_reward": float(np.std(rewards)),
            "validation_episode_rewards": [float(r) for r in rewards],
            "validation_mean_length": float(np.mean(lengths)),
            "validation_episodes": len(rewards),
        }
        # metrics.json first: the manifest is what marks the run finished (check_resumable)
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        write_run_manifest(cfg, model_path, windows, metrics=metrics,
                           num_timesteps=int(model.num_timesteps), vecnormalize=vn_path, run_dir=run_dir)
        return TrainResult(run_dir, model_path, int(model.num_timesteps), metrics,
                           time.perf_counter() - started)
    finally:
        try:
            raw_train.close()
        finally:
            eval_env.close()


def check_resumable(run_dir: Path) -> None:
    """Refuse to resume a run that finished: its final model and manifest would be overwritten.

    The final manifest (``model.manifest.json``) is the last file training writes, so its presence
    means the run reached its budget; a ``model.zip`` without it was interrupted while saving and is
    resumed (from the last checkpoint) like any other interrupted run.
    """
    final = manifest_path(run_dir / "model.zip")
    if final.exists():
        steps = read_manifest(run_dir / "model.zip").num_timesteps
        raise ValueError(
            f"{run_dir}: the run already finished ({steps} steps; model.zip and {final.name} are final) "
            "and --resume only continues an interrupted run; start a new run with amm train --config FILE",
        )


def resume_config(run_dir: str | Path) -> RunConfig:
    """The config a run was started with (its ``config.yml``), verified against the run's manifests.

    The newest manifest of the run (the final model's, else the newest checkpoint's) must hash this
    very ``config.yml``; a run with no model yet (killed before its first checkpoint) has nothing
    to check it against and nothing trained under it.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.yml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a run directory (no config.yml)")
    anchor = run_dir / "model.zip"
    if not manifest_path(anchor).exists():
        ckpt = latest_checkpoint(run_dir)
        anchor = ckpt[0] if ckpt is not None else None
    if anchor is not None:
        return verified_run_config(anchor)[1]
    return RunConfig.from_dict(read_mapping(path), where=str(path))


def verified_run_config(model_path: str | Path) -> tuple[Path, RunConfig]:
    """The run config a model was trained with: its path and the decoded config.

    The model, its ``VecNormalize`` statistics and the ``config.yml`` its manifest names are
    checked against their sha256 first (:func:`strategies.model_store.verified_config_path`), so
    the windows ``amm evaluate`` refuses and the agent it runs are the ones training used.
    """
    path = verified_config_path(model_path)
    return path, RunConfig.from_dict(read_mapping(path), where=str(path))
