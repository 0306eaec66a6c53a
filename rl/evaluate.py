"""Walk-forward evaluation: a trained policy against the baselines on one held-out window.

The policy runs inside :class:`strategies.policy.PolicyMarketMaker` (the same observation, action
and quoting code as the training env) and the three baselines (fixed spread, Avellaneda–Stoikov,
GLFT) run beside it through :func:`backtests.runner.run_backtest`: same window, same
:class:`backtests.venue.VenueModelConfig` (the run's own), each in its own engine, equity sampled
on the same clock, one comparison table and QuantStats tearsheets (agent vs the best baseline as
benchmark; the runner passes it as a local Series, never a ticker).

Default window: the run's *test* window, which :class:`rl.train.RunConfig` guarantees is disjoint
from the training and validation windows (and which training never loads). The model and the run's
``config.yml`` (which holds those windows) are checked against the sha256 in the model's manifest
before anything runs, and the model is loaded through
:func:`strategies.model_store.load_verified_policy`, which checks them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EvaluateRequest:
    """Arguments of ``amm evaluate`` (None = take it from the run).

    ``venue_overrides`` replaces fields of the run's ``VenueModelConfig`` for this evaluation only
    (e.g. another fee tier: ``{"fee_model": "fixed_rates", "maker_fee": "0.0002", ...}``); the
    window checks are unchanged. ``name`` names the output directory (default
    ``evaluate-<run>``).
    """

    model: Path
    catalog: Path | None = None
    instrument: str | None = None
    start: str | None = None
    end: str | None = None
    out: Path | None = None
    progress: bool = True
    venue_overrides: Mapping[str, Any] | None = None
    name: str | None = None


def baseline_specs(agent: Any) -> list[Any]:
    """The three baselines with the agent's instrument, size, limit and decision clock."""
    from backtests.config import StrategySpec

    common = {
        "instrument_id": agent.instrument_id,
        "order_qty": str(agent.order_qty),
        "max_inventory": str(agent.max_inventory),
        "quote_interval_ms": agent.decision_interval_ms,
        "book_type": agent.book_type,
    }
    return [
        StrategySpec("fixed_spread", "strategies.fixed_spread:FixedSpreadMarketMaker",
                     "strategies.fixed_spread:FixedSpreadMarketMakerConfig", {**common, "half_spread_ticks": 1.0}),
        StrategySpec("avellaneda_stoikov", "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMaker",
                     "strategies.avellaneda_stoikov:AvellanedaStoikovMarketMakerConfig", dict(common)),
        StrategySpec("glft", "strategies.glft:GLFTMarketMaker", "strategies.glft:GLFTMarketMakerConfig", dict(common)),
    ]


@dataclass(frozen=True)
class TrainedPolicy:
    """A trained model ready to run as a strategy: its run's config, agent and venue.

    What ``amm evaluate`` and ``amm walkforward`` share: the model's hash is checked against its
    manifest when it is loaded, and :meth:`check_window` refuses the run's training and
    validation windows.
    """

    run_dir: Path
    model_path: Path
    config: Any  # rl.train.RunConfig
    agent: Any  # strategies.agent.AgentConfig

    @property
    def name(self) -> str:
        return f"agent_{self.config.algorithm}"

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def venue(self) -> Any:
        return self.config.env.venue

    @property
    def catalog(self) -> Path:
        return Path(self.config.env.catalog_path)

    def for_instrument(self, instrument: str | None) -> TrainedPolicy:
        """The same model quoting another instrument (None = its own)."""
        if instrument is None or instrument == self.agent.instrument_id:
            return self
        agent = type(self.agent).from_dict({**self.agent.to_dict(), "instrument_id": instrument})
        return TrainedPolicy(self.run_dir, self.model_path, self.config, agent)

    def strategy(self, name: str | None = None, config: Mapping[str, Any] | None = None) -> Any:
        """The model as a ``PolicyMarketMaker`` strategy entry of a backtest run.

        ``config`` adds runtime fields of :class:`~strategies.policy.PolicyMarketMakerConfig`
        (a trading session and its flat-before-close, risk limits): the baselines' runtime, so
        a comparison does not hand them a session rule the agent lacks. The agent, its model and
        its loader cannot be replaced this way.
        """
        from backtests.config import StrategySpec

        own = {"agent": self.agent.to_dict(), "policy_loader": "strategies.model_store:load_verified_policy",
               "model_path": str(self.model_path.resolve())}
        extra = dict(config or {})
        if clash := sorted(own.keys() & extra.keys()):
            raise ValueError(f"strategy config may not replace {', '.join(clash)} of a trained model")
        return StrategySpec(
            name or self.name,
            "strategies.policy:PolicyMarketMaker",
            "strategies.policy:PolicyMarketMakerConfig",
            {**own, "flatten_on_stop": False, **extra},
        )

    def check_window(self, start: Any, end: Any) -> None:
        """Refuse a window that shares an instant with the run's training or validation window."""
        _check_not_in_training(self.config, start, end)


