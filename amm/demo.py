"""``python -m amm.demo`` (``make demo``): train and test a market maker on a full NASDAQ day.

The main job end to end on LOBSTER's free samples of 2012-06-21 (GOOG, 10 levels; AMZN, 5
levels; ``$AMM_DATA_DIR/lobster/``), with the split of issue 14 (docs/results.md §12):

1. ingest both days into a ``ParquetDataCatalog`` (idempotent: a second run adds nothing);
2. train the PPO recipe of ``rl/configs/lobster_goog_ppo.yml`` on the GOOG morning (09:30-12:30
   ET), selecting its checkpoint on the midday (12:30-14:00 ET), one run per seed;
3. walk forward on the test afternoon (14:00-16:00 ET) in four half-hour windows: the agent on
   GOOG and, unseen, on AMZN, against the four tuned baselines of each stock
   (``backtests/walkforward/lobster_test.toml`` with this demo's models), as Ray tasks;
4. print per stock and strategy the mean Sharpe per hour, PnL, drawdown and inventory with 95 %
   bootstrap intervals over the windows, and the agent's paired difference to the stock's
   benchmark (the best tuned baseline on the midday);
5. replay 90 s of the afternoon through ``amm live`` (a ``TradingNode`` on the sandbox exchange)
   with the trained model, unchanged: the ``[[strategies]]`` block of ``amm.live_block``, the
   one a paper or live deployment pastes.

Everything the demo runs is an ordinary command's work (``amm ingest``, ``amm train``,
``amm walkforward``, ``amm live``); the demo writes the files those commands read into ``--out``
so each step reruns alone. One seed and four windows of one afternoon say how this agent did on
this afternoon, not how it does on other days: docs/results.md §12 has five seeds per stock.
The older six-minute USD-M walk-forward is ``python -m amm.demo_usdm``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from amm.errors import run_with_policy

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip", "lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip")
RUN_CONFIG = ROOT / "rl" / "configs" / "lobster_goog_ppo.yml"
WALKFORWARD = ROOT / "backtests" / "walkforward" / "lobster_test.toml"
AGENT = "agent_goog"

LIVE_REPLAY = {"start": "2012-06-21T18:00:00Z", "end": "2012-06-21T18:01:30Z"}
"""The ``amm live`` replay: the first 90 s of the test afternoon (the agent's 60 s warm-up, then
its decisions), at real-time speed (a strategy's timers run on the wall clock in a replay)."""

# Columns of the printed table: (metric, header, format).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sharpe_per_hour", "Sharpe/h", "{:.2f}"),
    ("total_pnl", "PnL (USD)", "{:.0f}"),
    ("max_drawdown", "MaxDD (USD)", "{:.0f}"),
    ("inventory_mean_abs", "mean |inv|", "{:.0f}"),
    ("fills", "fills", "{:.0f}"),
)


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """What one demo run does.

    Parameters
    ----------
    data_dir : Path or None
        Directory holding ``lobster/LOBSTER_SampleFile_*``; None = ``catalog.settings.data_dir()``.
    catalog : Path
        Catalog to ingest into (idempotent).
    out : Path
        Receives ``runs/`` (one training run per seed), ``walkforward/``, ``walkforward.yml``,
        ``live_replay.toml``, ``live.json`` and ``summary.json``.
    timesteps : int or None
        Training budget per seed (None: the run config's, 60,000 one-second steps).
    seeds : tuple of int
        One agent per seed (the walk-forward averages them within a window).
    live : bool
        Run the ``amm live`` replay step.
    progress : bool
        Progress bars (SB3 training).
    window_minutes : int or None
        Walk only the first this many minutes of each half-hour test window (a quick check of the
        whole job, as the tests run it); None: the whole windows, the demo's result.
    """

    data_dir: Path | None = None
    catalog: Path = Path("catalogs/lobster")
    out: Path = Path("runs/demo")
    timesteps: int | None = None
    seeds: tuple[int, ...] = (0,)
    live: bool = True
    progress: bool = True
    window_minutes: int | None = None

    def __post_init__(self) -> None:
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"DemoConfig.timesteps must be >= 1 (got {self.timesteps})")
        if self.window_minutes is not None and not 1 <= self.window_minutes <= 30:
            raise ValueError(f"DemoConfig.window_minutes must be 1 to 30 (got {self.window_minutes})")
        if not self.seeds:
            raise ValueError("DemoConfig.seeds: need at least one seed")

    def source_files(self) -> list[Path]:
        if self.data_dir is None:
            from catalog.settings import data_file

            return [data_file(s) for s in SOURCES]
        paths = [Path(self.data_dir) / s for s in SOURCES]
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: the LOBSTER sample file is missing (check --data-dir)")
        return paths


