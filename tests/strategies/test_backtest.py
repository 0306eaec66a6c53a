"""The baseline market makers in a BacktestEngine on real Binance data (see conftest.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.model.enums import BookType, OrderType
from nautilus_trader.model.events import OrderFilled, OrderUpdated
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Price

from strategies import (
    AvellanedaStoikovMarketMaker,
    FixedSpreadMarketMakerConfig,
    FixedSpreadMarketMaker,
    GLFTMarketMaker,
)
from tests.strategies.conftest import (
    MarketData,
    RunResult,
    make_engine,
    make_strategy,
    run_strategy,
)

ALL = [FixedSpreadMarketMaker, AvellanedaStoikovMarketMaker, GLFTMarketMaker]


def _orders(result: RunResult) -> list:
    return result.engine.cache.orders(strategy_id=result.strategy.id)


def _assert_inventory_bounded(result: RunResult, max_inventory: Decimal) -> None:
    assert result.fills, "no fills"
    worst = max(abs(f[4]) for f in result.fills)
    assert worst <= max_inventory, f"|position| reached {worst} > {max_inventory}"


def _assert_post_only(result: RunResult) -> None:
    for order in _orders(result):
        if order.order_type == OrderType.LIMIT:
            assert order.is_post_only, order
        else:
            # only the flattening order on stop / kill may cross, and it may only reduce
            assert order.order_type == OrderType.MARKET and order.is_reduce_only, order


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_strategy_quotes_and_fills_within_limits(market: MarketData, cls) -> None:
    result = run_strategy(market, cls)
    strategy = result.strategy
    counters = strategy.quote_manager.counters

    sides = {f[1] for f in result.fills}
    assert sides == {"BUY", "SELL"}, f"fills on {sides} only ({market.source})"
    _assert_inventory_bounded(result, strategy.config.max_inventory)
    _assert_post_only(result)

    # resting quotes were amended in place, not canceled and replaced
    assert counters.amended > 0
    amended = [o for o in _orders(result) if any(isinstance(e, OrderUpdated) for e in o.events)]
    assert amended
    assert counters.canceled <= 2 + counters.submitted // 10
    # every fill is a passive (maker) fill of a quote, except the flattening order
    maker_fills = [
        e
        for o in _orders(result)
        if o.order_type == OrderType.LIMIT
        for e in o.events
        if isinstance(e, OrderFilled)
    ]
    assert maker_fills and all(e.liquidity_side.name == "MAKER" for e in maker_fills)
    # stopped cleanly: a cancel was sent for every working quote (the data ends before the
    # venue can acknowledge cancels sent at the very end; the kill-switch test checks the acks)
    still_open = result.engine.cache.orders_open(strategy_id=strategy.id)
    assert all(o.is_pending_cancel for o in still_open)
    result.engine.dispose()


def test_inventory_limit_binds_and_holds(market: MarketData) -> None:
    # quoting at the touch fills a lot; a two-lot bound must clip sizes and never be passed
    result = run_strategy(
        market,
        FixedSpreadMarketMaker,
        half_spread_ticks=0.5,
        max_inventory=Decimal("0.020"),
        quote_interval_ms=100,
    )
    counters = result.strategy.quote_manager.counters
    _assert_inventory_bounded(result, Decimal("0.020"))
    assert max(abs(f[4]) for f in result.fills) == Decimal("0.020")  # the bound was reached
    assert counters.inventory_clipped > 0
    result.engine.dispose()


def test_cancel_replace_when_size_cannot_be_amended(market: MarketData) -> None:
    result = run_strategy(
        market,
        FixedSpreadMarketMaker,
        half_spread_ticks=0.5,
        max_inventory=Decimal("0.020"),
        amend_quantity=False,
    )
    counters = result.strategy.quote_manager.counters
    _assert_inventory_bounded(result, Decimal("0.020"))
    _assert_post_only(result)
    assert counters.canceled > 1  # size changes went through cancel/replace
    for order in _orders(result):
        if order.order_type == OrderType.LIMIT:
            updates = [e for e in order.events if isinstance(e, OrderUpdated)]
            assert all(e.quantity == order.quantity for e in updates)  # price-only amendments
    result.engine.dispose()


def test_quoting_on_every_tick_and_with_microprice(market: MarketData) -> None:
    result = run_strategy(
        market,
        FixedSpreadMarketMaker,
        quote_interval_ms=0,
        use_microprice=True,
        inventory_skew_ticks_per_unit=2.0,
    )
    _assert_inventory_bounded(result, result.strategy.config.max_inventory)
    _assert_post_only(result)
    assert result.strategy.quote_manager.counters.amended > 0
    result.engine.dispose()


def test_l2_book_subscription(market: MarketData) -> None:
    if not market.deltas:
        pytest.skip("fixture fallback has no order book deltas")
    engine = make_engine(market, book_type=BookType.L2_MBP)
    strategy = make_strategy(FixedSpreadMarketMaker, market.instrument.id, book_type="L2_MBP")
    engine.add_strategy(strategy)
    engine.run()
    assert strategy.last_features is not None and strategy.last_features.spread_ticks >= 1
    assert strategy.quote_manager.counters.submitted > 0
    engine.dispose()


@pytest.mark.parametrize(
    "limits",
    [{"max_loss": 0.01}, {"max_drawdown": 0.01}],
    ids=["max_loss", "max_drawdown"],
)
def test_kill_switch_cancels_flattens_and_stops(market: MarketData, limits: dict) -> None:
    # Binance maker fee 0.02%: the first 0.01 BTC fill costs ~0.12 USDT > 0.01
    result = run_strategy(market, FixedSpreadMarketMaker, half_spread_ticks=0.5, **limits)
    strategy = result.strategy
    cache = result.engine.cache
    assert strategy.kill_reason is not None, "kill switch did not fire"
    assert strategy.kill_ts_ns < market.data[-1].ts_init  # fired mid-run, not at the end
    assert strategy.is_stopped
    # all quotes canceled, position flat
    assert not cache.orders_open(strategy_id=strategy.id)
    assert not cache.positions_open(strategy_id=strategy.id)
    assert result.fills[-1][4] == 0
    # nothing was quoted after the kill; only the reduce-only flattening order traded
    late = [o for o in _orders(result) if o.ts_init > strategy.kill_ts_ns]
    assert all(o.order_type == OrderType.MARKET and o.is_reduce_only for o in late)
    _assert_post_only(result)
    result.engine.dispose()


def test_equity_matches_the_venue_account(market: MarketData) -> None:
    # The simulated exchange books realised PnL and fees into the account balance; add the open
    # position's unrealised PnL at the mid and it must equal the strategy's equity, and (since
    # NautilusTrader 1.231 snapshots a NETTING position that flips) the portfolio's realised PnL.
    result = run_strategy(
        market,
        FixedSpreadMarketMaker,
        half_spread_ticks=0.5,
        flatten_on_stop=False,
    )
    strategy, cache = result.strategy, result.engine.cache
    account = cache.account_for_venue(Venue("BINANCE"))
    balance_pnl = account.balance_total(USDT).as_double() - 100_000.0
    mid = strategy.features.mid
    unrealized = sum(
        p.unrealized_pnl(Price(mid, 2)).as_double()
        for p in cache.positions_open(strategy_id=strategy.id)
    )
    flips = sum(
        1
        for a, b in zip(result.fills, result.fills[1:], strict=False)
        if a[4] * b[4] < 0
    )
    assert flips > 0  # the case Portfolio.realized_pnl gets wrong is exercised
    assert strategy.ledger.fill_count == len(result.fills)
    assert strategy.equity(mid) == pytest.approx(balance_pnl + unrealized, abs=1e-4)
    realized = result.engine.portfolio.realized_pnl(strategy.instrument.id).as_double()
    assert strategy.equity(mid) == pytest.approx(realized + unrealized, abs=1e-4)
    result.engine.dispose()


def test_same_seed_same_fills(market: MarketData) -> None:
    # a fill probability below one makes the seeded FillModel draw matter
    kwargs = {"engine_kwargs": {"prob_fill_on_limit": 0.5}}
    first = run_strategy(market, GLFTMarketMaker, seed=123, **kwargs)
    second = run_strategy(market, GLFTMarketMaker, seed=123, **kwargs)
    other = run_strategy(market, GLFTMarketMaker, seed=321, **kwargs)
    assert first.fills and first.fills == second.fills
    assert other.fills != first.fills
    for r in (first, second, other):
        r.engine.dispose()


def test_missing_instrument_logs_and_stops(market: MarketData) -> None:
    engine = make_engine(market)
    strategy = make_strategy(
        FixedSpreadMarketMaker,
        InstrumentId.from_str("ETHUSDT-PERP.BINANCE"),
    )
    engine.add_strategy(strategy)
    engine.run()
    assert strategy.instrument is None
    assert strategy.is_stopped
    assert not engine.cache.orders()
    engine.dispose()


def test_config_validation_names_the_field(market: MarketData) -> None:
    base = {"instrument_id": market.instrument.id, "order_qty": Decimal("0.01")}
    with pytest.raises(ValueError, match="max_inventory"):
        FixedSpreadMarketMakerConfig(**base, max_inventory=Decimal("0.001"))
    with pytest.raises(ValueError, match="half_spread_ticks"):
        FixedSpreadMarketMakerConfig(**base, max_inventory=Decimal("0.1"), half_spread_ticks=0.0)
    with pytest.raises(ValueError, match="book_type"):
        FixedSpreadMarketMakerConfig(**base, max_inventory=Decimal("0.1"), book_type="L9")
    with pytest.raises(ValueError, match="order_qty"):
        FixedSpreadMarketMakerConfig(
            instrument_id=market.instrument.id,
            order_qty=Decimal("0"),
            max_inventory=Decimal("0.1"),
        )
    # the same config round-trips through JSON (ImportableStrategyConfig / BacktestNode path)
    cfg = FixedSpreadMarketMakerConfig(**base, max_inventory=Decimal("0.1"), max_loss=50.0)
    assert FixedSpreadMarketMakerConfig.parse(cfg.json()) == cfg


def test_post_only_rejections_are_forgotten_and_requoted(market: MarketData) -> None:
    # 300 ms order latency: the market often moves onto a quote before it arrives, so the venue
    # rejects it as post-only; the manager must drop it and keep quoting within the limits.
    result = run_strategy(
        market,
        FixedSpreadMarketMaker,
        half_spread_ticks=0.5,
        engine_kwargs={"latency_ms": 300.0},
    )
    qm = result.strategy.quote_manager
    assert qm.counters.post_only_rejected > 0
    assert qm.counters.submitted > qm.counters.rejected + 10
    assert all(not o.is_closed for o in qm.tracked_orders())
    _assert_inventory_bounded(result, result.strategy.config.max_inventory)
    _assert_post_only(result)
    result.engine.dispose()
