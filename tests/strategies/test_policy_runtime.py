"""A deployed policy has the runtime every baseline has: the kill switch on the one ledger stops it.

Until the runtime was one, ``PolicyMarketMaker`` had no ``max_loss``/``max_drawdown`` (a deployment
file setting them was not even refused). Here an agent that joins the touch on both sides runs on
the recorded USD-M capture (binance_ws/usdm/btcusdt_20240808.gz) with a loss limit below its first
fill's fee: it must cancel, flatten with a reduce-only market order and stop, as a baseline does.
"""

from __future__ import annotations

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.enums import OrderType

from backtests.venue import VenueModelConfig
from catalog.window import load_window
from strategies.agent import AgentConfig
from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig

WINDOW = ("2024-08-08T23:56:00Z", "2024-08-08T23:58:00Z")


class JoinTheTouch:
    """Action 0 of the default grid: bid at the best bid, ask at the best ask."""

    def predict(self, observation, deterministic: bool = True):
        return 0, None


@pytest.mark.parametrize("limits", [{"max_loss": 0.05}, {"max_drawdown": 0.05}], ids=["max_loss", "max_drawdown"])
def test_policy_kill_switch_cancels_flattens_and_stops(usdm_catalog, limits) -> None:
    agent = AgentConfig(warmup_ms=2_000, order_qty=0.002, max_inventory=0.01)
    window = load_window(usdm_catalog, agent.instrument_id, WINDOW[0], WINDOW[1], "L1_MBP")
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        VenueModelConfig(seed=3).add_to_engine(engine, [window.instrument])
        window.add_to_engine(engine)
        strategy = PolicyMarketMaker(PolicyMarketMakerConfig(agent=agent, **limits), policy=JoinTheTouch())
        engine.add_strategy(strategy)
        engine.run()
        cache = engine.cache
        assert strategy.kill_reason is not None, "kill switch did not fire"
        assert strategy.kill_ts_ns < window.data[-1].ts_init  # mid-run, not at the end
        assert strategy.is_stopped
        assert not cache.orders_open(strategy_id=strategy.id)
        assert not cache.positions_open(strategy_id=strategy.id)
        assert strategy.ledger.position == pytest.approx(0.0, abs=1e-12)
        late = [o for o in cache.orders(strategy_id=strategy.id) if o.ts_init >= strategy.kill_ts_ns]
        assert late and all(o.order_type == OrderType.MARKET and o.is_reduce_only for o in late)
    finally:
        engine.dispose()
