"""An agent's inventory skew is part of the agent: trained with it, deployed with it, never another.

``ActionConfig.inventory_skew_ticks_per_lot`` sets the runtime's linear skew
(``MarketMakerConfig.inventory_skew_ticks_per_unit``) for a policy; any other non-zero value on a
deployment is refused. On the recorded USD-M capture (binance_ws/usdm/btcusdt_20240808.gz) a policy
that joins the touch must quote every side exactly ``skew * position / order_qty`` ticks below
the best price once it holds inventory.
"""

from __future__ import annotations

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig

from backtests.venue import VenueModelConfig
from catalog.window import load_window
from strategies.agent import ActionConfig, AgentConfig
from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig

WINDOW = ("2024-08-08T23:56:00Z", "2024-08-08T23:58:00Z")
SKEW = 1.5


class JoinTheTouch:
    """Action 0 of the default grid: bid at the best bid, ask at the best ask."""

    def predict(self, observation, deterministic: bool = True):
        return 0, None


def _agent(skew: float) -> AgentConfig:
    return AgentConfig(warmup_ms=2_000, order_qty=0.002, max_inventory=0.02,
                       action=ActionConfig(inventory_skew_ticks_per_lot=skew))


def test_the_runtime_skew_is_the_agents() -> None:
    assert PolicyMarketMakerConfig(agent=_agent(SKEW)).inventory_skew_ticks_per_unit == SKEW
    assert PolicyMarketMakerConfig(agent=_agent(0.0)).inventory_skew_ticks_per_unit == 0.0
    assert PolicyMarketMakerConfig(agent=_agent(SKEW), inventory_skew_ticks_per_unit=SKEW)
    with pytest.raises(ValueError, match="inventory_skew_ticks_per_unit: 2.0 differs from the agent's"):
        PolicyMarketMakerConfig(agent=_agent(SKEW), inventory_skew_ticks_per_unit=2.0)
    with pytest.raises(ValueError, match="inventory_skew_ticks_per_unit: 0.5 differs"):
        PolicyMarketMakerConfig(agent=_agent(0.0), inventory_skew_ticks_per_unit=0.5)


class RecordingPolicyMarketMaker(PolicyMarketMaker):
    """Records, at each decision, the position, the touch and the quotes the quote manager gets."""

    def on_start(self) -> None:
        super().on_start()
        self.sent: list[tuple[float, float, float, object]] = []
        update = self.quote_manager.update

        def recording_update(quotes, **kw):
            position = float(self.quote_manager.position())
            self.sent.append((position, self.best_bid, self.best_ask, quotes))
            return update(quotes, **kw)

        self.quote_manager.update = recording_update


def test_skewed_policy_leans_against_its_position(usdm_catalog) -> None:
    agent = _agent(SKEW)
    window = load_window(usdm_catalog, agent.instrument_id, WINDOW[0], WINDOW[1], "L1_MBP")
    tick = window.instrument.price_increment.as_double()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        VenueModelConfig(seed=3).add_to_engine(engine, [window.instrument])
        window.add_to_engine(engine)
        strategy = RecordingPolicyMarketMaker(PolicyMarketMakerConfig(agent=agent), policy=JoinTheTouch())
        engine.add_strategy(strategy)
        engine.run()
        sent = strategy.sent
    finally:
        engine.dispose()
    assert len(sent) > 100
    held = [row for row in sent if row[0] != 0.0]
    assert len(held) > 20, "the policy never held inventory: the skew was not exercised"
    for pos, bid, ask, out in held:
        shift = -SKEW * pos / agent.order_qty * tick
        assert out.bid_price == pytest.approx(bid + shift, abs=1e-9)
        assert out.ask_price == pytest.approx(ask + shift, abs=1e-9)
    assert any(abs(pos) > agent.order_qty for pos, *_ in held)  # more than one lot: the skew scales
    flat = [row for row in sent if row[0] == 0.0]
    assert flat and all(out.bid_price == bid and out.ask_price == ask for _, bid, ask, out in flat)
