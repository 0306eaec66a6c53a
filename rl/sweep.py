"""Training sweeps: RL hyperparameters and reward weights, each trial ``amm train`` + a validation run.

The same sweep file and engine as a baseline sweep (:mod:`backtests.sweep`: Ray Tune, seeded
Optuna, resume, one row per trial), with ``train`` instead of ``run``::

    [sweep]
    name = "dqn_usdm"
    train = "rl/configs/usdm_btcusdt_dqn.yml"   # an `amm train` run file
    metric = "sharpe"                            # a metrics.json field of the validation run
    mode = "max"
    trials = 8
    max_concurrent = 2
    [space."hyperparams.kwargs.learning_rate"]   # a dotted path into the resolved run config
    type = "float"
    low = 1e-5
    high = 1e-3
    log = true
    [space."env.reward.eta"]
    type = "float"
    low = 0.0
    high = 1.0

A trial trains the run file with the trial's values into ``trials/<trial id>/<train run>/`` (its
EvalCallback scores checkpoints on the validation window, as ``amm train`` does), then backtests
the trained policy (the run's final ``model.zip``) alone on the run's validation window into
``trials/<trial id>/validation/``: its ``metrics.json`` is the objective, the same fields as a
baseline sweep's. ``[sweep] instruments = ["GOOG.XNAS", "AMZN.XNAS"]`` scores the policy on each
of them instead (``validation-<instrument>/``), and the objective and constraints are the mean of
their headline figures (``validation.json`` holds each and the mean): one score for a model meant
to trade all of them, whichever it was trained on (``train_instruments`` of the run file). The
sweep window is the run's validation window unless ``[sweep] window`` names one; either way it
may not touch the run's training or test window, and training never loads the test window
(``rl.train``), so no trial sees it. ``best.yml`` is the run file with the best
values, ready for ``amm train --config``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from backtests.metrics import flatten_summary
from backtests.sweep import ChoiceParam, Sweep, read_sweep_file
from catalog.config_io import ConfigError
from catalog.window import TimeWindow


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data[key]
    data[leaf] = value


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    for key in dotted.split("."):
        if not isinstance(data, Mapping) or key not in data:
            return False
        data = data[key]
    return True


def mean_metrics(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Field by field mean of flat metric rows; a field missing or not finite in any row is None
    (a policy that cannot be scored on one instrument has no mean score)."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [row.get(key) for row in rows]
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        out[key] = sum(values) / len(values) if ok else None
    return out


@dataclass(frozen=True)
class TrainingSweep(Sweep):
    """An ``amm train`` run file, values of its resolved config drawn per trial."""

    base: Any  # rl.train.RunConfig

    best_name: ClassVar[str] = "best.yml"

    @property
    def window(self) -> TimeWindow:
        """Where the objective is computed: ``[sweep] window``, else the run's validation window."""
        return self.table.window or self.base.validation

    def config_for(self, params: Mapping[str, Any]) -> Any:
        """The run config with ``params`` set at their dotted paths, decoded and checked again
        (a bad value fails naming ``space.<its path>``)."""
        from rl.train import RunConfig

        data = self.base.to_dict()
        for name, value in params.items():
            _set(data, name, value)
        try:
            return RunConfig.from_dict(data, where=self.source)
        except ConfigError as e:
            raise ConfigError(self.source, f"space.{e.field}", e.message) from None

    def for_workers(self) -> TrainingSweep:
        catalog = str(Path(self.base.env.catalog_path).resolve())
        return replace(self, base=self.base.replace(env=self.base.env.replace(catalog_path=catalog)))

    def run_trial(self, params: Mapping[str, Any], run_dir: Path) -> Mapping[str, Any]:
        from backtests.config import RunSpec
        from backtests.runner import run_backtest
        from rl.evaluate import load_trained_policy
        from rl.train import train

        cfg = self.config_for(params)
        trained = load_trained_policy(train(cfg, out_dir=run_dir, progress_bar=False).run_dir)
        instruments = self.table.instruments or [trained.agent.instrument_id]
        scored = {}
        for iid in instruments:
            policy = trained.for_instrument(iid)
            spec = RunSpec(
                name="validation", catalog=policy.catalog, instrument_id=iid,
                venue=policy.venue, strategies=(policy.strategy(),),
                start=self.window.start, end=self.window.end, equity_interval_ms=trained.agent.decision_interval_ms,
            )
            out = run_dir / ("validation" if len(instruments) == 1 else f"validation-{iid}")
            scored[iid] = run_backtest(spec, progress=False, run_dir=out, tearsheets=False).strategies[0].metrics
        if len(scored) == 1:
            return scored[instruments[0]]
        combined = mean_metrics([flatten_summary(m) for m in scored.values()])
        (run_dir / "validation.json").write_text(json.dumps(
            {"mean": combined, **{iid: flatten_summary(m) for iid, m in scored.items()}}, indent=2, default=str))
        return combined

    def best_text(self, params: Mapping[str, Any], head: str) -> str:
        """The run file with the best values; the resolved hyperparameters go in as
        ``hyperparams_overrides`` (``amm train`` merges them over the algorithm's file)."""
        data = self.config_for(params).to_dict()
        data["hyperparams_overrides"] = data.pop("hyperparams")
        return head + f"# amm train --config {self.best_name}\n" + yaml.safe_dump(data, sort_keys=False)


def load_training_sweep(path: str | Path) -> TrainingSweep:
    """Read a training sweep file and its run file; check every parameter path and bound.

    Raises
    ------
    catalog.config_io.ConfigError
        One line naming the file and the field (``space.env.reward.eta``, ``sweep.window``).
    """
    from rl.train import load_run_config

    source = str(path)
    f = read_sweep_file(path)
    t = f.sweep
    if t.strategy is not None:
        raise ConfigError(source, "sweep.strategy", "not used by a training sweep (the run file's agent is tuned)")
    if not Path(t.train).exists():
        raise ConfigError(source, "sweep.train", f"{t.train}: run file not found")
    base = load_run_config(t.train)
    sweep = TrainingSweep(file=f, source=source, base=base)
    data = base.to_dict()
    for name, param in f.space.items():
        if not _has(data, name):
            raise ConfigError(source, f"space.{name}", f"not a field of the resolved run config {t.train} "
                              "(a dotted path such as hyperparams.kwargs.learning_rate or env.reward.eta)")
        values = param.values if isinstance(param, ChoiceParam) else [param.low, param.high]
        for value in values:  # every bound decodes: a mistyped space fails here, not in a trial
            sweep.config_for({name: copy.deepcopy(value)})
    train_window = TimeWindow(start=base.env.window_start, end=base.env.window_end)
    for label, other in (("training", train_window), ("test", base.test)):
        if other is not None and sweep.window.overlaps(other):
            raise ConfigError(source, "sweep.window", f"{sweep.window.start} .. {sweep.window.end} overlaps the run's "
                              f"{label} window ({other.start} .. {other.end}): trials are scored on validation data only")
    return sweep
