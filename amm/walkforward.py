"""``amm walkforward``: a grid of held-out backtests as Ray tasks, aggregated with intervals.

A walk-forward file (TOML or YAML) names the grid: every strategy of the listed backtest run files
and every listed trained model, on every window (or trading day), for every instrument and seed::

    [walkforward]
    name = "usdm_test"
    metric = "total_pnl"            # the headline: plot, paired comparison (a metrics.json field)
    benchmark = "fixed_spread"      # optional: each strategy's difference to it, window by window
                                    # (or one per instrument: { "GOOG.XNAS" = "glft", ... })
    confidence = 0.95
    interval = "t"                  # or "bootstrap" (percentile, `resamples` draws, `seed`)
    max_concurrent = 2              # tasks at once (local Ray gets this many CPUs)

    [[windows]]                     # explicit windows ...
    label = "test"
    start = "2024-08-08T23:58:34Z"
    end = "2024-08-08T23:59:59.999Z"

    [days]                          # ... and/or whole sessions of trading days
    dates = ["2012-06-21"]
    open = "09:30"
    close = "16:00"
    timezone = "America/New_York"

    [[backtests]]                   # an `amm backtest` run file: its strategies, venue, catalog
    run = "backtests/configs/usdm_btcusdt_baselines.toml"
    strategies = ["fixed_spread", "glft"]   # optional subset (default: all)
    instruments = ["BTCUSDT-PERP.BINANCE"]  # optional (default: the run's)
    seeds = [42]                            # optional venue seeds (default: the run's)
    catalog = "catalogs/other"              # optional (default: the run's catalog)
    venue = { maker_fee = "0.0" }           # optional venue fields replaced (also on [[models]])

    [[models]]                      # trained models (`amm train` run directories; a glob)
    path = "runs/MarketMaking-v0__usdm_btcusdt_dqn__*"
    name = "dqn"                    # optional (default: agent_<algorithm>); seed = training seed
    config = { session_timezone = "America/New_York", session_open = "09:30",
               session_close = "16:00", flat_before_close_s = 60 }  # optional runtime fields

Each task is one strategy on one (instrument, window, seed): an ordinary ``amm backtest`` run
directory ``<out>/<name>/tasks/<task>/`` whose ``config.resolved.toml`` re-runs alone. A trained
model runs with its own run's venue and catalog, and a window that touches its training or
validation window is refused before anything runs.

Why Ray tasks: the grid is embarrassingly parallel and Ray runs the same code on the cores of one
machine or on a cluster (``--address``); it also retries a task whose worker died. Nothing here
schedules by itself: the driver only keeps ``max_concurrent`` tasks in flight and writes each
result as it arrives, so a killed walk-forward resumes (``--resume``) with only the tasks that have
no result. A task that fails is recorded with its error; the others go on.

Statistics. The independent unit is the window (a trading day, a held-out period): results are
first averaged over seeds within a window, and the interval is Student's t over those per-window
means (n = windows); ``interval = "bootstrap"`` gives the percentile bootstrap of the mean instead
(Efron and Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13; SciPy's
``stats.bootstrap``, seeded), which is too narrow with a handful of windows: prefer t there. With
one window the unit is the seed (a trained model's training seed, or a
venue seed), and the interval says nothing about other days. A deterministic backtest gives the
same result for every venue seed; such seeds are counted once. The paired comparison with
``benchmark`` takes the difference window by window (same instrument), so market-wide moves that
hit both strategies cancel (a paired t interval; Wilcox, "Introduction to Robust Estimation and
Hypothesis Testing", 2017, ch. 5 for the small-n caveats).
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import pandas as pd
from nautilus_trader.config import PositiveInt

from catalog.config_io import ConfigError, FieldError, decode, read_mapping
from catalog.window import TimeWindow

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Clock = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]

DEFAULT_METRICS = ("total_pnl", "sharpe", "max_drawdown", "fills", "fees_net", "inventory_mean_abs", "markout_60s_bps")
"""Columns aggregated by default (``backtests.metrics.SUMMARY_FIELDS`` names)."""


# -- the file --------------------------------------------------------------------------------------


class LabelledWindow(TimeWindow, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[[windows]]`` entry: a bounded window, with an optional label for the tables."""

    label: Name | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.bounded:
            raise FieldError("LabelledWindow", "start" if self.start is None else "end", "a walk-forward window needs both ends")


