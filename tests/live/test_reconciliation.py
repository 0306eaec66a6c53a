"""A restart: the node takes the venue's open order and position as they are, and the kill switch
cancels the order it inherited.

The execution client reports what a venue account holds after a crash of the previous node (one
resting BUY, a long position). With ``LiveExecEngineConfig(reconciliation=True)`` the node loads
both before any strategy starts, the strategy claims the order (``external_order_claims``, added by
``live.node``), and SIGTERM cancels it at the venue like the strategy's own orders.
"""

from __future__ import annotations

import os
import signal

import msgspec
from nautilus_trader.model.identifiers import InstrumentId

from live.config import load_config
from live.node import AmmTradingNode, collect_report, data_client, node_config
from tests.live.helpers import (
    RESTING_VENUE_ORDER_ID,
    RestartedVenueConfig,
    RestartedVenueExecClientFactory,
)
from tests.live.test_replay import IID, write_replay_config


def test_restart_reconciles_venue_state_and_kill_switch_cancels_the_inherited_order(capture_catalog, tmp_path):
    catalog, first, _ = capture_catalog
    start = first + 5_000_000_000
    cfg = load_config(write_replay_config(
        tmp_path / "restart.toml", catalog, start, start + 40_000_000_000, speed=5.0,
        strategy_path="tests.live.helpers:NoCancelQuoter",
        config_path="tests.live.helpers:NoCancelQuoterConfig",
        strategy_config={"instrument_id": IID, "order_qty": "0.01", "tob_offset_ticks": 50},
    ))
    base = node_config(cfg, log_level="ERROR")
    sandbox = base.exec_clients["BINANCE"]
    venue_state = RestartedVenueConfig(
        venue="BINANCE", starting_balances=sandbox.starting_balances, default_leverage=sandbox.default_leverage,
        instrument_id=IID, resting_price="61000.0", resting_qty="0.004", position_qty="0.003",
    )
    node = AmmTradingNode(msgspec.structs.replace(base, exec_clients={"BINANCE": venue_state}), kill_switch=cfg.kill_switch)
    data_name, _, data_factory = data_client(cfg)
    node.add_data_client_factory(data_name, data_factory)
    node.add_exec_client_factory("BINANCE", RestartedVenueExecClientFactory)
    RestartedVenueExecClientFactory.portfolio = node.portfolio
    node.build()
    strategy_id = node.trader.strategies()[0].id
    seen: dict = {}
    loop = node.get_event_loop()

    def inspect_then_kill() -> None:
        inherited = [o for o in node.cache.orders() if o.venue_order_id == RESTING_VENUE_ORDER_ID]
        if node.trader.is_running and inherited and node.cache.orders_open_count() >= 2:
            seen["order"] = (inherited[0].status_string(), inherited[0].strategy_id, str(inherited[0].price))
            seen["position"] = float(node.portfolio.net_position(InstrumentId.from_str(IID)))
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            loop.call_later(0.05, inspect_then_kill)

    loop.call_later(0.05, inspect_then_kill)
    try:
        node.run()
        report = collect_report(node)
    finally:
        node.dispose()

    assert seen, "the node never showed the venue's order next to its own quotes"
    assert seen["order"] == ("ACCEPTED", strategy_id, "61000.0"), "inherited order, claimed by the strategy"
    assert seen["position"] == 0.003, "position taken from the venue, not assumed flat"
    assert report.reason == "received SIGTERM"
    assert report.open_orders == []
    assert len(RestartedVenueExecClientFactory.last.cancel_requests) == 1
