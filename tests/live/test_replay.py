"""End-to-end: the real Binance USD-M capture replayed through a live ``TradingNode``.

Everything a live node does runs here except the network: live clock, message bus, risk engine,
reconciliation, the sandbox execution client, the kill switch (driven by a real SIGTERM through
the signal handler the Nautilus kernel installs), streaming persistence, and the comparison with a
backtest of the same window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, QuoteTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from live.config import load_config
from live.health import check_health
from live.node import build_node, collect_report, run_node
from strategies.ledger import FillLedger
from strategies.fixed_spread import FixedSpreadMarketMaker, FixedSpreadMarketMakerConfig
from tests.live.helpers import sigterm_when

IID = "BTCUSDT-PERP.BINANCE"
REPO = Path(__file__).resolve().parents[2]

NO_CANCEL_QUOTER = "tests.live.helpers:NoCancelQuoter"
FIXED_SPREAD_MM = "strategies.fixed_spread:FixedSpreadMarketMaker"
FIXED_SPREAD = {
    "instrument_id": IID,
    "order_qty": "0.002",
    "max_inventory": "0.010",
    "half_spread_ticks": 2.0,
    "quote_interval_ms": 0,  # event-driven: timers would tick in wall time on a replay
    "inventory_skew_ticks_per_unit": 0.5,
    "flatten_on_stop": False,
}


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat()


def _toml_table(d: dict) -> str:
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())


def write_replay_config(
    path: Path,
    catalog: Path,
    start_ns: int,
    end_ns: int,
    *,
    speed: float,
    strategy: str,
    strategy_config: dict,
    node_extra: str = "",
    submit_rate: str = "100/00:00:01",
    book_type: str = "L1_MBP",
) -> Path:
    """A replay deployment file running ``strategy`` (``module:Class``, configured by ``ClassConfig``)."""
    data_types = '["quotes", "trades"]' if book_type == "L1_MBP" else '["deltas", "trades"]'
    path.write_text(textwrap.dedent(f"""\
        [node]
        trader_id = "TEST-001"
        log_level = "ERROR"
        {node_extra}

        [venue]
        adapter = "replay"
        name = "BINANCE"

        [replay]
        catalog_path = "{catalog}"
        start = "{_iso(start_ns)}"
        end = "{_iso(end_ns)}"
        speed = {speed}
        data_types = {data_types}

        [execution]
        mode = "sandbox"
        [execution.sandbox]
        book_type = "{book_type}"
        starting_balances = ["100000 USDT"]
        default_leverage = 5

        [risk]
        max_order_submit_rate = "{submit_rate}"
        max_order_modify_rate = "{submit_rate}"

        [kill_switch]
        cancel_timeout_secs = 5.0

        [[strategies]]
        strategy_path = "{strategy}"
        config_path = "{strategy}Config"
        [strategies.config]
        """) + _toml_table(strategy_config) + "\n")
    return path


def write_resting_quotes_config(
    capture_catalog: tuple[Path, int, int],
    path: Path,
    *,
    tob_offset_ticks: int,
    seconds: int = 40,
) -> Path:
    """A replay from 5 s into the capture, at 5x, of :class:`NoCancelQuoter`: quotes that rest."""
    catalog, first, _ = capture_catalog
    start = first + 5_000_000_000
    return write_replay_config(
        path, catalog, start, start + seconds * 1_000_000_000, speed=5.0, strategy=NO_CANCEL_QUOTER,
        strategy_config={"instrument_id": IID, "order_qty": "0.01", "tob_offset_ticks": tob_offset_ticks},
    )


def test_sigterm_engages_kill_switch_and_cancels_every_resting_order(capture_catalog, tmp_path):
    """A real SIGTERM mid-replay: the strategy leaves its orders resting, the node cancels them."""
    cfg = load_config(write_resting_quotes_config(capture_catalog, tmp_path / "kill.toml", tob_offset_ticks=2))
    node = build_node(cfg, log_level="ERROR")
    sent = sigterm_when(node, lambda: True if node.cache.orders_open_count() >= 2 else None)  # both quotes rest
    report = run_node(node, cfg)

    assert sent, "the strategy never had two resting orders"
    assert report.reason == "received SIGTERM"
    assert report.replay is None, "the signal must land mid-replay"
    assert report.kill_switch_clean is True
    assert report.open_orders == []
    # NoCancelQuoter never cancels: every CANCELED order was canceled by the kill switch.
    assert report.order_status.get("CANCELED", 0) >= 2
    assert report.order_status.get("ACCEPTED", 0) == 0


def test_kill_switch_flattens_when_configured(capture_catalog, tmp_path):
    """``kill_switch.flatten_on_stop``: positions the strategy leaves open are closed too."""
    path = write_resting_quotes_config(capture_catalog, tmp_path / "flatten.toml", tob_offset_ticks=0, seconds=50)
    path.write_text(path.read_text().replace("[kill_switch]\n", "[kill_switch]\nflatten_on_stop = true\n"))
    cfg = load_config(path)
    assert cfg.kill_switch.flatten_on_stop
    node = build_node(cfg, log_level="ERROR")
    iid = InstrumentId.from_str(IID)

    def holding() -> float | None:
        position = float(node.portfolio.net_position(iid))
        return position if position != 0 and node.cache.orders_open_count() >= 1 else None

    held = sigterm_when(node, holding)
    report = run_node(node, cfg)

    assert held, "the strategy never held a position"
    assert report.reason == "received SIGTERM" and report.kill_switch_clean is True
    assert report.open_orders == [] and report.open_positions == []
    assert report.pnl[IID]["position"] == 0.0


def _backtest(catalog: Path, start: int, end: int, config: FixedSpreadMarketMakerConfig) -> tuple[list, object]:
    """The same window and strategy on a backtest venue with the sandbox's matching rules."""
    from catalog.window import load_window
    from backtests.venue import VenueModelConfig

    # live.sandbox's exchange: L1, queue position and trade execution, instrument fees, zero latency
    venue = VenueModelConfig(book_type="L1_MBP", latency_base_ns=0, default_leverage=5.0,
                             starting_balances=("100000 USDT",))
    window = load_window(catalog, IID, start, end, venue.book_type)
    engine = BacktestEngine(BacktestEngineConfig(
        trader_id="BACKTESTER-001",
        logging=LoggingConfig(log_level="ERROR"),
        risk_engine=RiskEngineConfig(),
    ))
    venue.add_to_engine(engine, [window.instrument])
    window.add_to_engine(engine)
    engine.add_strategy(FixedSpreadMarketMaker(config))
    engine.run()
    orders = list(engine.cache.orders())
    engine.dispose()
    return orders, window.instrument