class Days(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[days]``: one window per date, from ``open`` to ``close`` local time in ``timezone``."""

    dates: Annotated[list[Text], msgspec.Meta(min_length=1)]
    open: Clock = "00:00"
    close: Clock = "23:59"
    timezone: Text = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise FieldError("Days", "timezone", f"unknown time zone {self.timezone!r}") from None
        if self.close <= self.open:
            raise FieldError("Days", "close", f"must be after open ({self.open}), got {self.close}")
        for i, d in enumerate(self.dates):
            try:
                date.fromisoformat(d)
            except ValueError:
                raise FieldError("Days", f"dates[{i}]", f"not a YYYY-MM-DD date: {d!r}") from None

    def windows(self) -> list[LabelledWindow]:
        tz = ZoneInfo(self.timezone)
        out = []
        for d in self.dates:
            day = date.fromisoformat(d)
            start, end = (datetime.combine(day, datetime.strptime(t, "%H:%M").time(), tz) for t in (self.open, self.close))
            out.append(LabelledWindow(label=d, start=start.isoformat(), end=end.isoformat()))
        return out


class BacktestEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[[backtests]]`` entry: the strategies of an ``amm backtest`` run file."""

    run: Text
    strategies: list[Name] | None = None
    instruments: list[Text] | None = None
    seeds: list[int] | None = None
    catalog: Text | None = None  # another catalog holding the same data (default: the run file's)
    venue: dict[str, Any] | None = None  # venue fields replaced (a fee tier, queue position off)


class ModelEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[[models]]`` entry: trained models (a run directory or ``model.zip``; a glob)."""

    path: Text
    name: Name | None = None
    instruments: list[Text] | None = None
    config: dict[str, Any] | None = None  # PolicyMarketMakerConfig runtime fields (session, limits)
    venue: dict[str, Any] | None = None  # venue fields replaced (a sensitivity: fees, queue position)


class WalkforwardTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[walkforward]``: the name, the headline metric, the comparison and the concurrency."""

    name: Name
    metric: str = "total_pnl"
    metrics: list[str] | None = None
    benchmark: Name | dict[str, Name] | None = None  # one strategy, or one per instrument
    confidence: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] = 0.95
    interval: Literal["t", "bootstrap"] = "t"
    resamples: Annotated[int, msgspec.Meta(ge=100)] = 9_999
    seed: int = 0
    max_concurrent: PositiveInt = 1

    def __post_init__(self) -> None:
        from backtests.metrics import SUMMARY_FIELDS

        known = [name for name, _, _ in SUMMARY_FIELDS]
        for field, name in [("metric", self.metric), *(("metrics", m) for m in self.metrics or ())]:
            if name not in known:
                raise FieldError("WalkforwardTable", field, f"{name!r} is not a metrics.json field; expected one of: {', '.join(known)}")

    @property
    def columns(self) -> list[str]:
        cols = list(self.metrics) if self.metrics is not None else list(DEFAULT_METRICS)
        return cols if self.metric in cols else [self.metric, *cols]


class WalkforwardFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole walk-forward file."""

    walkforward: WalkforwardTable
    windows: list[LabelledWindow] = []
    days: Days | None = None
    backtests: list[BacktestEntry] = []
    models: list[ModelEntry] = []

    def all_windows(self) -> list[LabelledWindow]:
        listed = [w if w.label else msgspec.structs.replace(w, label=f"w{i + 1}") for i, w in enumerate(self.windows)]
        return listed + (self.days.windows() if self.days else [])


# -- the grid --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One cell of the grid: one strategy on one instrument, window and seed."""

    id: str
    instrument: str
    window: str
    strategy: str
    kind: str  # "backtest" or "model"
    seed: int
    spec: Any  # backtests.config.RunSpec with this one strategy

    def row(self) -> dict[str, Any]:
        return {"task": self.id, "instrument": self.instrument, "window": self.window, "strategy": self.strategy,
                "kind": self.kind, "seed": self.seed, "start": str(self.spec.start), "end": str(self.spec.end)}


@dataclass(frozen=True)
class Walkforward:
    """A loaded walk-forward file and its expanded grid."""

    file: WalkforwardFile
    tasks: tuple[Task, ...]
    source: str

    @property
    def table(self) -> WalkforwardTable:
        return self.file.walkforward


def _task_id(*parts: Any) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(p)) for p in parts)


