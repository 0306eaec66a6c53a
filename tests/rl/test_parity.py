"""One policy path: the env episode and a backtest of ``PolicyMarketMaker`` on the same window
send identical orders and get identical fills and PnL (binance_ws/usdm/btcusdt_20240808.gz)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.identifiers import TraderId

from backtests.data import load_window, to_ns
from backtests.venue import VenueModelConfig
from rl.config import ActionConfig, AgentConfig, EnvConfig
from rl.env import MarketMakingEnv
from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig
from tests.rl.conftest import ReplayPolicy

WINDOW = ("2024-08-08T23:56:00Z", "2024-08-08T23:58:00Z")
HORIZON = 300

ORDER_COLS = ["side", "type", "quantity", "price", "status", "filled_qty", "ts_init", "ts_last"]
FILL_COLS = ["order_side", "last_px", "last_qty", "commission", "liquidity_side", "ts_event"]


def _orders(engine) -> pd.DataFrame:
    df = engine.trader.generate_orders_report()
    return df[ORDER_COLS].sort_values(["ts_init", "side"]).reset_index(drop=True)


def _fills(engine) -> pd.DataFrame:
    df = engine.trader.generate_fills_report()
    return df[FILL_COLS].sort_values(["ts_event", "order_side"]).reset_index(drop=True)


@pytest.mark.parametrize("book_type,kind", [("L1_MBP", "discrete"), ("L1_MBP", "continuous"),
                                            ("L2_MBP", "discrete")])
def test_env_and_backtest_agree(usdm_catalog, book_type, kind):
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
        actions = list(rng.integers(0, env.action_space.n, HORIZON))
    else:
        actions = list(rng.uniform(-1, 1, (HORIZON, 2)).astype(np.float32))

    # -- the environment
    try:
        obs, info = env.reset(seed=0)
        env_obs = [obs]
        for a in actions:
            obs, _, term, trunc, info = env.step(a)
            env_obs.append(obs)
        assert trunc and not term
        env_orders, env_fills = _orders(env.engine), _fills(env.engine)
        env_pnl, env_position = info["pnl"], info["position"]
        run_start = env._run_start(info["ts_ns"] - HORIZON * agent.decision_interval_ns)
        last_ns = info["ts_ns"]
    finally:
        env.close()

    # -- a plain backtest of PolicyMarketMaker on the same window and venue
    window = load_window(usdm_catalog, agent.instrument_id, WINDOW[0], WINDOW[1], book_type)
    engine = BacktestEngine(BacktestEngineConfig(
        trader_id=TraderId(cfg.trader_id), logging=LoggingConfig(log_level="ERROR"),
        run_analysis=False,
    ))
    venue.add_to_engine(engine, [window.instrument])
    window.add_to_engine(engine)
    policy = ReplayPolicy(actions)
    seen = []
    strategy = PolicyMarketMaker(
        PolicyMarketMakerConfig(
            agent=agent.to_dict(), max_decisions=HORIZON, flatten_on_stop=False,
            strategy_id="RLHost-001",
        ),
        policy=policy,
    )
    original = policy.predict

    def record(obs, deterministic=True):
        seen.append(obs)
        return original(obs, deterministic)

    policy.predict = record
    engine.add_strategy(strategy)
    engine.run(start=run_start, end=last_ns)
    try:
        bt_orders, bt_fills = _orders(engine), _fills(engine)
        mid = info["mid"]
        bt_pnl, bt_position = strategy.pnl.total(mid), strategy.pnl.position
    finally:
        engine.dispose()

    assert policy.i == HORIZON
    for a, b in zip(env_obs[:HORIZON], seen, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(env_fills) > 5, "the episode should trade"
    pd.testing.assert_frame_equal(env_fills, bt_fills)
    # the backtest's end() cancels the resting quotes: compare everything but the final status
    pd.testing.assert_frame_equal(
        env_orders.drop(columns=["status", "ts_last"]), bt_orders.drop(columns=["status", "ts_last"]),
    )
    assert bt_position == env_position
    assert bt_pnl == pytest.approx(env_pnl, abs=1e-9)
    assert to_ns(WINDOW[0]) <= run_start