def load_trained_policy(model: str | Path) -> TrainedPolicy:
    """A training run directory (or one of its model zips), verified against the model's manifest.

    The model, its ``VecNormalize`` statistics and the run's ``config.yml`` must all match the
    sha256 in the manifest (:func:`rl.train.verified_run_config`): the config's windows are what
    :meth:`TrainedPolicy.check_window` refuses, so an edited config must not pass for the original.
    """
    from rl.train import verified_run_config

    model_path = Path(model)
    if model_path.suffix != ".zip":
        model_path = model_path / "model.zip"
    config_path, cfg = verified_run_config(model_path)
    run_dir = model_path.parent if config_path.parent == model_path.parent else config_path.resolve().parent
    return TrainedPolicy(run_dir=run_dir, model_path=model_path, config=cfg, agent=cfg.env.agent)


def evaluate(request: EvaluateRequest) -> dict[str, Any]:
    """Run the agent and the baselines on the window; return the runner's summary (+ windows)."""
    from backtests.config import RunSpec
    from backtests.runner import run_backtest

    trained = load_trained_policy(request.model).for_instrument(request.instrument)
    cfg, agent = trained.config, trained.agent
    start, end = request.start, request.end
    if start is None and end is None:
        if cfg.test is None:
            raise ValueError(f"{trained.run_dir}: the run has no test window; pass --start/--end")
        start, end = cfg.test.start, cfg.test.end
    trained.check_window(start, end)
    venue = trained.venue
    if request.venue_overrides:
        venue = venue.with_overrides(request.venue_overrides, where="venue_overrides")
    strategies = (trained.strategy(), *baseline_specs(agent))
    spec = RunSpec(
        name=request.name or f"evaluate-{trained.run_dir.name}",
        catalog=Path(request.catalog or trained.catalog),
        instrument_id=agent.instrument_id,
        venue=venue,
        strategies=strategies,
        start=start,
        end=end,
        equity_interval_ms=agent.decision_interval_ms,
        benchmark="avellaneda_stoikov",
        out_dir=Path(request.out or trained.run_dir / "evaluate"),
    )
    result = run_backtest(spec, progress=request.progress)
    summary = result.summary()
    summary["windows"] = {k: (None if w is None else {"start": w.start, "end": w.end}) for k, w in cfg.windows().items()}
    summary["evaluated"] = {"start": start, "end": end}
    summary["venue"] = venue.to_dict()
    return summary


def _check_not_in_training(cfg: Any, start: Any, end: Any) -> None:
    """Refuse to 'evaluate' on data the model was trained or selected on.

    A missing bound is open (the runner then reads to the first / last event), so
    ``--start`` alone inside the training window is refused too.
    """
    from catalog.window import to_ns

    s, e = to_ns(start, name="start"), to_ns(end, name="end")
    s = -(2**63) if s is None else s
    e = 2**63 - 1 if e is None else e
    for name in ("train", "validation"):
        w = cfg.windows()[name]
        ws, we = w.ns()
        if s <= we and ws <= e:
            raise ValueError(f"the evaluation window overlaps the run's {name} window; pick held-out data")


def render_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = report["strategies"]
    cols = [c for c in ("sharpe", "total_pnl", "max_drawdown", "inventory_mean_abs", "fills") if any(c in r for r in rows.values())]
    table = Table(title=f"{report['instrument_id']} {report['evaluated']['start']} .. {report['evaluated']['end']}")
    table.add_column("strategy")
    for c in cols:
        table.add_column(c, justify="right")
    for name, r in rows.items():
        table.add_row(name, *(f"{r.get(c):.4g}" if isinstance(r.get(c), (int, float)) else str(r.get(c)) for c in cols))
    Console().print(table)
    Console().print(f"run directory: {report['run_dir']}")
