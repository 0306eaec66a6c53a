"""``amm sweep``: search one baseline's parameters on a validation window, on Ray.

A sweep file (TOML or YAML) names a base ``amm backtest`` run file, the strategy of it to tune, the
objective (a ``metrics.json`` field on the validation window, with optional bounds on other
fields), the budget and the search space::

    [sweep]
    name = "fixed_spread_usdm"
    run = "backtests/configs/usdm_btcusdt_baselines.toml"  # venue, catalog, instrument
    strategy = "fixed_spread"         # the [[strategies]] entry to tune
    metric = "sharpe"                 # a metrics.json field (backtests.metrics.SUMMARY_FIELDS)
    mode = "max"
    trials = 8
    max_concurrent = 2                # trials at once (local Ray gets this many CPUs)
    seed = 0                          # Optuna's sampler
    search = "tpe"                    # or "grid": every combination of the choice parameters once
    window = { start = "2024-08-08T23:56:00Z", end = "2024-08-08T23:57:30Z" }  # validation
    test = { start = "2024-08-08T23:58:00Z", end = "2024-08-08T23:59:59Z" }    # optional: never seen
    [sweep.constraints]               # optional: a trial outside a bound scores worst
    max_drawdown = { max = 5.0 }
    [space.half_spread_ticks]
    type = "float"                    # float | int | choice
    low = 0.5
    high = 4.0
    log = false                       # optional
    [space.quote_interval_ms]
    type = "choice"
    values = [100, 250, 500]

Why Ray Tune with Optuna: Ray Tune schedules trials over the cores of one machine or a cluster
(``--address``) with the same code, keeps an experiment on disk that ``Tuner.restore`` resumes,
and records a failing trial's error without stopping the others; Optuna's TPE sampler (Bergstra
et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), seeded, is Tune's own
``OptunaSearch``. Nothing here schedules, retries or samples by itself.

Each trial is an ordinary run directory, ``<out>/<name>/trials/<trial id>/``: the base run file
with only the tuned strategy, its config updated with the trial's parameters and the window set
to the validation window (its ``config.resolved.toml`` re-runs alone with ``amm backtest``).
``<out>/<name>/`` also holds Tune's experiment (what ``--resume`` restores), ``trials.csv`` /
``trials.md`` (one row per trial), ``best.toml`` (the base run file with the best parameters, on
the validation window) and ``objective.png``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec
import pandas as pd
from nautilus_trader.config import PositiveInt
from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from backtests.config import RunSpec, check_strategy_config, load_run_config, strategy_config_class, to_toml
from backtests.metrics import SUMMARY_FIELDS, flatten_summary
from backtests.ray_session import ray_session
from backtests.runner import run_backtest
from catalog.config_io import ConfigError, FieldError, decode, read_mapping
from catalog.window import TimeWindow

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]
METRICS = tuple(name for name, _, _ in SUMMARY_FIELDS)
"""The ``metrics.json`` fields an objective or a constraint may name."""


# -- the file --------------------------------------------------------------------------------------


class Bound(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[sweep.constraints]`` entry: the metric must stay within ``[min, max]`` (either optional)."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class FloatParam(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="float", tag_field="type"):
    """A real parameter drawn from ``[low, high]`` (log-uniformly with ``log = true``)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if self.high <= self.low:
            raise FieldError("FloatParam", "high", f"must be > low ({self.low}), got {self.high}")
        if self.log and self.low <= 0:
            raise FieldError("FloatParam", "low", f"must be > 0 with log = true, got {self.low}")

    def domain(self):
        return tune.loguniform(self.low, self.high) if self.log else tune.uniform(self.low, self.high)


