"""Throughput of the RL environment against the engine it wraps.

Prints, on the same catalog window and the same pre-drawn random actions:

1. raw engine events/s (no strategy: the cost floor of the replay);
2. the upper bound: the *same* decision loop acting in its own timer, with no environment
   (``PolicyMarketMaker`` with a replay policy), in decisions/s;
3. the environment's steps/s with a random policy (greenlet hand-over);
4. the ratios env / upper bound,

and ends with ONE JSON line. Targets: env >= 85% of the upper bound (``ratio_target_met``), and
>= 3,000 steps/s (``steps_target_met``; set on NautilusTrader 1.221, whose engine costs about
half as much per event as 1.231's: ``benchmarks/engine_raw.py``). ``--book-type L2_MBP`` runs
the L2 venue with queue position (each episode starts from an in-memory book image).

Run: ``python benchmarks/env.py`` (builds a temporary catalog from the bundled
``binance_ws/usdm/btcusdt_20240808.gz`` unless ``--catalog`` is given).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_catalog(target: Path, source: Path) -> Path:
    """Ingest one binance_ws capture into a fresh catalog at ``target``."""
    from catalog.ingest import ingest_files

    ingest_files("binance-ws", [source], target)
    return target


class ReplayPolicy:
    """Returns pre-drawn actions in order (the benchmark's 'random policy' without env)."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = actions
        self.i = 0

    def predict(self, observation, deterministic: bool = True):
        a = self.actions[self.i]
        self.i += 1
        return a, None


def bench_raw_engine(env) -> float:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig

    engine = BacktestEngine(
        BacktestEngineConfig(logging=env.config.logging_config(), run_analysis=False),
    )
    env.config.venue.add_to_engine(engine, [env.instrument])
    env.feed.register(engine)
    env.attach_feed(engine, env._run_start(env.feed.data[0].ts_init))
    t0 = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - t0
    engine.dispose()
    return len(env.feed.data) / seconds


def bench_in_strategy(env, starts: list[int], actions: list[np.ndarray]) -> float:
    """Same episodes and actions, decided inside the strategy's own timer."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.model.identifiers import TraderId

    from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig

    agent = env.config.agent
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId(env.config.trader_id),
            logging=env.config.logging_config(),  # Nautilus logs once per process: same for all
            run_analysis=False,
        ),
    )
    env.config.venue.add_to_engine(engine, [env.instrument])
    feed = env.feed  # the env's data path: the bound differs only by the hand-over
    feed.register(engine)
    steps = 0
    t0 = time.perf_counter()
    for first, acts in zip(starts, actions, strict=True):
        engine.reset()
        engine.clear_strategies()
        strat = PolicyMarketMaker(
            PolicyMarketMakerConfig(
                agent=agent,
                max_decisions=agent.horizon_steps,
                flatten_on_stop=False,
                log_events=False,  # as the env's host strategy: same work per decision
                log_commands=False,
            ),
            policy=ReplayPolicy(acts),
            first_decision_ns=first,
        )
        engine.add_strategy(strat)
        end = first + agent.horizon_steps * agent.decision_interval_ns
        run_start = env._run_start(first)
        env.attach_feed(engine, run_start)
        engine.run(start=run_start, end=min(end, feed.end_ns))
        steps += strat.step_index
    seconds = time.perf_counter() - t0
    engine.dispose()
    return steps / seconds


def bench_env(env, actions: list[np.ndarray], seed: int) -> tuple[float, list[int], float]:
    """Steps/s over whole episodes (resets included), the episode starts, and ms per reset."""
    steps = 0
    starts: list[int] = []
    reset_s = 0.0
    t0 = time.perf_counter()
    for ep, acts in enumerate(actions):
        t_reset = time.perf_counter()
        _, info = env.reset(seed=seed if ep == 0 else None)
        reset_s += time.perf_counter() - t_reset
        starts.append(info["first_decision_ns"])
        i = 0
        done = False
        while not done:
            _, _, term, trunc, _ = env.step(acts[i])
            i += 1
            done = term or trunc
        steps += i
    seconds = time.perf_counter() - t0
    return steps / seconds, starts, reset_s / len(actions) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=None)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=1000, help="decisions per episode")
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--book-type", default="L1_MBP", choices=("L1_MBP", "L2_MBP"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3,
                        help="env and in-strategy runs, alternating; the best of each counts")
    parser.add_argument("--log-level", default="off", choices=("off", "ERROR", "WARNING", "INFO"),
                        help="Nautilus logging of every engine here (EnvConfig.log_level; off = bypassed)")
    args = parser.parse_args(argv)

    from catalog.settings import data_file
    from strategies.agent import AgentConfig
    from rl.config import EnvConfig
    from rl.env import MarketMakingEnv
    from backtests.venue import VenueModelConfig

    tmp = None
    catalog = args.catalog
    if catalog is None:
        tmp = tempfile.TemporaryDirectory(prefix="amm-bench-env-")
        print("building catalog from binance_ws/usdm/btcusdt_20240808.gz ...", file=sys.stderr)
        catalog = build_catalog(Path(tmp.name) / "catalog",
                                data_file("binance_ws/usdm/btcusdt_20240808.gz"))

    agent = AgentConfig(
        book_type=args.book_type,
        decision_interval_ms=args.interval_ms,
        horizon_steps=args.horizon,
    )
    config = EnvConfig(
        catalog_path=catalog,
        agent=agent,
        venue=VenueModelConfig(book_type=args.book_type),
        log_level=None if args.log_level == "off" else args.log_level,
    )
    rng = np.random.default_rng(args.seed)
    results: dict[str, float] = {}
    env = MarketMakingEnv(config)
    n = env.action_space.n
    actions = [rng.integers(0, n, args.horizon + 1) for _ in range(args.episodes)]

    results["raw_engine_events_per_s"] = bench_raw_engine(env)
    print(f"raw engine: {results['raw_engine_events_per_s']:,.0f} events/s "
          f"({len(env.feed.data):,} events, no strategy)")

    # Env and bound alternate, --repeats times each, and the best run of each counts: on a
    # shared machine a single pair's ratio swung from 0.75 to 1.25 with the neighbours' load.
    env_runs, bound_runs, resets = [], [], []
    for _ in range(args.repeats):
        env_sps, starts, reset_ms = bench_env(env, actions, args.seed)
        env_runs.append(env_sps)
        resets.append(reset_ms)
        bound_runs.append(bench_in_strategy(env, starts, actions))
    env.close()
    env_sps = max(env_runs)
    reset_ms = min(resets)
    results["env_steps_per_s"] = env_sps
    results["env_reset_ms"] = reset_ms
    results["in_strategy_steps_per_s"] = max(bound_runs)
    print(f"in-strategy upper bound: {results['in_strategy_steps_per_s']:,.0f} decisions/s "
          f"(runs: {', '.join(f'{x:,.0f}' for x in bound_runs)})")
    print(f"env (greenlet): {env_sps:,.0f} steps/s (runs: {', '.join(f'{x:,.0f}' for x in env_runs)}), "
          f"reset {reset_ms:.1f} ms per episode "
          f"(engine reset, host swap, {env.config.agent.warmup_ms} ms warm-up replay)")

    results["env_over_upper_bound"] = env_sps / results["in_strategy_steps_per_s"]
    events_per_step = len(env.feed.data) / ((env.window_ns[1] - env.window_ns[0]) / 1e9) * (
        args.interval_ms / 1000
    )
    print(f"ratio env/upper bound: {results['env_over_upper_bound']:.1%}; ~{events_per_step:.0f} events/step")
    out = {
        "benchmark": "env",
        "book_type": args.book_type,
        "interval_ms": args.interval_ms,
        "episodes": args.episodes,
        "horizon": args.horizon,
        "log_level": args.log_level,
        "repeats": args.repeats,
        "events_per_step": round(events_per_step, 1),
        **{k: round(v, 4 if "over" in k else 1) for k, v in results.items()},
        # >= 85% of the in-strategy bound: the hand-over's cost (the target of the port to 1.231);
        # >= 3,000 steps/s: the absolute target of the env's first version, on NautilusTrader 1.221
        "ratio_target_met": bool(results["env_over_upper_bound"] >= 0.85),
        "steps_target_met": bool(env_sps >= 3000),
        "target_met": bool(results["env_over_upper_bound"] >= 0.85 and env_sps >= 3000),
    }
    print(json.dumps(out))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