def _backtest_tasks(entry: BacktestEntry, where: str, windows: Sequence[LabelledWindow], source: str) -> Iterator[Task]:
    from backtests.config import load_run_config

    if not Path(entry.run).exists():
        raise ConfigError(source, f"{where}.run", f"{entry.run}: run file not found")
    base = load_run_config(entry.run)
    names = [s.name for s in base.strategies]
    for i, name in enumerate(entry.strategies or ()):
        if name not in names:
            raise ConfigError(source, f"{where}.strategies[{i}]", f"{name!r} is not a strategy of {entry.run} {names}")
    chosen = [s for s in base.strategies if entry.strategies is None or s.name in entry.strategies]
    catalog = Path(entry.catalog) if entry.catalog is not None else base.catalog
    base = replace(base, catalog=catalog.resolve(), benchmark=None, venue=_venue(base.venue, entry.venue, f"{where}.venue", source))
    for instrument in entry.instruments or [base.instrument_id]:
        for w in windows:
            for seed in entry.seeds or [base.venue.seed]:
                venue = base.venue if seed == base.venue.seed else base.venue.with_overrides({"seed": seed}, where=f"{where}.seeds")
                for s in chosen:
                    config = {**s.config, "instrument_id": instrument} if "instrument_id" in s.config else dict(s.config)
                    spec = replace(base, name=s.name, instrument_id=instrument, venue=venue, start=w.start, end=w.end,
                                   strategies=(replace(s, config=config),))
                    yield Task(_task_id(instrument, w.label, s.name, f"s{seed}"), instrument, w.label, s.name,
                               "backtest", seed, spec)


def _venue(venue: Any, overrides: Mapping[str, Any] | None, where: str, source: str) -> Any:
    """``venue`` with the entry's fields replaced; a bad field is one line naming ``where``."""
    if not overrides:
        return venue
    try:
        return venue.with_overrides(overrides, where=where)
    except ConfigError as e:  # decoded with ``where`` as its source: name the file instead
        raise ConfigError(source, f"{where}.{e.field}", e.message) from None
    except ValueError as e:
        raise ConfigError(source, where, " ".join(str(e).split())) from None


def _model_tasks(entry: ModelEntry, where: str, windows: Sequence[LabelledWindow], source: str) -> Iterator[Task]:
    from backtests.config import RunSpec, check_strategy_config, strategy_config_class
    from rl.evaluate import load_trained_policy

    paths = sorted(glob.glob(entry.path))
    if not paths:
        raise ConfigError(source, f"{where}.path", f"{entry.path}: no trained model matches")
    for path in paths:
        try:
            trained = load_trained_policy(path)
        except (OSError, ValueError, RuntimeError) as e:
            raise ConfigError(source, f"{where}.path", " ".join(str(e).split())) from None
        try:  # the entry's runtime fields, checked once before any task is built
            strategy = trained.strategy(entry.name, entry.config)
        except ValueError as e:
            raise ConfigError(source, f"{where}.config", str(e)) from None
        cls = strategy_config_class(strategy.config_path, source=source, where=f"{where}.config")
        check_strategy_config(cls, strategy.config, source=source, where=f"{where}.config")
        venue = _venue(trained.venue, entry.venue, f"{where}.venue", source)
        for instrument in entry.instruments or [trained.agent.instrument_id]:
            policy = trained.for_instrument(instrument)
            name = entry.name or policy.name
            for w in windows:
                try:
                    policy.check_window(w.start, w.end)
                except ValueError as e:
                    raise ConfigError(source, "windows", f"{w.label}: {e} ({policy.run_dir})") from None
                spec = RunSpec(
                    name=name, catalog=policy.catalog.resolve(), instrument_id=instrument, venue=venue,
                    strategies=(policy.strategy(name, entry.config),), start=w.start, end=w.end,
                    equity_interval_ms=policy.agent.decision_interval_ms,
                )
                yield Task(_task_id(instrument, w.label, name, f"s{policy.seed}"), instrument, w.label, name,
                           "model", policy.seed, spec)