def _summary(orders: list, instrument, mark: float) -> dict:
    fills = sorted((e for o in orders for e in o.events if isinstance(e, OrderFilled)), key=lambda f: f.ts_event)
    ledger = FillLedger(instrument)
    for f in fills:
        ledger.on_fill(f)
    first = sorted(orders, key=lambda o: o.ts_init)[:2]
    return {
        "orders": len(orders),
        "fills": len(fills),
        "traded_qty": round(ledger.traded_qty, 6),
        "position": round(ledger.position, 6),
        "fees": round(ledger.fees, 4),
        "pnl": round(ledger.equity(mark), 4),
        # The price each order was submitted at (``o.price`` is the last amended one).
        "first_quotes": sorted((o.side_string(), o.init_event.options["price"]) for o in first),
    }


def test_replay_fills_and_pnl_track_a_backtest_of_the_same_window(capture_catalog, tmp_path):
    """The fixed-spread baseline, 30 s of real data: replayed through the live node vs backtested.

    Same first decision (same prices on the same first quote); fill count and volume of the same
    order of magnitude. The difference is timing: on the node an order reaches the sandbox
    exchange after its command crossed the risk and execution engine queues, while later quotes
    kept arriving (see docs/deployment.md for the measured figures).
    """
    catalog, first, _ = capture_catalog
    start, end = first + 5_000_000_000, first + 35_000_000_000
    cfg = load_config(write_replay_config(
        tmp_path / "parity.toml", catalog, start, end, speed=10.0,
        strategy=FIXED_SPREAD_MM,
        strategy_config=FIXED_SPREAD,
        # Rate limits count wall-clock time: at 10x they would be 10x tighter than in the data.
        submit_rate="10000/00:00:01",
    ))
    node = build_node(cfg, log_level="ERROR")
    try:
        node.run()
        report = collect_report(node)
        live_orders = list(node.cache.orders())
        instrument = node.cache.instrument(InstrumentId.from_str(IID))
    finally:
        node.dispose()
    assert report.reason == "replay finished"
    assert report.open_orders == []

    last_quote = ParquetDataCatalog(str(catalog)).query(QuoteTick, identifiers=[IID], start=start, end=end)[-1]
    mark = (last_quote.bid_price.as_double() + last_quote.ask_price.as_double()) / 2
    bt_orders, bt_instrument = _backtest(catalog, start, end, FixedSpreadMarketMakerConfig.parse(json.dumps(FIXED_SPREAD)))
    live = _summary(live_orders, instrument, mark)
    back = _summary(bt_orders, bt_instrument, mark)
    (tmp_path / "parity.json").write_text(json.dumps({"replay": live, "backtest": back}, indent=2))
    print(json.dumps({"replay": live, "backtest": back}))

    assert back["fills"] > 0 and live["fills"] > 0
    assert live["first_quotes"] == back["first_quotes"], "same first quote must give the same first decision"
    assert 0.5 <= live["fills"] / back["fills"] <= 2.0
    assert 0.5 <= live["traded_qty"] / back["traded_qty"] <= 2.0


