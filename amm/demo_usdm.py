"""``python -m amm.demo_usdm``: the pipeline on the bundled Binance USD-M capture (six minutes), end to end.

Walk-forward on ``binance_ws/usdm/btcusdt_20240808.gz`` (BTCUSDT-PERP.BINANCE, 2024-08-08
23:54:15 -> 23:59:59 UTC), with the windows of ``rl/configs/usdm_btcusdt_<algo>.yml``
(train ~60 %, validation ~15 %, test ~25 %, in time order, disjoint):

1. ingest the capture into a ``ParquetDataCatalog`` (idempotent: a second run adds nothing);
2. run the shipped baselines config (``backtests/configs/usdm_btcusdt_baselines.toml``, the
   ``amm backtest`` path) on the *test* window, once per fee tier;
3. train a small agent per algorithm and seed (``rl.train.train``: EvalCallback on the
   validation window, manifest, VecNormalize statistics);
4. evaluate every agent against fixed-spread / Avellaneda-Stoikov / GLFT on the held-out test
   window (``rl.evaluate.evaluate``: manifest verified, windows checked), once per fee tier;
5. print the comparison (mean and spread over seeds), the tearsheets and plots, and write
   ``summary.json`` and ``walkforward.md`` into ``--out``.

Fees are a venue assumption and change the conclusion, so they are explicit and both are run:

* ``vip0``: Binance USD-M VIP 0, maker 2 bp / taker 5 bp (the instrument's fees in
  ``catalog/instruments.toml``). A one-tick BTCUSDT spread is 0.1 USDT on ~60,000 USDT
  (~0.02 bp), two orders of magnitude less than the maker fee: every quoting strategy loses.
* ``mm_rebate``: a market-maker-programme tier, maker -0.5 bp (rebate) / taker 2.5 bp. These
  figures are an ASSUMPTION standing in for Binance's programme (not verified against its current
  schedule). The agents are trained at this tier (the run configs' venue).

Six minutes of data is tiny: the test window is 86 s, so every figure here is one short sample and
says nothing about significance. The demo shows that the pipeline works, not that an agent earns.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from amm.errors import run_with_policy
from amm.live_block import live_snippet

SOURCE = "binance_ws/usdm/btcusdt_20240808.gz"
INSTRUMENT_ID = "BTCUSDT-PERP.BINANCE"
CONFIGS_DIR = Path(__file__).resolve().parent.parent / "rl" / "configs"
BASELINES_CONFIG = Path(__file__).resolve().parent.parent / "backtests" / "configs" / "usdm_btcusdt_baselines.toml"

FEE_TIERS: dict[str, dict[str, str]] = {
    # Binance USD-M VIP 0 (= the instrument's maker_fee/taker_fee in catalog/instruments.toml).
    "vip0": {"fee_model": "fixed_rates", "maker_fee": "0.0002", "taker_fee": "0.0005"},
    # ASSUMPTION: market-maker programme tier, maker -0.5 bp rebate, taker 2.5 bp (unverified).
    "mm_rebate": {"fee_model": "fixed_rates", "maker_fee": "-0.00005", "taker_fee": "0.00025"},
}

# Columns of the comparison: (summary key, header, format).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("total_pnl", "PnL (USDT)", "{:.3f}"),
    ("sharpe", "Sharpe", "{:.1f}"),
    ("max_drawdown", "MaxDD (USDT)", "{:.3f}"),
    ("inventory_mean_abs", "mean |inv| (BTC)", "{:.4f}"),
    ("fills", "fills", "{:.1f}"),
)


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """What one demo / walk-forward run does.

    Parameters
    ----------
    data_dir : Path or None
        Directory holding ``binance_ws/usdm/btcusdt_20240808.gz``; None = ``catalog.settings.data_dir()``.
    catalog : Path
        Catalog to ingest into (idempotent).
    out : Path
        Receives ``baselines/``, ``runs/`` (one run directory per algorithm and seed),
        ``summary.json`` and ``walkforward.md``.
    timesteps : int
        Training budget per agent (environment steps).
    algorithms : tuple of str
        Each needs ``rl/configs/usdm_btcusdt_<algo>.yml``.
    seeds : tuple of int
        One agent per algorithm and seed.
    fee_tiers : tuple of str
        Keys of :data:`FEE_TIERS` to evaluate at.
    baselines : bool
        Also run the shipped ``amm backtest`` baselines config on the test window.
    progress : bool
        Progress bars (SB3 training, simulated time per strategy).
    """

    data_dir: Path | None = None
    catalog: Path = Path("catalogs/demo")
    out: Path = Path("runs/demo")
    timesteps: int = 30_000
    algorithms: tuple[str, ...] = ("ppo",)
    seeds: tuple[int, ...] = (0,)
    fee_tiers: tuple[str, ...] = ("vip0", "mm_rebate")
    baselines: bool = True
    progress: bool = True
    configs_dir: Path = field(default=CONFIGS_DIR)

    def __post_init__(self) -> None:
        if self.timesteps < 1:
            raise ValueError(f"DemoConfig.timesteps must be >= 1 (got {self.timesteps})")
        if not self.algorithms or not self.seeds:
            raise ValueError("DemoConfig: need at least one algorithm and one seed")
        for algo in self.algorithms:
            if not self.run_config_path(algo).exists():
                raise ValueError(f"DemoConfig.algorithms: no run config {self.run_config_path(algo)}")
        unknown = sorted(set(self.fee_tiers) - set(FEE_TIERS))
        if unknown or not self.fee_tiers:
            raise ValueError(f"DemoConfig.fee_tiers: unknown {unknown}; known: {sorted(FEE_TIERS)}")

    def run_config_path(self, algorithm: str) -> Path:
        return self.configs_dir / f"usdm_btcusdt_{algorithm}.yml"

    def source_file(self) -> Path:
        if self.data_dir is None:
            from catalog.settings import data_file

            return data_file(SOURCE)
        path = Path(self.data_dir) / SOURCE
        if not path.exists():
            raise FileNotFoundError(f"{path}: the bundled USD-M capture is missing (check --data-dir)")
        return path


def _step(console: Any, i: int, n: int, text: str) -> None:
    console.rule(f"[bold][{i}/{n}] {text}")


def ingest(cfg: DemoConfig, console: Any) -> dict[str, Any]:
    """Ingest the capture (a no-op on an already complete catalog) and report the data span."""
    from catalog.window import data_span
    from catalog.ingest import ingest_files

    source = cfg.source_file()
    result = ingest_files("binance-ws", [source], Path(cfg.catalog))
    first, last = data_span(cfg.catalog, INSTRUMENT_ID)
    rows = dict(result.commit.rows_added)
    console.print(f"{source} -> {cfg.catalog}: rows added {rows or 'none (already ingested)'}; "
                  f"{INSTRUMENT_ID} spans {_iso(first)} .. {_iso(last)}")
    return {"source": str(source), "catalog": str(cfg.catalog), "rows_added": rows,
            "span": [_iso(first), _iso(last)]}


def _iso(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def run_baselines(cfg: DemoConfig, test: Any, console: Any) -> dict[str, str]:
    """The ``amm backtest`` baselines config on the test window, once per fee tier."""
    import dataclasses

    from backtests.config import load_run_config
    from backtests.runner import run_backtest

    base = load_run_config(BASELINES_CONFIG).with_overrides(
        catalog=Path(cfg.catalog), start=test.start, end=test.end, out_dir=Path(cfg.out) / "baselines",
    )
    out = {}
    for tier in cfg.fee_tiers:
        spec = dataclasses.replace(base, name=f"baselines-{tier}",
                                   venue=base.venue.with_overrides(FEE_TIERS[tier], where=f"fee tier {tier}"))
        result = run_backtest(spec, progress=cfg.progress)
        out[tier] = str(result.run_dir)
        console.print(f"{tier}: {result.run_dir}")
    return out


def train_agents(cfg: DemoConfig, console: Any) -> list[dict[str, Any]]:
    """Train one agent per algorithm and seed; return their run directories and validation metrics."""
    from rl.train import load_run_config, train

    runs = []
    for algo in cfg.algorithms:
        for seed in cfg.seeds:
            rc = load_run_config(cfg.run_config_path(algo), catalog=Path(cfg.catalog).resolve(),
                                 overrides={"seed": seed, "total_timesteps": cfg.timesteps})
            console.print(f"training {algo} seed {seed} for {cfg.timesteps:,} steps "
                          f"(train {rc.env.window_start} .. {rc.env.window_end})")
            result = train(rc, out_dir=Path(cfg.out) / "runs", progress_bar=cfg.progress)
            console.print(f"  -> {result.run_dir} ({result.seconds:.0f} s, validation mean reward "
                          f"{result.metrics['validation_mean_reward']:.2f})")
            runs.append({"algorithm": algo, "seed": seed, "run_dir": str(result.run_dir),
                         "seconds": round(result.seconds, 1),
                         "validation_mean_reward": result.metrics["validation_mean_reward"]})
    return runs


def evaluate_agents(cfg: DemoConfig, runs: Sequence[Mapping[str, Any]], console: Any) -> list[dict[str, Any]]:
    """``amm evaluate`` of every run on its test window at every fee tier."""
    from rl.evaluate import EvaluateRequest, evaluate

    reports = []
    for run in runs:
        for tier in cfg.fee_tiers:
            report = evaluate(EvaluateRequest(model=Path(run["run_dir"]), progress=cfg.progress,
                                              venue_overrides=FEE_TIERS[tier], name=f"evaluate-{tier}"))
            console.print(f"{run['algorithm']} seed {run['seed']} at {tier}: {report['run_dir']}")
            reports.append({"algorithm": run["algorithm"], "seed": run["seed"], "fee_tier": tier,
                            "run_dir": report["run_dir"], "strategies": report["strategies"],
                            "evaluated": report["evaluated"]})
    return reports


def aggregate(reports: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per fee tier and strategy: mean, sample std and n of every column over the runs.

    Each baseline runs once beside every agent (same window, venue and fill seed, hence the same
    result each time); its spread over runs is therefore zero, which the table shows.
    """
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    for rep in reports:
        tier = values.setdefault(rep["fee_tier"], {})
        for name, row in rep["strategies"].items():
            cols = tier.setdefault(name, {})
            for key, _, _ in COLUMNS:
                v = row.get(key)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    cols.setdefault(key, []).append(float(v))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for tier, strategies in values.items():
        out[tier] = {}
        for name, cols in strategies.items():
            out[tier][name] = {
                key: {"mean": sum(v) / len(v), "std": _std(v), "n": len(v)} for key, v in cols.items()
            }
    return out