def load_walkforward(path: str | Path) -> Walkforward:
    """Read a walk-forward file and expand its grid (run files and models are loaded and checked).

    Raises
    ------
    catalog.config_io.ConfigError
        One line naming the file and the field (``backtests[0].strategies[1]``, ``windows``).
    """
    source = str(path)
    f = decode(read_mapping(path), WalkforwardFile, source=source)
    windows = f.all_windows()
    if not windows:
        raise ConfigError(source, "windows", "no window: give [[windows]] or [days]")
    if not f.backtests and not f.models:
        raise ConfigError(source, "backtests", "nothing to run: give [[backtests]] or [[models]]")
    labels = [w.label for w in windows]
    if len(set(labels)) != len(labels):
        raise ConfigError(source, "windows", f"window labels repeat: {labels}")
    tasks: list[Task] = []
    for i, entry in enumerate(f.backtests):
        tasks.extend(_backtest_tasks(entry, f"backtests[{i}]", windows, source))
    for i, entry in enumerate(f.models):
        tasks.extend(_model_tasks(entry, f"models[{i}]", windows, source))
    seen: dict[str, Task] = {}
    for t in tasks:
        if t.id in seen:
            raise ConfigError(source, "backtests", f"two grid cells are both {t.id}: give the strategies or models distinct names")
        seen[t.id] = t
    bench = f.walkforward.benchmark
    if isinstance(bench, dict):
        for inst, name in bench.items():
            if not any(t.strategy == name and t.instrument == inst for t in tasks):
                raise ConfigError(source, f"walkforward.benchmark.{inst}", f"{name!r} is not a strategy of the grid on {inst}")
    elif bench is not None and bench not in {t.strategy for t in tasks}:
        raise ConfigError(source, "walkforward.benchmark", f"{bench!r} is not a strategy of the grid")
    return Walkforward(file=f, tasks=tuple(tasks), source=source)


# -- one task --------------------------------------------------------------------------------------

RESULT = "task.json"
"""Written last in a task's run directory: its presence means the task is done (or failed)."""


def run_task(task: Task, run_dir: str, metrics: Sequence[str]) -> dict[str, Any]:
    """One backtest into ``run_dir``; its row (status ``ok`` or ``error`` with the error's line)."""
    from amm.errors import one_line
    from backtests.runner import run_backtest

    t0 = time.perf_counter()
    row = task.row()
    try:
        result = run_backtest(task.spec, progress=False, run_dir=Path(run_dir), tearsheets=False)
        summary = result.summary()["strategies"][task.strategy]
        row |= {"status": "ok", "error": "", **{m: summary.get(m) for m in metrics}}
    except Exception as e:  # a task's failure is its row, not the grid's end
        row = _error_row(task, run_dir, metrics, f"{type(e).__name__}: {one_line(e)}", time.perf_counter() - t0)
    row |= {"wall_s": round(time.perf_counter() - t0, 3), "run_dir": run_dir}
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".{RESULT}.tmp"
    tmp.write_text(json.dumps(row, default=str) + "\n")
    os.replace(tmp, path / RESULT)
    return row


def _error_row(task: Task, run_dir: str, metrics: Sequence[str], error: str, wall_s: float) -> dict[str, Any]:
    """The row of a task that failed: its cell, the error's line, no metrics."""
    return task.row() | {"status": "error", "error": error, **{m: None for m in metrics},
                         "wall_s": round(wall_s, 3), "run_dir": run_dir}


def _done(run_dir: Path) -> dict[str, Any] | None:
    try:
        row = json.loads((run_dir / RESULT).read_text())
    except (OSError, ValueError):
        return None
    return row if row.get("status") == "ok" else None


