"""``amm train``, ``amm evaluate`` and ``amm synth as-model``.

Heavy imports (torch, Stable-Baselines3, Nautilus engines) happen inside the commands so that
``amm --help`` stays fast. Bad input raises ``ValueError`` or ``OSError`` naming the file; the
application (:mod:`amm.errors`) prints it as one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

synth_app = typer.Typer(help="Write synthetic market data with a known optimal strategy.", no_args_is_help=True)


def train_command(
    config: Annotated[Path | None, typer.Option("--config", help="Run config YAML (see docs/results.md).")] = None,
    catalog: Annotated[Path | None, typer.Option("--catalog", "-c", help="Override env.catalog_path.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory that receives the run directory.")] = Path("runs"),
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint (a finished run is refused).")] = None,
    n_envs: Annotated[int | None, typer.Option("--n-envs", min=1, help="Parallel training envs (SubprocVecEnv).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
    timesteps: Annotated[int | None, typer.Option("--timesteps", min=1, help="Override total_timesteps.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show SB3's progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON on stdout.")] = False,
) -> None:
    """Train an agent (PPO, A2C, SAC, DQN, RecurrentPPO or tabular Q-learning) on the market-making env.

    Writes runs/{env}__{exp}__{seed}__{time}/ with config.yml, model.zip + manifest,
    vecnormalize.pkl, best/, checkpoints/, eval/ and TensorBoard logs in tb/.
    """
    from rl.train import load_run_config, resume_config, train

    overrides = {}
    if seed is not None:
        overrides["seed"] = seed
    if timesteps is not None:
        overrides["total_timesteps"] = timesteps
    if resume is not None:
        given = [flag for flag, value in (("--config", config), ("--catalog", catalog), ("--n-envs", n_envs),
                                          ("--seed", seed), ("--timesteps", timesteps)) if value is not None]
        if given:
            raise ValueError(f"--resume continues the run with its own config.yml; do not pass {', '.join(given)}")
        cfg = resume_config(resume)
    elif config is None:
        raise ValueError("--config FILE is required (or --resume RUN_DIR)")
    else:
        cfg = load_run_config(config, catalog=catalog, n_envs=n_envs, overrides=overrides)
    result = train(cfg, out_dir=out, resume=resume, progress_bar=progress and not as_json)
    summary = {
        "run_dir": str(result.run_dir),
        "model": str(result.model_path),
        "num_timesteps": result.num_timesteps,
        "seconds": round(result.seconds, 2),
        **{k: v for k, v in result.metrics.items() if k != "validation_episode_rewards"},
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"run: {result.run_dir}")
        typer.echo(
            f"validation mean reward {result.metrics['validation_mean_reward']:.3f} "
            f"+/- {result.metrics['validation_std_reward']:.3f} over {result.metrics['validation_episodes']} episodes "
            f"({result.num_timesteps} steps, {result.seconds:.1f} s)",
        )


def evaluate_command(
    model: Annotated[Path, typer.Option("--model", help="Run directory (or its model.zip) to evaluate.")],
    catalog: Annotated[Path | None, typer.Option("--catalog", "-c", help="Catalog (default: the run's).")] = None,
    instrument: Annotated[str | None, typer.Option("--instrument", help="Instrument id (default: the run's).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Window start (default: the run's test window).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Window end (default: the run's test window).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default RUN_DIR/evaluate).")] = None,
    venue: Annotated[list[str] | None, typer.Option(
        "--venue", metavar="FIELD=VALUE",
        help="Override a field of the run's venue model for this evaluation (repeatable), e.g. "
             "--venue fee_model=fixed_rates --venue maker_fee=-0.00005 --venue taker_fee=0.00025.",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics of each strategy as JSON on stdout.")] = False,
) -> None:
    """Run the trained policy and the baselines on one window with one venue model; compare them."""
    from backtests.venue import VenueModelConfig
    from rl.evaluate import EvaluateRequest, evaluate, render_table

    overrides = VenueModelConfig.parse_overrides(venue or [])
    report = evaluate(EvaluateRequest(model=model, catalog=catalog, instrument=instrument,
                                      start=start, end=end, out=out, progress=not as_json,
                                      venue_overrides=overrides or None))
    if as_json:
        typer.echo(json.dumps(report, default=str))
    else:
        render_table(report)


@synth_app.command("as-model")
def synth_as_model(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Target ParquetDataCatalog directory.")],
    duration_s: Annotated[float, typer.Option("--duration-s", help="Session length (seconds).")] = 3600.0,
    start: Annotated[str, typer.Option("--start", help="UTC start (ISO-8601).")] = "2024-01-01T00:00:00Z",
    step_ms: Annotated[int, typer.Option("--step-ms", help="Mid-update / decision interval (ms).")] = 1000,
    sigma_ticks: Annotated[float, typer.Option("--sigma-ticks", help="Mid volatility, ticks per sqrt(s).")] = 1.0,
    arrival_rate: Annotated[float, typer.Option("--arrival-rate", help="Market orders per second per side (lambda).")] = 1.0,
    kappa_per_tick: Annotated[float, typer.Option("--kappa-per-tick", help="Fill-probability decay per tick (kappa).")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 0,
    configs_dir: Annotated[Path | None, typer.Option("--configs-dir", help="Also write run configs <algo>.yml for `amm train` here.")] = None,
    timesteps: Annotated[int, typer.Option("--timesteps", help="total_timesteps of the written run configs.")] = 200_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write Avellaneda-Stoikov model data (ABM mid, Poisson market orders at exp(-kappa*depth))."""
    import yaml

    from rl.agents import ALGORITHMS
    from rl.synth import ASModelConfig, synth_run_config, write_as_model

    cfg = ASModelConfig(duration_s=duration_s, start=start, step_ms=step_ms, sigma_ticks_per_sqrt_s=sigma_ticks,
                        arrival_rate_per_s=arrival_rate, kappa_per_tick=kappa_per_tick, seed=seed)
    result = write_as_model(cfg, catalog, progress=not as_json)
    if configs_dir is not None:
        configs_dir.mkdir(parents=True, exist_ok=True)
        for algo in ALGORITHMS:
            rc = synth_run_config(cfg, catalog.resolve(), algorithm=algo, exp=f"synth-{algo}", total_timesteps=timesteps)
            (configs_dir / f"{algo}.yml").write_text(yaml.safe_dump(rc, sort_keys=False))
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(f"wrote {result.quotes:,} quotes and {result.trades:,} trades of {result.instrument_id} into {catalog}")


@synth_app.command("compare")
def synth_compare(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="Catalog written by `amm synth as-model`.")],
    runs: Annotated[list[Path], typer.Argument(help="Run directories of trained agents (model.zip verified).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Run config for env/windows when no run is given.")] = None,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Test episodes (evenly spaced, aligned starts).")] = 20,
    fixed_half_spread: Annotated[list[float], typer.Option("--fixed-half-spread", help="Naive fixed half-spreads (ticks).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON on stdout.")] = False,
) -> None:
    """Mean episode reward on the TEST window: reference (closed form) vs agents vs fixed spreads."""
    from rl.synth import compare

    report = compare(catalog, runs or [], config=config, episodes=episodes,
                     fixed_half_spreads=fixed_half_spread or [1.0, 5.0])
    if as_json:
        typer.echo(json.dumps(report))
        return
    for row in report["rows"]:
        typer.echo(f"{row['name']:<48} {row['mean_reward']:10.2f} +/- {row['std_reward']:8.2f}  ({row['ratio_to_reference']:.3f} x ref)")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and the ``synth`` group to the root ``amm`` app."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.add_typer(synth_app, name="synth")