def test_live_market_data_is_persisted_into_the_parquet_catalog(capture_catalog, tmp_path):
    """Streaming persistence (StreamingConfig) -> feather -> Parquet catalog a backtest can read."""
    catalog, first, _ = capture_catalog
    live_catalog = tmp_path / "live_catalog"
    cfg = load_config(write_replay_config(
        tmp_path / "persist.toml", catalog, first, first + 5_000_000_000, speed=0.0,
        strategy=FIXED_SPREAD_MM,
        strategy_config=FIXED_SPREAD,
        node_extra=f'catalog_path = "{live_catalog}"\npersist_types = ["quotes", "trades"]',
    ))
    report = run_node(build_node(cfg, log_level="ERROR"), cfg)

    assert report.reason == "replay finished"
    (rows,) = report.persisted.values()
    replayed = report.replay["counts"]
    assert rows["quotes"] == replayed["quotes"] > 0
    assert rows["trades"] == replayed["trades"] > 0
    persisted = ParquetDataCatalog(str(live_catalog))
    assert [str(i.id) for i in persisted.instruments()] == [IID]
    assert len(persisted.quote_ticks(instrument_ids=[IID])) == replayed["quotes"]
    assert not any((live_catalog / "live").rglob("*.feather")), "converted streams are removed"