# -- the grid on Ray -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkforwardResult:
    """A finished walk-forward: one row per task, the aggregate, and where they were written."""

    directory: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    paired: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        status = self.runs["status"]
        return {
            "directory": str(self.directory),
            "tasks": len(self.runs),
            "completed": int((status == "ok").sum()),
            "failed": int((status == "error").sum()),
            "errors": self.runs.loc[status == "error", ["task", "error"]].to_dict("records"),
            "summary": _records(self.summary),
            "paired": _records(self.paired),
            "files": {name: str(self.directory / name) for name in ("runs.csv", "summary.csv", "summary.md", "walkforward.png")},
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records")) if len(frame) else []


def run_walkforward(
    wf: Walkforward,
    *,
    out: Path,
    address: str | None = None,
    max_concurrent: int | None = None,
    resume: bool = False,
) -> WalkforwardResult:
    """Run (or ``resume``) the grid on Ray and write ``runs.csv``, the summary and the plot.

    Parameters
    ----------
    wf : Walkforward
        From :func:`load_walkforward`.
    out : Path
        Parent of the walk-forward directory ``<out>/<name>/`` (on a cluster: a shared path).
    address : str, optional
        A running Ray cluster (``ray://host:10001``, ``auto``); None starts a local Ray with
        ``max_concurrent`` CPUs and stops it at the end.
    max_concurrent : int, optional
        Override ``[walkforward] max_concurrent`` (tasks in flight at once).
    resume : bool
        Keep the tasks of ``<out>/<name>/`` that finished; run the others (failed ones again).
    """
    from backtests.ray_session import ray_session

    t = wf.table
    directory = (out / t.name).resolve()
    if resume and not (directory / "grid.json").exists():
        raise FileNotFoundError(f"{directory}: no walk-forward to resume")
    if not resume and directory.exists():
        raise FileExistsError(f"{directory}: exists; pass --resume to finish that walk-forward or choose another --out")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "grid.json").write_text(json.dumps({"source": wf.source, "tasks": [task.row() for task in wf.tasks]}, indent=1) + "\n")
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for task in wf.tasks:
        done = _done(directory / "tasks" / task.id) if resume else None
        if done is not None:
            rows[task.id] = done
        else:
            todo.append(task)
    concurrent = max_concurrent or t.max_concurrent
    _say(f"walk-forward {t.name}: {len(wf.tasks)} tasks, {len(rows)} already done, {len(todo)} to run, {concurrent} at a time")
    if todo:
        with ray_session(address, concurrent):
            for row in _run_on_ray(todo, directory, t.columns, concurrent):
                rows[row["task"]] = row
                n = len(rows)
                value = row.get(t.metric)
                state = f"{t.metric}={value:.6g}" if row["status"] == "ok" and value is not None else row["status"]
                _say(f"[{n}/{len(wf.tasks)}] {row['task']}: {state} ({row['wall_s']:.1f} s){' ' + row['error'] if row['error'] else ''}")
    runs = pd.DataFrame([rows[task.id] for task in wf.tasks])
    return write_results(wf, directory, runs)


def _run_on_ray(tasks: Sequence[Task], directory: Path, metrics: Sequence[str], concurrent: int) -> Iterator[dict[str, Any]]:
    """Keep ``concurrent`` tasks in flight; yield each row as it finishes (a lost worker's task
    is retried by Ray, then reported as failed)."""
    import ray
    from ray.exceptions import RayError

    remote = ray.remote(num_cpus=1, max_retries=1)(run_task)
    pending: dict[Any, Task] = {}
    queue = list(tasks)
    while queue or pending:
        while queue and len(pending) < concurrent:
            task = queue.pop(0)
            pending[remote.remote(task, str(directory / "tasks" / task.id), list(metrics))] = task
        ready, _ = ray.wait(list(pending), num_returns=1)
        task = pending.pop(ready[0])
        try:
            yield ray.get(ready[0])
        except RayError as e:
            from amm.errors import one_line

            yield _error_row(task, str(directory / "tasks" / task.id), metrics,
                             f"{type(e).__name__}: {one_line(e)[:300]}", 0.0)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------------------