class IntParam(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="int", tag_field="type"):
    """An integer parameter drawn from ``low..high`` (both included)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if self.high <= self.low:
            raise FieldError("IntParam", "high", f"must be > low ({self.low}), got {self.high}")
        if self.log and self.low <= 0:
            raise FieldError("IntParam", "low", f"must be > 0 with log = true, got {self.low}")

    def domain(self):
        return tune.lograndint(self.low, self.high + 1) if self.log else tune.randint(self.low, self.high + 1)


class ChoiceParam(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="choice", tag_field="type"):
    """A parameter drawn from a list of values."""

    values: Annotated[list[bool | int | float | str], msgspec.Meta(min_length=1)]

    def domain(self):
        return tune.choice(list(self.values))


Param = FloatParam | IntParam | ChoiceParam


class SweepTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[sweep]``: the base run, the strategy, the objective, the windows and the budget."""

    name: Name
    run: Text | None = None
    train: Text | None = None
    strategy: Name | None = None
    window: TimeWindow | None = None
    metric: str = "sharpe"
    mode: Literal["max", "min"] = "max"
    trials: PositiveInt = 8
    max_concurrent: PositiveInt = 1
    seed: int = 0
    search: Literal["tpe", "grid"] = "tpe"
    test: TimeWindow | None = None
    constraints: dict[str, Bound] = {}
    instruments: list[str] = []

    def __post_init__(self) -> None:
        if (self.run is None) == (self.train is None):
            raise FieldError("SweepTable", "run", "give exactly one of run (an amm backtest run file) or train (an amm train run file)")
        if self.run is not None and self.instruments:
            raise FieldError("SweepTable", "instruments", "a training sweep's field: a baseline sweep runs its run file's instrument")
        if len(set(self.instruments)) != len(self.instruments):
            raise FieldError("SweepTable", "instruments", f"lists an instrument twice: {self.instruments}")
        if self.run is not None and self.strategy is None:
            raise FieldError("SweepTable", "strategy", "missing: name the [[strategies]] entry of the run file to tune")
        if self.run is not None and self.window is None:
            raise FieldError("SweepTable", "window", "missing: the validation window the objective is computed on")
        if self.window is not None and not self.window.bounded:
            raise FieldError("SweepTable", "window", "needs both a start and an end (the validation window)")
        for field, name in [("metric", self.metric), *(("constraints", c) for c in self.constraints)]:
            if name not in METRICS:
                raise FieldError("SweepTable", field, f"{name!r} is not a metrics.json field; expected one of: {', '.join(METRICS)}")
        if self.test is not None and self.window is not None and self.window.overlaps(self.test):
            raise FieldError(
                "SweepTable", "window",
                f"{self.window.start} .. {self.window.end} overlaps the test window sweep.test "
                f"({self.test.start} .. {self.test.end}): no trial may see the test window",
            )


class SweepFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole sweep file: ``[sweep]`` and ``[space.<parameter>]`` tables."""

    sweep: SweepTable
    space: Annotated[dict[str, Param], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        if self.sweep.search != "grid":
            return
        for name, p in self.space.items():
            if not isinstance(p, ChoiceParam):
                raise FieldError("SweepFile", f"space.{name}", 'search = "grid" takes choice parameters only')
        if self.sweep.trials != self.grid_size:
            raise FieldError("SweepFile", "sweep.trials", f'search = "grid" runs every combination: set trials = {self.grid_size}')

    @property
    def grid_size(self) -> int:
        return math.prod(len(p.values) for p in self.space.values() if isinstance(p, ChoiceParam))

    def param_space(self) -> dict[str, Any]:
        """Tune's ``param_space``: domains for the TPE sampler, or ``grid_search`` lists."""
        if self.sweep.search == "grid":
            return {name: tune.grid_search(list(p.values)) for name, p in self.space.items()}
        return {name: p.domain() for name, p in self.space.items()}


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep: the file, and how one trial runs and the best config is written.

    :class:`BacktestSweep` tunes a baseline's parameters (here); ``rl.sweep.TrainingSweep`` tunes
    RL hyperparameters and reward weights (``amm train`` + an evaluation on the validation window).
    """

    file: SweepFile
    source: str

    best_name: ClassVar[str] = "best.toml"

    @property
    def table(self) -> SweepTable:
        return self.file.sweep

    def for_workers(self) -> Sweep:
        """The sweep with every path absolute: Tune runs trials in their own directories."""
        return self

    def run_trial(self, params: Mapping[str, Any], run_dir: Path) -> Mapping[str, Any]:
        """Run one trial into ``run_dir``; return the ``metrics.json`` of the validation window."""
        raise NotImplementedError

    def best_text(self, params: Mapping[str, Any], head: str) -> str:
        """The best config, ready for ``amm backtest`` / ``amm train``, under the comment ``head``."""
        raise NotImplementedError


@dataclass(frozen=True)
class BacktestSweep(Sweep):
    """A baseline's parameters on a validation window: the base run file, one strategy tuned."""

    base: RunSpec

    def for_workers(self) -> BacktestSweep:
        return replace(self, base=replace(self.base, catalog=self.base.catalog.resolve()))

    def run_trial(self, params: Mapping[str, Any], run_dir: Path) -> Mapping[str, Any]:
        spec = trial_spec(self, params)  # a bad parameter draw fails the trial, naming the field
        return run_backtest(spec, progress=False, run_dir=run_dir, tearsheets=False).strategies[0].metrics

    def best_text(self, params: Mapping[str, Any], head: str) -> str:
        """The base run file with the best parameters in the tuned strategy, on the validation
        window (``amm backtest --start/--end`` moves it), every other strategy as it was."""
        t = self.table
        strategies = tuple(
            replace(s, config={**s.config, **params}) if s.name == t.strategy else s for s in self.base.strategies
        )
        return head + to_toml(replace(self.base, strategies=strategies, start=t.window.start, end=t.window.end))