def _std(v: Sequence[float]) -> float:
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def _cell(stats: Mapping[str, Any] | None, fmt: str) -> str:
    if not stats:
        return "-"
    return f"{fmt.format(stats['mean'])} ± {fmt.format(stats['std'])}"


def verdict(table: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    """Per agent: does its mean Sharpe beat every baseline's?"""
    agents = [n for n in table if n.startswith("agent_")]
    baselines = [n for n in table if not n.startswith("agent_")]
    out = {}
    for a in agents:
        s = (table[a].get("sharpe") or {}).get("mean")
        others = [(table[b].get("sharpe") or {}).get("mean") for b in baselines]
        out[a] = s is not None and all(o is None or s > o for o in others)
    return out


def markdown(table: Mapping[str, Mapping[str, Any]], tier: str) -> str:
    """The comparison of one fee tier as a Markdown table (what docs/results.md shows)."""
    fees = FEE_TIERS[tier]
    title = (f"Fee tier `{tier}` (maker {float(fees['maker_fee']) * 1e4:+.1f} bp, "
             f"taker {float(fees['taker_fee']) * 1e4:.1f} bp); mean ± std over runs (n):")
    lines = [title, "",
             "| strategy | n | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---|---:|" + "---:|" * len(COLUMNS)]
    for name, cols in sorted(table.items(), key=lambda kv: (not kv[0].startswith("agent_"), kv[0])):
        n = max((c["n"] for c in cols.values()), default=0)
        lines.append(f"| {name} | {n} | " + " | ".join(_cell(cols.get(k), f) for k, _, f in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def print_tables(agg: Mapping[str, Mapping[str, Any]], console: Any) -> None:
    from rich.table import Table

    for tier, table in agg.items():
        fees = FEE_TIERS[tier]
        t = Table(title=f"test window, fee tier {tier} (maker {float(fees['maker_fee']) * 1e4:+.1f} bp, "
                        f"taker {float(fees['taker_fee']) * 1e4:.1f} bp), mean ± std over runs")
        t.add_column("strategy")
        t.add_column("n", justify="right")
        for _, header, _ in COLUMNS:
            t.add_column(header, justify="right")
        for name, cols in sorted(table.items(), key=lambda kv: (not kv[0].startswith("agent_"), kv[0])):
            n = max((c["n"] for c in cols.values()), default=0)
            t.add_row(name, str(n), *(_cell(cols.get(k), f) for k, _, f in COLUMNS))
        console.print(t)
        for agent, beats in verdict(table).items():
            console.print(f"{tier}: {agent} mean Sharpe {'beats' if beats else 'does NOT beat'} every baseline")


def artefacts(paths: Sequence[str]) -> list[str]:
    """Market-making reports, QuantStats tearsheets and equity-comparison plots under the given run
    directories (each strategy directory beside a tearsheet also holds equity / inventory / quotes
    plots)."""
    found = []
    for p in paths:
        for pattern in ("mm_report.html", "equity_comparison.png", "*/tearsheet.html"):
            found.extend(str(f) for f in sorted(Path(p).glob(pattern)))
    return found


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step; return (and write) the summary. Raises on any failure."""
    from rich.console import Console

    from rl.train import load_run_config

    # Paths are printed whole (soft wrap); off a terminal the tables get room for their columns.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n = 5
    first = load_run_config(cfg.run_config_path(cfg.algorithms[0]), catalog=Path(cfg.catalog).resolve())
    windows = {k: (None if w is None else {"start": w.start, "end": w.end}) for k, w in first.windows().items()}
    summary: dict[str, Any] = {"config": {k: (str(v) if isinstance(v, Path) else v)
                                          for k, v in cfg.__dict__.items()},
                               "windows": windows, "fee_tiers": {t: FEE_TIERS[t] for t in cfg.fee_tiers}}

    _step(console, 1, n, "ingest the Binance USD-M capture")
    summary["ingest"] = ingest(cfg, console)
    console.print("windows: " + ", ".join(f"{k} {w['start']} .. {w['end']}" for k, w in windows.items() if w))

    _step(console, 2, n, "baselines (backtests/configs/usdm_btcusdt_baselines.toml) on the test window")
    summary["baselines"] = run_baselines(cfg, first.test, console) if cfg.baselines else {}

    _step(console, 3, n, f"train {', '.join(cfg.algorithms)} x seeds {list(cfg.seeds)}")
    runs = train_agents(cfg, console)
    summary["runs"] = runs

    _step(console, 4, n, "evaluate the agents vs the baselines on the held-out test window")
    reports = evaluate_agents(cfg, runs, console)
    summary["evaluations"] = [{k: r[k] for k in ("algorithm", "seed", "fee_tier", "run_dir")} for r in reports]
    agg = aggregate(reports)
    summary["comparison"] = agg
    summary["agent_beats_every_baseline_on_sharpe"] = {t: verdict(tab) for t, tab in agg.items()}

    _step(console, 5, n, "comparison")
    print_tables(agg, console)
    md = "".join(markdown(agg[t], t) + "\n" for t in agg)
    (out / "walkforward.md").write_text(md)
    snippet = out / "live_strategy.toml"
    snippet.write_text(live_snippet(runs[0]["run_dir"]))
    files = artefacts([*summary["baselines"].values(), *(r["run_dir"] for r in reports)])
    summary["artefacts"] = files
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    console.print("market-making reports, tearsheets and plots (each strategy directory also has "
                  "equity/inventory/quotes.png):")
    for f in files:
        console.print(f"  {f}")
    model = Path(runs[0]["run_dir"]) / "model.zip"
    console.print(f"model: {model} (manifest {model.with_suffix('.manifest.json')})")
    console.print(f"  amm evaluate --model {runs[0]['run_dir']}")
    console.print(f"  amm live: strategy block for a live config in {snippet}")
    console.print(f"summary: {out / 'summary.json'}, table: {out / 'walkforward.md'} "
                  f"({summary['seconds']:.0f} s)")
    return summary


app = typer.Typer(add_completion=False, help=__doc__.split("\n", 1)[0])


@app.command()
def main(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Directory with binance_ws/usdm/ (default: $AMM_DATA_DIR or the shared data).")] = None,
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog to ingest into (idempotent).")] = Path("catalogs/demo"),
    out: Annotated[Path, typer.Option("--out", help="Output directory (runs, baselines, summary).")] = Path("runs/demo"),
    timesteps: Annotated[int, typer.Option("--timesteps", min=1, help="Training steps per agent.")] = 30_000,
    algorithm: Annotated[list[str] | None, typer.Option("--algorithm", "-a", help="Algorithm (repeatable): ppo, dqn.")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", "-s", help="Seed (repeatable).")] = None,
    fee_tier: Annotated[list[str] | None, typer.Option("--fee-tier", help=f"Fee tier (repeatable): {', '.join(FEE_TIERS)}.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Run the amm backtest baselines config too.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
) -> None:
    """Ingest, run the baselines, train, evaluate on held-out data, print the comparison."""
    cfg = DemoConfig(data_dir=data_dir, catalog=catalog, out=out, timesteps=timesteps,
                     algorithms=tuple(algorithm or ("ppo",)), seeds=tuple(seed or (0,)),
                     fee_tiers=tuple(fee_tier or ("vip0", "mm_rebate")), baselines=baselines,
                     progress=progress)
    run_demo(cfg)


if __name__ == "__main__":
    run_with_policy(app)