def _step(console: Any, i: int, n: int, text: str) -> None:
    console.rule(f"[bold][{i}/{n}] {text}")


def ingest(cfg: DemoConfig, console: Any) -> dict[str, Any]:
    """Both LOBSTER days into the catalog (a no-op on a complete catalog)."""
    from catalog.ingest import ingest_files

    files = cfg.source_files()
    result = ingest_files("lobster", files, Path(cfg.catalog))
    rows = {k: v for k, v in result.commit.rows_added.items() if v}
    console.print(f"{', '.join(f.name for f in files)} -> {cfg.catalog}: rows added {rows or 'none (already ingested)'}")
    return {"sources": [str(f) for f in files], "catalog": str(cfg.catalog), "rows_added": rows}


def train_agents(cfg: DemoConfig, console: Any) -> list[dict[str, Any]]:
    """``amm train`` of the GOOG recipe, once per seed."""
    from rl.train import load_run_config, train

    runs = []
    for seed in cfg.seeds:
        overrides: dict[str, Any] = {"seed": seed}
        if cfg.timesteps is not None:
            overrides["total_timesteps"] = cfg.timesteps
        rc = load_run_config(RUN_CONFIG, catalog=Path(cfg.catalog).resolve(), overrides=overrides)
        console.print(f"training PPO seed {seed} for {rc.total_timesteps:,} steps on {rc.env.agent.instrument_id} "
                      f"{rc.env.window_start} .. {rc.env.window_end} (validation {rc.validation.start} .. {rc.validation.end})")
        result = train(rc, out_dir=Path(cfg.out) / "runs", progress_bar=cfg.progress)
        console.print(f"  -> {result.run_dir} ({result.seconds:.0f} s, validation mean reward "
                      f"{result.metrics['validation_mean_reward']:.1f})")
        runs.append({"seed": seed, "run_dir": str(result.run_dir), "seconds": round(result.seconds, 1),
                     "validation_mean_reward": result.metrics["validation_mean_reward"]})
    return runs


