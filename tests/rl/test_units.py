"""Unit tests of the action mapping, reward and agent config (no engine)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.actions import ActionMapper
from strategies.agent import ActionConfig, AgentConfig
from rl.config import RewardConfig
from rl.reward import RewardFunction


def test_discrete_grid_offsets_and_no_quote():
    m = ActionMapper(ActionConfig(bid_offsets_ticks=(0, 2), ask_offsets_ticks=(1,)),
                     tick_size=0.1, order_qty=0.002)
    assert m.space.n == 3 * 2  # (0, 2, None) x (1, None)
    q = m.quotes(0, 100.0, 100.1)
    assert q.bid_price == pytest.approx(100.0) and q.ask_price == pytest.approx(100.2)
    assert q.bid_qty == q.ask_qty == 0.002
    flat = m.quotes(m.space.n - 1, 100.0, 100.1)
    assert flat.bid_price is None and flat.ask_price is None
    with pytest.raises(ValueError, match="outside"):
        m.quotes(6, 100.0, 100.1)


def test_continuous_half_spread_and_skew():
    m = ActionMapper(ActionConfig(kind="continuous", min_half_spread_ticks=1,
                                  max_half_spread_ticks=5, max_skew_ticks=2),
                     tick_size=0.5, order_qty=1.0)
    q = m.quotes(np.array([1.0, 1.0], np.float32), 100.0, 100.5)  # hs 5 ticks, skew +2
    mid = 100.25
    assert q.bid_price == pytest.approx(mid - 7 * 0.5)
    assert q.ask_price == pytest.approx(mid + 3 * 0.5)
    q = m.quotes(np.array([-3.0, 0.0]), 100.0, 100.5)  # clipped to [-1, 1]
    assert q.ask_price - q.bid_price == pytest.approx(2 * 1 * 0.5)
    with pytest.raises(ValueError):
        m.quotes(np.array([np.nan, 0.0]), 100.0, 100.5)


def test_dampened_rewards_follow_spooner():
    kw = dict(value_per_tick=0.5, order_qty=1.0, max_inventory=4.0)
    base = RewardFunction(RewardConfig(), **kw)
    sym = RewardFunction(RewardConfig(dampening="symmetric", eta=0.5), **kw)
    asym = RewardFunction(RewardConfig(dampening="asymmetric", eta=0.5,
                                       running_inventory_penalty=2.0,
                                       terminal_inventory_penalty_ticks=3.0), **kw)
    gain = dict(pnl_change=3.0, inventory_pnl=2.0, position=2.0, last=False)
    assert base(**gain).reward == pytest.approx(6.0)
    assert sym(**gain).reward == pytest.approx(6.0 - 0.5 * 4.0)
    assert asym(**gain).reward == pytest.approx(6.0 - 2.0 - 2.0 * 0.25)
    loss = dict(pnl_change=-1.0, inventory_pnl=-2.0, position=2.0, last=True)
    # asymmetric: losses from inventory are not damped; terminal cost 3 ticks x 2 units
    assert asym(**loss).reward == pytest.approx(-2.0 - 0.5 - 6.0)
    assert sym(**loss).reward == pytest.approx(-2.0 + 2.0)
    assert RewardFunction(RewardConfig(max_loss=10), **kw).ruined(-10.01)


def test_agent_config_round_trip_and_errors():
    agent = AgentConfig(action=ActionConfig(kind="continuous"), episode_clock="off")
    again = AgentConfig.from_dict(agent.to_dict())
    assert again == agent
    with pytest.raises(ValueError, match="decision_interval_ms"):
        AgentConfig(decision_interval_ms=50)
    with pytest.raises(ValueError, match="decision_interval_ms"):
        AgentConfig.from_dict({"decision_interval_ms": 50})
    with pytest.raises(ValueError, match="bogus: unknown field"):
        AgentConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match=r"action\.kind"):
        AgentConfig.from_dict({"action": {"kind": "both"}})
    with pytest.raises(ValueError, match="distinct"):
        ActionConfig(bid_offsets_ticks=(1, 1))


def test_agents_refuse_inverse_contracts_whose_pnl_is_not_in_quote_ticks() -> None:
    """A COIN-M reward would come out ~mid**2 too small (2.8e-10 instead of 1.0 per tick captured)."""
    from catalog.instruments import build_instrument, get_spec
    from strategies.policy import build_codecs

    linear = build_instrument(get_spec("BTCUSDT-PERP.BINANCE"))
    mapper, observer = build_codecs(AgentConfig(instrument_id="BTCUSDT-PERP.BINANCE"), linear)
    assert mapper.space.n == len(mapper.grid) and observer.space.dtype == np.float32
    inverse = build_instrument(get_spec("BTCUSD-PERP.BINANCE"))
    with pytest.raises(ValueError, match=r"BTCUSD-PERP\.BINANCE is inverse \(COIN-M\)"):
        build_codecs(AgentConfig(instrument_id="BTCUSD-PERP.BINANCE"), inverse)
