"""A restart: the node takes the venue's open order and position as they are, and the kill switch
cancels the order it inherited.

The execution client reports what a venue account holds after a crash of the previous node (one
resting BUY, a long position). With ``LiveExecEngineConfig(reconciliation=True)`` the node loads
both before any strategy starts, the strategy claims the order (``external_order_claims``, added by
``live.node``), and SIGTERM cancels it at the venue like the strategy's own orders.
"""

from __future__ import annotations

import msgspec
from nautilus_trader.model.identifiers import InstrumentId

from live.config import load_config
from live.node import AmmTradingNode, collect_report, data_client, node_config
from tests.live.helpers import (
    RESTING_VENUE_ORDER_ID,
    RestartedVenueConfig,
    RestartedVenueExecClientFactory,
    sigterm_when,
)
from tests.live.test_replay import IID, write_resting_quotes_config


def test_restart_reconciles_venue_state_and_kill_switch_cancels_the_inherited_order(capture_catalog, tmp_path):
    cfg = load_config(write_resting_quotes_config(capture_catalog, tmp_path / "restart.toml", tob_offset_ticks=50))
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

    def inherited_beside_own_quotes() -> dict | None:
        inherited = [o for o in node.cache.orders() if o.venue_order_id == RESTING_VENUE_ORDER_ID]
        if not (node.trader.is_running and inherited and node.cache.orders_open_count() >= 2):
            return None
        return {
            "order": (inherited[0].status_string(), inherited[0].strategy_id, str(inherited[0].price)),
            "position": float(node.portfolio.net_position(InstrumentId.from_str(IID))),
        }

    found = sigterm_when(node, inherited_beside_own_quotes)
    try:
        node.run()
        report = collect_report(node)
    finally:
        node.dispose()

    assert found, "the node never showed the venue's order next to its own quotes"
    seen = found[0]
    assert seen["order"] == ("ACCEPTED", strategy_id, "61000.0"), "inherited order, claimed by the strategy"
    assert seen["position"] == 0.003, "position taken from the venue, not assumed flat"
    assert report.reason == "received SIGTERM"
    assert report.open_orders == []
    assert len(RestartedVenueExecClientFactory.last.cancel_requests) == 1