def walkforward_file(cfg: DemoConfig) -> Path:
    """``lobster_test.toml`` with this demo's models in place of the shipped runs, written to
    ``<out>/walkforward.yml`` (``amm walkforward --config`` reruns it)."""
    import yaml

    data = tomllib.loads(WALKFORWARD.read_text())
    for entry in data["backtests"]:
        entry["run"] = str((ROOT / entry["run"]).resolve())
        entry["catalog"] = str(Path(cfg.catalog).resolve())
    (shipped,) = [m for m in data["models"] if m["name"] == AGENT]
    data["models"] = [{**shipped, "path": str(Path(cfg.out).resolve() / "runs" / "MarketMaking-v0__lobster_goog_ppo__*")}]
    data["walkforward"]["name"] = "demo"
    if cfg.window_minutes is not None:
        import pandas as pd

        for w in data["windows"]:
            end = pd.Timestamp(w["start"]) + pd.Timedelta(minutes=cfg.window_minutes) - pd.Timedelta(milliseconds=1)
            w["end"] = end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    path = Path(cfg.out) / "walkforward.yml"
    path.write_text("# Written by python -m amm.demo from backtests/walkforward/lobster_test.toml\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def walk_forward(cfg: DemoConfig, console: Any) -> tuple[Any, Any]:
    """Run the test-afternoon grid on local Ray (2 tasks at a time); the grid and its result."""
    import shutil

    from amm.walkforward import load_walkforward, run_walkforward

    wf = load_walkforward(walkforward_file(cfg))
    directory = Path(cfg.out) / "walkforward"
    if (directory / wf.table.name).exists():  # a rerun of the demo replaces its own grid
        shutil.rmtree(directory / wf.table.name)
    console.print(f"{len(wf.tasks)} tasks: {len({t.strategy for t in wf.tasks})} strategies x "
                  f"{len({t.instrument for t in wf.tasks})} stocks x {len({t.window for t in wf.tasks})} windows")
    return wf, run_walkforward(wf, out=directory)


def _cell(row: Mapping[str, Any], metric: str, fmt: str) -> str:
    mean, lo, hi = row.get(metric), row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if mean is None or not math.isfinite(mean):
        return "-"
    text = fmt.format(mean)
    if lo is not None and math.isfinite(lo):
        text += f" [{fmt.format(lo)}, {fmt.format(hi)}]"
    return text


def print_tables(wf: Any, result: Any, console: Any, window_minutes: int | None = None) -> None:
    """Per stock and strategy: every column's mean [95 % interval]; then the paired differences."""
    from rich.table import Table

    from amm.walkforward import benchmark_label

    windows = "four half-hour windows" if window_minutes is None else f"the first {window_minutes} min of four half-hour windows"
    t = Table(title=f"test afternoon 14:00-16:00 ET, {windows}: mean [95 % bootstrap CI] over windows")
    for header in ("stock", "strategy", "n"):
        t.add_column(header)
    for _, header, _ in COLUMNS:
        t.add_column(header, justify="right")
    summary = result.summary
    for row in summary[summary["instrument"] != "*"].to_dict("records"):
        name = row["strategy"] + (" (unseen stock)" if row["strategy"] == AGENT and row["instrument"] != "GOOG.XNAS" else "")
        t.add_row(row["instrument"], name, str(row["n"]), *(_cell(row, m, f) for m, _, f in COLUMNS))
    console.print(t)
    table = result.paired
    if len(table):
        p = Table(title=f"paired difference in Sharpe/h to the benchmark ({benchmark_label(wf.table)}), window by window")
        for header in ("stock", "strategy", "benchmark", "n", "mean [95 % CI]", "windows better"):
            p.add_column(header)
        for row in table.to_dict("records"):
            ci = f"{row['mean_diff']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]" if math.isfinite(row["ci_low"]) else f"{row['mean_diff']:+.2f}"
            p.add_row(row["instrument"], row["strategy"], str(row["benchmark"]), str(row["n_windows"]), ci,
                      f"{row['better']} of {row['n_windows']}")
        console.print(p)
        agent = table[(table["strategy"] == AGENT) & (table["instrument"] != "*")]
        for row in agent.to_dict("records"):
            above = math.isfinite(row["ci_low"]) and row["ci_low"] > 0
            console.print(f"{row['instrument']}: {AGENT} {'beats' if above else 'does NOT beat'} {row['benchmark']} "
                          f"(the 95 % interval of the paired difference is {'above' if above else 'not above'} zero)")


def live_file(cfg: DemoConfig, run_dir: Path) -> Path:
    """An ``amm live`` replay deployment (``live/configs/replay.toml`` for XNAS) with the trained
    model as its one strategy, the block ``amm.live_block`` writes for any deployment.

    No trading session here: a replay's clock is the wall clock (its timers fire in real time),
    so a session of 09:30-16:00 New York time would follow today's hour, not the data's.
    """
    from amm.live_block import live_snippet

    source = ROOT / "live" / "configs" / "replay.toml"
    text = source.read_text()
    head = text[: text.index("[[strategies]]")]
    for old, new in (('name = "BINANCE"                      # the catalog\'s venue', 'name = "XNAS"'),
                     ("speed = 10.0", "speed = 1.0"),
                     ('["deltas", "trades", "quotes"]', '["deltas", "trades"]'),
                     ('starting_balances = ["100000 USDT"]', 'starting_balances = ["250000 USD"]'),
                     ("default_leverage = 5", "default_leverage = 4")):
        if old not in head:  # the shipped replay file changed: say so rather than replay BINANCE
            raise RuntimeError(f"{source}: no line {old!r} to set for the XNAS replay")
        head = head.replace(old, new)
    path = Path(cfg.out) / "live_replay.toml"
    path.write_text("# Written by python -m amm.demo: the trained model on a TradingNode, replaying the catalog\n"
                    "# onto the sandbox exchange (live/configs/replay.toml for XNAS).\n" + head
                    + live_snippet(run_dir, name=AGENT))
    return path


def live_replay(cfg: DemoConfig, run_dir: Path, console: Any) -> dict[str, Any]:
    """``amm live --replay`` of the trained model over the first 90 s of the test afternoon."""
    config = live_file(cfg, run_dir)
    cmd = [sys.executable, "-m", "amm.cli", "live", "--config", str(config), "--replay", str(cfg.catalog),
           "--start", LIVE_REPLAY["start"], "--end", LIVE_REPLAY["end"], "--json"]
    console.print("$ amm " + " ".join(cmd[3:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(f"amm live replay failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")
    report = json.loads(proc.stdout)
    (Path(cfg.out) / "live.json").write_text(json.dumps(report, indent=2))
    console.print(f"amm live: {report['reason']}; {report['orders']} orders, {report['fills']} fills, "
                  f"kill switch clean: {report['kill_switch_clean']}, open orders left: {len(report['open_orders'])}")
    return {"config": str(config), "report": report}


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step; return (and write) the summary. Raises on any failure."""
    from rich.console import Console

    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n = 5 if cfg.live else 4
    summary: dict[str, Any] = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()}}

    _step(console, 1, n, "ingest the LOBSTER GOOG and AMZN days (2012-06-21)")
    summary["ingest"] = ingest(cfg, console)

    _step(console, 2, n, f"train PPO on the GOOG morning, seeds {list(cfg.seeds)}")
    summary["runs"] = train_agents(cfg, console)

    _step(console, 3, n, "walk forward on the test afternoon: the agent and the tuned baselines, GOOG and AMZN")
    wf, result = walk_forward(cfg, console)
    summary["walkforward"] = str(result.directory)

    _step(console, 4, n, "comparison")
    print_tables(wf, result, console, cfg.window_minutes)
    summary["summary"] = json.loads((result.directory / "summary.json").read_text())

    if cfg.live:
        _step(console, 5, n, "the trained model on amm live (offline replay onto the sandbox exchange)")
        summary["live"] = live_replay(cfg, Path(summary["runs"][0]["run_dir"]), console)

    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    console.print(f"walk-forward: {result.directory / 'summary.md'}, plot {result.directory / 'walkforward.png'}, "
                  f"tasks under {result.directory / 'tasks'} (each with its market-making report)")
    console.print(f"model: {summary['runs'][0]['run_dir']}/model.zip; rerun the grid: amm walkforward --config {out / 'walkforward.yml'}")
    console.print(f"summary: {out / 'summary.json'} ({summary['seconds']:.0f} s)")
    return summary


app = typer.Typer(add_completion=False, help=__doc__.split("\n", 1)[0])


@app.command()
def main(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Directory with lobster/ (default: $AMM_DATA_DIR or the shared data).")] = None,
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog to ingest into (idempotent).")] = Path("catalogs/lobster"),
    out: Annotated[Path, typer.Option("--out", help="Output directory (runs, walk-forward, summary).")] = Path("runs/demo"),
    timesteps: Annotated[int | None, typer.Option("--timesteps", min=1, help="Training steps per seed (default: the run config's 60,000).")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", "-s", help="Seed (repeatable).")] = None,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Replay the model through amm live at the end.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    window_minutes: Annotated[int | None, typer.Option("--window-minutes", min=1, max=30, help="Walk only the first N minutes of each test window (a quick check; default: the whole half hours).")] = None,
) -> None:
    """Ingest, train, walk forward on the held-out afternoon, print the table, replay on amm live."""
    cfg = DemoConfig(data_dir=data_dir, catalog=catalog, out=out, timesteps=timesteps,
                     seeds=tuple(seed or (0,)), live=live, progress=progress, window_minutes=window_minutes)
    run_demo(cfg)


if __name__ == "__main__":
    run_with_policy(app)
