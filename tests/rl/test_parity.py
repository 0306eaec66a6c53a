"""One policy path: an env episode and the evaluation path's backtest of ``PolicyMarketMaker`` on
the same window send identical orders and get identical fills and PnL.

The backtest is the one ``amm evaluate`` runs: a ``RunSpec`` through ``backtests.runner``, the
strategy built from plain config data by ``ImportableStrategyConfig``, the data read by the
runner's own ``load_window`` (binance_ws/usdm/btcusdt_20240808.gz), L1 and L2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.config import RunSpec, StrategySpec
from catalog.window import to_ns
from backtests.runner import _write_csv, run_backtest
from backtests.venue import VenueModelConfig
from rl.config import EnvConfig
from rl.env import MarketMakingEnv
from strategies.agent import ActionConfig, AgentConfig
from tests.rl import conftest as rl_helpers

WINDOW = ("2024-08-08T23:56:00Z", "2024-08-08T23:58:00Z")
HORIZON = 300

ORDER_COLS = ["side", "type", "quantity", "price", "filled_qty", "ts_init"]
FILL_COLS = ["order_side", "last_px", "last_qty", "commission", "liquidity_side", "ts_event"]


def _as_written(df: pd.DataFrame, path, cols: list[str], sort: list[str]) -> pd.DataFrame:
    """A report as the runner writes it (CSV), read back as text: the same form on both sides."""
    _write_csv(df, path)
    out = pd.read_csv(path, dtype=str)
    return out[cols].sort_values(sort).reset_index(drop=True)


@pytest.mark.parametrize("book_type,kind", [("L1_MBP", "discrete"), ("L1_MBP", "continuous"),
                                            ("L2_MBP", "discrete")])
def test_env_and_evaluation_backtest_agree(usdm_catalog, tmp_path, book_type, kind):
    agent = AgentConfig(
        book_type=book_type, horizon_steps=HORIZON, warmup_ms=3_000,
        action=ActionConfig(kind=kind), max_inventory=0.005,
    )
    # the realistic 1.231 venue: queue position, trade execution (and liquidity consumption on L2)
    venue = VenueModelConfig(book_type=book_type, seed=123)
    cfg = EnvConfig(
        catalog_path=usdm_catalog, window_start=WINDOW[0], window_end=WINDOW[1], agent=agent,
        venue=venue, random_start=False, seed_policy="venue",
    )
    rng = np.random.default_rng(0)
    env = MarketMakingEnv(cfg)
    if kind == "discrete":
        actions = [int(a) for a in rng.integers(0, env.action_space.n, HORIZON)]
    else:
        actions = [[float(x) for x in a] for a in rng.uniform(-1, 1, (HORIZON, 2)).astype(np.float32)]

    # -- the environment
    try:
        obs, info = env.reset(seed=0)
        env_obs = [obs]
        for a in actions:
            obs, _, term, trunc, info = env.step(np.asarray(a, np.float32) if kind == "continuous" else a)
            env_obs.append(obs)
        assert trunc and not term
        trader = env.engine.trader
        env_orders = _as_written(trader.generate_orders_report(), tmp_path / "env_orders.csv",
                                 ORDER_COLS, ["ts_init", "side"])
        env_fills = _as_written(trader.generate_fills_report(), tmp_path / "env_fills.csv",
                                FILL_COLS, ["ts_event", "order_side"])
        env_position = info["position"]
        env_ledger = env.host.ledger
        run_start = env._run_start(info["ts_ns"] - HORIZON * agent.decision_interval_ns)
        last_ns = info["ts_ns"]

        # -- the evaluation path: a run config through backtests.runner
        policy = StrategySpec(
            "agent", "strategies.policy:PolicyMarketMaker", "strategies.policy:PolicyMarketMakerConfig",
            {"agent": agent.to_dict(), "policy_loader": "tests.rl.conftest:replay_loader",
             "policy_kwargs": {"actions": actions}, "max_decisions": HORIZON,
             "flatten_on_stop": False},
        )
        spec = RunSpec(
            name="parity", catalog=usdm_catalog, instrument_id=agent.instrument_id, venue=venue,
            strategies=(policy,), start=run_start, end=last_ns,
            equity_interval_ms=agent.decision_interval_ms, out_dir=tmp_path,
        )
        result = run_backtest(spec, progress=False, run_dir=tmp_path / "run", tearsheets=False)
        run = result.strategies[0]
        bt_fills = pd.read_csv(run.directory / "fills.csv", dtype=str)[FILL_COLS]
        bt_fills = bt_fills.sort_values(["ts_event", "order_side"]).reset_index(drop=True)
        bt_orders = pd.read_csv(run.directory / "orders.csv", dtype=str)[ORDER_COLS]
        bt_orders = bt_orders.sort_values(["ts_init", "side"]).reset_index(drop=True)
        final_mid = float(pd.read_parquet(run.directory / "equity.parquet")["mid"].iloc[-1])
        env_pnl_at_final_mid = env_ledger.equity(final_mid)
    finally:
        env.close()

    seen = rl_helpers.LOADED[-1].seen
    assert len(seen) == HORIZON
    for a, b in zip(env_obs[:HORIZON], seen, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(env_fills) > 5, "the episode should trade"
    pd.testing.assert_frame_equal(env_fills, bt_fills)
    pd.testing.assert_frame_equal(env_orders, bt_orders)
    position = sum(float(q) * (1 if s == "BUY" else -1) for s, q in zip(bt_fills.order_side, bt_fills.last_qty))
    assert position == pytest.approx(env_position, abs=1e-12)
    # the runner's ledger check passed (the run would have failed) and agrees with the env's ledger
    assert run.metrics["ledger_pnl"] == pytest.approx(env_pnl_at_final_mid, abs=1e-9)
    assert to_ns(WINDOW[0]) <= run_start