@pytest.mark.timeout(120)
def test_cli_replay_stops_cleanly_on_sigterm(capture_catalog, tmp_path):
    """``amm live --replay`` in a subprocess: healthy while running, SIGTERM -> exit 0, no open orders."""
    catalog, first, _ = capture_catalog
    health, log = tmp_path / "health.json", tmp_path / "logs" / "node.log"
    env = {**os.environ, "AMM_HEALTH_FILE": str(health)}
    # The shipped replay config, with the (redacted) console output also teed to a log file.
    config = tmp_path / "replay.toml"
    config.write_text((REPO / "live" / "configs" / "replay.toml").read_text().replace(
        'log_level = "WARNING"', f'log_level = "WARNING"\nlog_file = "{log}"',
    ))
    proc = subprocess.Popen(
        [sys.executable, "-m", "amm.cli", "live", "--config", str(config), "--replay", str(catalog),
         "--start", _iso(first), "--end", _iso(first + 50_000_000_000), "--speed", "2", "--json"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        healthy = (False, "")
        while time.monotonic() < deadline and proc.poll() is None:
            healthy = check_health(health, max_age_secs=30)
            if healthy[0]:
                break
            time.sleep(0.1)
        assert healthy[0], healthy[1]
        time.sleep(1.0)  # let it quote
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    report = json.loads(out)  # the whole of stdout: log lines, late ones included, go to stderr
    assert report["reason"] == "received SIGTERM"
    assert report["open_orders"] == []
    assert report["orders"] > 0
    final = json.loads(health.read_text())
    # the last entry is written after the kill switch, not when it began (orders were open then)
    assert final["state"] == "STOPPED" and final["open_orders"] == 0
    assert final["kill_switch_clean"] is True and final["reason"] == "received SIGTERM"
    assert "Kill switch (received SIGTERM)" in log.read_text()
    assert check_health(health, max_age_secs=30)[0] is False


def test_l2_replay_starting_mid_session_opens_with_the_full_book(capture_catalog, tmp_path):
    """The node's book at the window's first event is the full replay's (REST snapshot + diffs)."""
    catalog, first, _ = capture_catalog
    start = first + 20_000_000_000
    cfg = load_config(write_replay_config(
        tmp_path / "l2.toml", catalog, start, start + 3_000_000_000, speed=0.0,
        strategy=FIXED_SPREAD_MM,
        strategy_config={**FIXED_SPREAD, "book_type": "L2_MBP"},
        book_type="L2_MBP",
    ))
    node = build_node(cfg, log_level="ERROR")
    try:
        node.run()
        report = collect_report(node)
        book = node.cache.order_book(InstrumentId.from_str(IID))
        best_bid, best_ask = book.best_bid_price(), book.best_ask_price()
    finally:
        node.dispose()
    assert report.reason == "replay finished" and report.replay["counts"]["quotes"] == 0
    assert best_bid < best_ask
    assert report.fills > 0

    from tests.live import helpers

    probe = load_config(write_replay_config(
        tmp_path / "probe.toml", catalog, start, start + 1_000_000_000, speed=0.0,
        strategy="tests.live.helpers:BookProbe",
        strategy_config={"instrument_id": IID}, book_type="L2_MBP",
    ))
    helpers.FIRST_BOOK.clear()
    assert run_node(build_node(probe, log_level="ERROR"), probe).reason == "replay finished"
    replayed = OrderBook(InstrumentId.from_str(IID), BookType.L2_MBP)
    for d in ParquetDataCatalog(str(catalog)).query(OrderBookDelta, identifiers=[IID], end=start - 1):
        replayed.apply_delta(d)
    # The REST snapshot holds 1,000 levels a side; diffs after the start alone touch far fewer.
    assert len(helpers.FIRST_BOOK[0]) > 2_000
    assert helpers.FIRST_BOOK[0] == helpers.book_levels(replayed)


def test_history_requests_are_served_from_before_the_window_only(capture_catalog, tmp_path):
    """A strategy warming up on history gets the catalog's past, never the replay's future."""
    from tests.live import helpers

    catalog, first, _ = capture_catalog
    start = first + 10_000_000_000
    cfg = load_config(write_replay_config(
        tmp_path / "history.toml", catalog, start, start + 2_000_000_000, speed=0.0,
        strategy="tests.live.helpers:HistoryProbe",
        strategy_config={"instrument_id": IID, "history_start": _iso(first)},
    ))
    helpers.HISTORY.clear()
    report = run_node(build_node(cfg, log_level="ERROR"), cfg)
    assert report.reason == "replay finished"
    expected = ParquetDataCatalog(str(catalog)).query(QuoteTick, identifiers=[IID], start=first, end=start - 1)
    assert len(helpers.HISTORY) == len(expected) > 1000
    assert max(helpers.HISTORY) < start
