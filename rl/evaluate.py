"""Walk-forward evaluation: a trained policy against the baselines on one held-out window.

The policy runs inside :class:`strategies.policy.PolicyMarketMaker` (the same observation, action
and quoting code as the training env) and the three baselines (fixed spread, Avellaneda–Stoikov,
GLFT) run beside it through :func:`backtests.runner.run_backtest`: same window, same
:class:`backtests.venue.VenueModelConfig` (the run's own), each in its own engine, equity sampled
on the same clock, one comparison table and QuantStats tearsheets (agent vs the best baseline as
benchmark; the runner passes it as a local Series, never a ticker).

Default window: the run's *test* window, which :class:`rl.train.RunConfig` guarantees is disjoint
from the training and validation windows (and which training never loads). The model is loaded
through :func:`strategies.model_store.load_verified_policy`: its sha256 is checked against its manifest first.
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


def evaluate(request: EvaluateRequest) -> dict[str, Any]:
    """Run the agent and the baselines on the window; return the runner's summary (+ windows)."""
    from backtests.config import RunSpec, StrategySpec
    from backtests.runner import run_backtest
    from strategies.model_store import verify
    from rl.train import resume_config

    model_path = Path(request.model)
    run_dir = model_path.parent if model_path.suffix == ".zip" else model_path
    if model_path.suffix != ".zip":
        model_path = run_dir / "model.zip"
    verify(model_path)
    cfg = resume_config(run_dir)
    env_cfg = cfg.env_config()
    agent = env_cfg.agent
    if request.instrument is not None and request.instrument != agent.instrument_id:
        agent = type(agent).from_dict({**agent.to_dict(), "instrument_id": request.instrument})
    start, end = request.start, request.end
    if start is None and end is None:
        if cfg.test is None:
            raise ValueError(f"{run_dir}: the run has no test window; pass --start/--end")
        start, end = cfg.test.start, cfg.test.end
    _check_not_in_training(cfg, start, end)
    venue = env_cfg.venue
    if request.venue_overrides:
        venue = venue.with_overrides(request.venue_overrides, where="venue_overrides")
    policy = StrategySpec(
        f"agent_{cfg.algorithm}",
        "strategies.policy:PolicyMarketMaker",
        "strategies.policy:PolicyMarketMakerConfig",
        {"agent": agent.to_dict(), "policy_loader": "strategies.model_store:load_verified_policy",
         "model_path": str(model_path.resolve()), "flatten_on_stop": False},
    )
    strategies = (policy, *baseline_specs(agent))
    spec = RunSpec(
        name=request.name or f"evaluate-{run_dir.name}",
        catalog=Path(request.catalog or env_cfg.catalog_path),
        instrument_id=agent.instrument_id,
        venue=venue,
        strategies=strategies,
        start=start,
        end=end,
        equity_interval_ms=agent.decision_interval_ms,
        benchmark="avellaneda_stoikov",
        out_dir=Path(request.out or run_dir / "evaluate"),
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