def read_sweep_file(path: str | Path) -> SweepFile:
    """Decode a sweep file (either kind); a bad ``[space.<name>]`` entry is named as such."""
    source = str(path)
    data = read_mapping(path)
    space = data.get("space")
    for name, entry in space.items() if isinstance(space, dict) else ():
        # msgspec names a dict key "[...]": decode each entry alone so the error names it.
        try:
            decode(entry, Param, source=source, path=f"space.{name}")
        except ConfigError as e:
            if e.field != f"space.{name}.type":
                raise
            raise ConfigError(source, e.field, f"{e.message}; expected one of: float, int, choice") from None
    return decode(data, SweepFile, source=source)


def is_training_sweep(path: str | Path) -> bool:
    """Whether the file's ``[sweep]`` names ``train`` (an ``amm train`` run) rather than ``run``."""
    table = read_mapping(path).get("sweep")
    return isinstance(table, dict) and "train" in table


def load_sweep(path: str | Path) -> BacktestSweep:
    """Read a baseline sweep file and its base run file; check the strategy and the space against it.

    Raises
    ------
    catalog.config_io.ConfigError
        One line naming the file and the field (``sweep.window``, ``space.half_spread_tick``).
    """
    source = str(path)
    f = read_sweep_file(path)
    if f.sweep.run is None:
        raise ConfigError(source, "sweep.train", "a training sweep: rl.sweep.load_training_sweep reads it (amm sweep does)")
    base = load_run_config(f.sweep.run)
    names = [s.name for s in base.strategies]
    if f.sweep.strategy not in names:
        raise ConfigError(source, "sweep.strategy", f"{f.sweep.strategy!r} is not a strategy of {f.sweep.run} {names}")
    strategy = base.strategies[names.index(f.sweep.strategy)]
    fields_ = strategy_config_class(strategy.config_path, source=f.sweep.run, where="config_path").__struct_fields__
    for name in f.space:
        if name not in fields_ or name in ("instrument_id", "book_type"):
            raise ConfigError(source, f"space.{name}", f"not a parameter of {strategy.config_path}")
    return BacktestSweep(file=f, source=source, base=base)


# -- one trial -------------------------------------------------------------------------------------


def trial_spec(sweep: BacktestSweep, params: Mapping[str, Any]) -> RunSpec:
    """The base run with only the tuned strategy, ``params`` in its config, on the validation
    window; the config is checked in its class (an invalid draw fails here, naming the field)."""
    t = sweep.table
    strategy = next(s for s in sweep.base.strategies if s.name == t.strategy)
    config = {**strategy.config, **params}
    cls = strategy_config_class(strategy.config_path, source=sweep.source, where="sweep.strategy")
    check_strategy_config(cls, config, source=sweep.source, where="space")
    return replace(
        sweep.base,
        name=f"{t.name}__{t.strategy}",
        strategies=(replace(strategy, config=config),),
        start=t.window.start,
        end=t.window.end,
        benchmark=None,
    )