def interval(
    sample: Sequence[float],
    confidence: float,
    *,
    method: str = "t",
    resamples: int = 9_999,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and an interval of the mean (NaN when n < 2): Student t,
    or the seeded percentile bootstrap."""
    from scipy import stats

    values = [float(v) for v in sample if v is not None and math.isfinite(float(v))]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    if method == "bootstrap":
        if std == 0.0:
            return mean, std, mean, mean
        ci = stats.bootstrap((values,), lambda x, axis: x.mean(axis=axis), confidence_level=confidence,
                             n_resamples=resamples, method="percentile", rng=seed, vectorized=True).confidence_interval
        return mean, std, float(ci.low), float(ci.high)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def _units(group: pd.DataFrame, metric: str) -> tuple[pd.Series, str]:
    """The sample of one (instrument, strategy) group: per-window means over seeds when there are
    two windows or more, else the seeds of the one window (identical seeds counted once)."""
    ok = group[group["status"] == "ok"]
    by_window = ok.groupby(["instrument", "window"], sort=False)[metric].mean()
    if len(by_window) >= 2:
        return by_window, "windows"
    seeds = ok.drop_duplicates(subset=[metric])[metric] if ok[metric].nunique() == 1 else ok[metric]
    return seeds, "seeds"


def summarise(runs: pd.DataFrame, metrics: Sequence[str], t: WalkforwardTable) -> pd.DataFrame:
    """One row per (instrument, strategy), and per strategy over all instruments when there are
    several: n, unit and, per metric, mean / std / interval."""
    groups: list[tuple[str, str, pd.DataFrame]] = [
        (inst, strat, g) for (inst, strat), g in runs.groupby(["instrument", "strategy"], sort=False)
    ]
    if runs["instrument"].nunique() > 1:  # pooled over instruments: the strategies run on several
        groups += [("*", strat, g) for strat, g in runs.groupby("strategy", sort=False) if g["instrument"].nunique() > 1]
    rows = []
    for inst, strat, g in groups:
        row: dict[str, Any] = {"instrument": inst, "strategy": strat, "tasks": len(g), "failed": int((g["status"] != "ok").sum())}
        for m in metrics:
            sample, unit = _units(g, m)
            mean, std, lo, hi = interval(list(sample), t.confidence, method=t.interval, resamples=t.resamples, seed=t.seed)
            row.setdefault("n", len(sample))
            row.setdefault("unit", unit)
            row |= {m: mean, f"{m}_std": std, f"{m}_ci_low": lo, f"{m}_ci_high": hi}
        rows.append(row)
    return pd.DataFrame(rows)


def paired(runs: pd.DataFrame, t: WalkforwardTable) -> pd.DataFrame:
    """Each strategy minus ``t.benchmark`` in ``t.metric`` on the same (instrument, window), seeds
    averaged first: mean difference, its interval, and in how many windows the strategy did better."""
    metric = t.metric
    if t.benchmark is None:
        return pd.DataFrame()
    ok = runs[runs["status"] == "ok"]
    means = ok.groupby(["instrument", "window", "strategy"], sort=False)[metric].mean().unstack("strategy")
    instruments = list(dict.fromkeys(means.index.get_level_values("instrument")))
    # each instrument's cells minus its benchmark's, window by window
    diffs: dict[str, pd.DataFrame] = {}
    for inst in instruments:
        bench = benchmark_of(t, inst)
        cells = means.xs(inst, level="instrument", drop_level=False).dropna(axis=1, how="all")  # its strategies only
        if bench in cells:
            diffs[inst] = cells.drop(columns=bench).sub(cells[bench], axis=0)
    scopes = list(diffs.items())
    if len(scopes) > 1:  # every (instrument, window) cell, as in the summary's pooled rows, for
        # the strategies compared on every instrument (not one that is a benchmark somewhere)
        common = [c for c in next(iter(diffs.values())).columns if all(c in d.columns for d in diffs.values())]
        scopes.append(("*", pd.concat([d[common] for d in diffs.values()])))
    rows = []
    for inst, table in scopes:
        label = benchmark_of(t, inst) if inst != "*" else benchmark_label(t)
        for strat in table.columns:
            diff = table[strat].dropna()
            if diff.empty:
                continue
            mean, std, lo, hi = interval(list(diff), t.confidence, method=t.interval, resamples=t.resamples, seed=t.seed)
            rows.append({"instrument": inst, "strategy": strat, "benchmark": label, "metric": metric,
                         "n_windows": len(diff), "mean_diff": mean, "std": std, "ci_low": lo, "ci_high": hi,
                         "better": int((diff > 0).sum())})
    return pd.DataFrame(rows)


def benchmark_of(t: WalkforwardTable, instrument: str) -> str | None:
    """The benchmark strategy on ``instrument`` (one for all, or the instrument's own)."""
    return t.benchmark.get(instrument) if isinstance(t.benchmark, dict) else t.benchmark


def benchmark_label(t: WalkforwardTable) -> str:
    """The benchmark in words: its name, or ``instrument: name`` pairs."""
    if isinstance(t.benchmark, dict):
        return ", ".join(f"{inst}: {name}" for inst, name in t.benchmark.items())
    return str(t.benchmark)


# -- outputs ---------------------------------------------------------------------------------------

INTERVALS = {"t": "Student t", "bootstrap": "percentile bootstrap"}


def write_results(wf: Walkforward, directory: Path, runs: pd.DataFrame) -> WalkforwardResult:
    """Write ``runs.csv`` (one row per task), ``summary.csv`` / ``summary.md`` and ``walkforward.png``."""
    t = wf.table
    summary = summarise(runs, t.columns, t)
    diffs = paired(runs, t)
    runs.to_csv(directory / "runs.csv", index=False)
    summary.to_csv(directory / "summary.csv", index=False)
    (directory / "summary.md").write_text(summary_markdown(wf, runs, summary, diffs))
    plot_walkforward(wf, runs, summary, directory / "walkforward.png")
    result = WalkforwardResult(directory=directory, runs=runs, summary=summary, paired=diffs)
    (directory / "summary.json").write_text(json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    return result


def headline(summary: pd.DataFrame, metric: str, confidence: float) -> pd.DataFrame:
    """The headline table: per (instrument, strategy) n, unit and ``metric`` mean [interval]."""
    pct = f"{confidence:.0%}"

    def cell(r: Mapping[str, Any]) -> str:
        mean, lo, hi = r[metric], r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
        if mean is None or not math.isfinite(mean):
            return "-"
        return f"{mean:.4g}" + (f" [{lo:.4g}, {hi:.4g}]" if math.isfinite(lo) else "")

    return pd.DataFrame({
        "instrument": summary["instrument"], "strategy": summary["strategy"], "n": summary["n"], "unit": summary["unit"],
        f"{metric} mean [{pct} CI]": [cell(r) for r in summary.to_dict("records")], "failed": summary["failed"],
    })


def summary_markdown(wf: Walkforward, runs: pd.DataFrame, summary: pd.DataFrame, diffs: pd.DataFrame) -> str:
    t = wf.table
    windows = runs.drop_duplicates("window")[["window", "start", "end"]]
    parts = [
        f"# Walk-forward {t.name}\n",
        f"From `{wf.source}`: {len(runs)} tasks ({int((runs['status'] == 'ok').sum())} ok, "
        f"{int((runs['status'] != 'ok').sum())} failed). Intervals: {INTERVALS[t.interval]} at {t.confidence:.0%} over the unit "
        "(per-window means over seeds; the seeds when there is one window).\n",
        "## " + t.metric + "\n", headline(summary, t.metric, t.confidence).to_markdown(index=False) + "\n",
    ]
    if len(diffs):
        parts += [f"## {t.metric}: paired difference to {benchmark_label(t)}\n", diffs.to_markdown(index=False, floatfmt=".4g") + "\n"]
    cols = ["instrument", "strategy", "n", "unit", *t.columns]
    parts += ["## Means of every metric\n", summary[cols].to_markdown(index=False, floatfmt=".4g") + "\n",
              "## Windows\n", windows.to_markdown(index=False) + "\n"]
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        parts += ["## Failed tasks\n", failed[["task", "error"]].to_markdown(index=False) + "\n"]
    return "\n".join(parts)


def plot_walkforward(wf: Walkforward, runs: pd.DataFrame, summary: pd.DataFrame, path: Path) -> None:
    """Per instrument: every task's ``metric`` (dots) and each strategy's mean with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = wf.table
    instruments = list(dict.fromkeys(runs["instrument"]))
    fig, axes = plt.subplots(1, len(instruments), figsize=(max(6, 4.5 * len(instruments)), 4.5), squeeze=False)
    strategies = list(dict.fromkeys(runs["strategy"]))
    for ax, inst in zip(axes[0], instruments):
        ok = runs[(runs["instrument"] == inst) & (runs["status"] == "ok")]
        for x, strat in enumerate(strategies):
            values = ok.loc[ok["strategy"] == strat, t.metric].dropna()
            ax.plot([x] * len(values), values, "o", alpha=0.35, color="tab:gray")
            row = summary[(summary["instrument"] == inst) & (summary["strategy"] == strat)]
            if len(row) and math.isfinite(row[t.metric].iloc[0]):
                mean, lo, hi = (float(row[c].iloc[0]) for c in (t.metric, f"{t.metric}_ci_low", f"{t.metric}_ci_high"))
                err = [[mean - lo], [hi - mean]] if math.isfinite(lo) else None
                ax.errorbar([x + 0.15], [mean], yerr=err, fmt="D", color="tab:blue", capsize=4)
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_xticks(range(len(strategies)), strategies, rotation=20, ha="right")
        ax.set(title=inst, ylabel=t.metric)
    fig.suptitle(f"{t.name}: {t.metric}\nper task (dots); mean and {t.confidence:.0%} interval (diamonds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