def objective(sweep: Sweep, metrics: Mapping[str, Any]) -> float:
    """The metric, or the worst score if it is missing/not finite or a constraint is breached."""
    t = sweep.table
    worst = -math.inf if t.mode == "max" else math.inf
    value = metrics.get(t.metric)
    if value is None or not math.isfinite(value):
        return worst
    if not all(b.holds(metrics.get(name)) for name, b in t.constraints.items()):
        return worst
    return float(value)


def run_trial(params: dict[str, Any], *, sweep: Sweep, trials_dir: str) -> None:
    """Tune's trainable: one trial into ``trials/<trial id>/``, its metrics reported to Tune."""
    run_dir = Path(trials_dir) / tune.get_context().get_trial_id()
    # The summary fields (spread_captured_bps, markout_60s_bps are nested in metrics.json).
    metrics = flatten_summary(sweep.run_trial(params, run_dir))
    names = (sweep.table.metric, *sweep.table.constraints)
    tune.report({"objective": objective(sweep, metrics), **{n: metrics.get(n) for n in names}})


# -- the sweep -------------------------------------------------------------------------------------


class TrialLines(tune.Callback):
    """One line per finished trial on stderr (stdout stays free for ``--json``)."""

    def __init__(self, metric: str) -> None:
        self._metric = metric

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        value = (trial.last_result or {}).get(self._metric)
        print(f"trial {trial.trial_id} done: {self._metric}={value} {trial.config}", file=sys.stderr, flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        print(f"trial {trial.trial_id} failed: {trial.config}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: the table of trials and where everything was written."""

    directory: Path
    table: pd.DataFrame
    best: dict[str, Any] | None
    best_metric: float | None
    best_path: Path | None = None

    def summary(self) -> dict[str, Any]:
        status = self.table["status"] if len(self.table) else pd.Series(dtype=str)
        return {
            "directory": str(self.directory),
            "best_params": self.best,
            "best_metric": self.best_metric,
            "completed": int((status == "TERMINATED").sum()),
            "failed": int((status == "ERROR").sum()),
            "trials": len(self.table),
            "trials_csv": str(self.directory / "trials.csv"),
            "trials_md": str(self.directory / "trials.md"),
            "best_config": str(self.best_path) if self.best_path is not None else None,
            "objective_png": str(self.directory / "objective.png"),
        }


def run_sweep(
    sweep: Sweep,
    *,
    out: Path,
    address: str | None = None,
    max_concurrent: int | None = None,
    resume: bool = False,
) -> SweepResult:
    """Run (or ``resume``) a sweep on Ray and write its table, best config and plot.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    out : Path
        Parent of the sweep directory ``<out>/<name>/``.
    address : str, optional
        A running Ray cluster (``ray://host:10001``, ``auto``); None starts a local Ray with
        ``max_concurrent`` CPUs and stops it at the end.
    max_concurrent : int, optional
        Override ``[sweep] max_concurrent`` (a resumed sweep keeps its searcher's own limit).
    resume : bool
        Restore the Tune experiment in ``<out>/<name>/``: only unfinished trials run; failed
        trials stay failed (their errors are the config's, not the machine's).
    """
    t = sweep.table
    directory = (out / t.name).resolve()
    concurrent = max_concurrent or t.max_concurrent
    if resume and not tune.Tuner.can_restore(str(directory)):
        raise FileNotFoundError(f"{directory}: no sweep experiment to resume")
    if not resume and directory.exists():
        raise FileExistsError(f"{directory}: exists; pass --resume to finish that sweep or choose another --out")
    trainable = tune.with_parameters(run_trial, sweep=sweep.for_workers(), trials_dir=str(directory / "trials"))
    with ray_session(address, concurrent):
        if resume:
            tuner = tune.Tuner.restore(str(directory), trainable, resume_errored=False)
        else:
            if t.search == "grid":  # Tune's own variant generator: every combination once
                searcher, samples = None, 1
            else:
                searcher, samples = ConcurrencyLimiter(OptunaSearch(seed=t.seed), max_concurrent=concurrent), t.trials
            # reuse_actors: a trial runs in the worker process of the one before it, which saves
            # each trial's imports and engine warm-up (8 s -> 2.6 s a trial of the 75 s USD-M
            # window, measured); every trial still builds its own engine and seeds itself.
            tuner = tune.Tuner(
                trainable,
                param_space=sweep.file.param_space(),
                tune_config=tune.TuneConfig(metric="objective", mode=t.mode, search_alg=searcher, num_samples=samples, reuse_actors=True,
                                            max_concurrent_trials=concurrent if searcher is None else None),
                run_config=tune.RunConfig(
                    name=t.name,
                    storage_path=str(directory.parent),
                    failure_config=tune.FailureConfig(max_failures=0),
                    callbacks=[TrialLines(t.metric)],
                    verbose=0,
                ),
            )
        tuner.fit()
        trials = tune.ExperimentAnalysis(str(directory)).trials
    return write_results(sweep, directory, trials)


def trials_frame(sweep: Sweep, directory: Path, trials: list) -> pd.DataFrame:
    """One row per Tune trial: parameters, metric, constraint values, objective, status, error."""
    t = sweep.table
    rows = []
    for trial in sorted(trials, key=_number):
        result = trial.last_result or {}
        error = trial.get_error() if trial.status == "ERROR" else None
        row = {"trial": _number(trial), "trial_id": trial.trial_id, **{p: trial.config.get(p) for p in sweep.file.space}}
        row |= {n: result.get(n) for n in (t.metric, *t.constraints)}
        row |= {
            "objective": result.get("objective"),
            "status": trial.status,
            "error": _last_line(error) if error is not None else "",
            "run_dir": str(run_dir) if (run_dir := directory / "trials" / trial.trial_id).is_dir() else "",
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _number(trial) -> int:
    """The trial's number in the sweep (1, 2, ...): Tune's experiment tag starts with it."""
    return int(trial.experiment_tag.split("_", 1)[0])


def _last_line(error: BaseException) -> str:
    """The root cause of a trial's error, one line (Tune wraps it in its own traceback)."""
    text = str(error).strip().splitlines()
    cause = next((line for line in reversed(text) if line.strip()), type(error).__name__)
    return " ".join(cause.split())


def write_results(sweep: Sweep, directory: Path, trials: list) -> SweepResult:
    """Write ``trials.csv``, ``trials.md``, ``best.toml`` and ``objective.png``."""
    t = sweep.table
    table = trials_frame(sweep, directory, trials)
    table.to_csv(directory / "trials.csv", index=False)
    (directory / "trials.md").write_text(table.to_markdown(index=False) + "\n")
    done = table[(table["status"] == "TERMINATED") & table["objective"].map(lambda v: v is not None and math.isfinite(v))]
    best, best_metric, best_path = None, None, None
    if len(done):
        row = done.loc[done["objective"].idxmax() if t.mode == "max" else done["objective"].idxmin()]
        best = {p: _plain(row[p]) for p in sweep.file.space}
        best_metric = float(row[t.metric])
        head = (
            f"# Best of sweep {t.name} ({sweep.source}): trial {row['trial_id']}, {t.metric} = {row[t.metric]}\n"
            f"# on the validation window; parameters: {dict(best)}\n"
        )
        best_path = directory / sweep.best_name
        best_path.write_text(sweep.best_text(best, head))
    plot_objective(sweep, table, directory / "objective.png")
    return SweepResult(directory=directory, table=table, best=best, best_metric=best_metric, best_path=best_path)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def plot_objective(sweep: Sweep, table: pd.DataFrame, path: Path) -> None:
    """The objective over trials (with the running best) and the first parameter against it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = sweep.table
    first = next(iter(sweep.file.space))
    ok = table[table["objective"].map(lambda v: v is not None and math.isfinite(v))] if len(table) else table
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if len(ok):
        ax1.plot(ok["trial"], ok["objective"], "o", label="trial")
        best = ok["objective"].cummax() if t.mode == "max" else ok["objective"].cummin()
        ax1.step(ok["trial"], best, where="post", label="best so far")
        ax1.legend()
        ax2.plot(ok[first], ok["objective"], "o")
    ax1.set(xlabel="trial", ylabel=t.metric, title=f"{t.name}: {t.metric} ({t.mode})")
    ax2.set(xlabel=first, ylabel=t.metric)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
