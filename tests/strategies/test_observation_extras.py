"""The optional observation components: deeper book imbalances, the queue ahead, frame stacking.

Hand-made books check the definitions; a LOBSTER GOOG episode checks them, decision by decision,
against Nautilus' own ``OrderBook`` in the engine's cache (the book the matching engine sees), at
the agent's real resting prices.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, BookType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from catalog.features import FeatureConfig, IncrementalFeatures
from rl.train import load_run_config
from strategies.agent import AgentConfig, ObservationConfig
from strategies.observation import OBS_NAMES, ObservationBuilder, observation_names

INSTRUMENT = InstrumentId.from_str("GOOG.XNAS")
TICK = 0.01


def _deltas(levels: list[tuple[OrderSide, str, int]], ts: int = 1) -> OrderBookDeltas:
    deltas = [
        OrderBookDelta(INSTRUMENT, BookAction.ADD, BookOrder(side, Price.from_str(px), Quantity.from_int(size), i),
                       0, 0, ts, ts)
        for i, (side, px, size) in enumerate(levels, start=1)
    ]
    return OrderBookDeltas(INSTRUMENT, deltas)


BOOK = [
    (OrderSide.BUY, "100.00", 300), (OrderSide.BUY, "99.99", 100), (OrderSide.BUY, "99.98", 600),
    (OrderSide.SELL, "100.02", 100), (OrderSide.SELL, "100.03", 200), (OrderSide.SELL, "100.05", 100),
]


def _builder(**observation) -> ObservationBuilder:
    return ObservationBuilder(
        FeatureConfig(tick_size=TICK), order_qty=100.0, max_inventory=500.0, multiplier=1.0,
        horizon_steps=10, pnl_scale_ticks=50.0, obs_clip=5.0, observation=ObservationConfig(**observation),
    )


def test_default_observation_is_the_base_vector() -> None:
    assert observation_names() == OBS_NAMES
    assert _builder().space.shape == (len(OBS_NAMES),)
    assert AgentConfig().observation == ObservationConfig()
    # a manifest written before the field existed decodes to the same agent
    data = AgentConfig().to_dict()
    del data["observation"]
    assert AgentConfig.from_dict(data) == AgentConfig()


def test_names_order_with_every_extra() -> None:
    cfg = ObservationConfig(depth_imbalance_levels=(1, 3), queue_ahead=True, frame_stack=3)
    frame = (*OBS_NAMES, "imbalance_1", "imbalance_3", "bid_queue_ahead", "ask_queue_ahead")
    names = observation_names(cfg)
    assert len(names) == 3 * len(frame)
    assert names[-len(frame):] == frame
    assert names[0] == "micro_offset_ticks@t-2" and names[len(frame)] == "micro_offset_ticks@t-1"


@pytest.mark.parametrize("levels,message", [((2, 2), "distinct"), ((0,), ">= 1")])
def test_bad_depths_are_refused(levels, message) -> None:
    with pytest.raises(ValueError, match=message):
        ObservationConfig(depth_imbalance_levels=levels)


def test_depth_imbalance_and_displayed_size_by_hand() -> None:
    for via_book in (False, True):
        features = IncrementalFeatures(FeatureConfig(tick_size=TICK))
        deltas = _deltas(BOOK)
        if via_book:
            book = OrderBook(INSTRUMENT, BookType.L2_MBP)
            book.apply_deltas(deltas)
            features.on_book(book, 1)
        else:
            features.on_book_deltas(deltas)
        assert features.depth_imbalance(1) == pytest.approx((300 - 100) / 400)
        assert features.depth_imbalance(2) == pytest.approx((400 - 300) / 700)
        assert features.depth_imbalance(10) == pytest.approx((1000 - 400) / 1400)
        assert features.displayed_size(True, Price.from_str("99.99").raw) == 100.0
        assert features.displayed_size(False, Price.from_str("100.03").raw) == 200.0
        assert features.displayed_size(False, Price.from_str("100.04").raw) == 0.0
    empty = IncrementalFeatures(FeatureConfig(tick_size=TICK))
    assert math.isnan(empty.depth_imbalance(3)) and math.isnan(empty.displayed_size(True, 1))


def test_queue_ahead_reads_the_level_of_each_resting_quote() -> None:
    builder = _builder(depth_imbalance_levels=(1, 3), queue_ahead=True)
    builder.features.on_book_deltas(_deltas(BOOK))
    names = builder.names
    obs = builder.build(2, position=0.0, unrealised_pnl=0.0, step=0, bid_price=99.98, ask_price=None,
                        bid_raw=Price.from_str("99.98").raw)
    got = dict(zip(names, obs.tolist(), strict=True))
    assert got["bid_queue_ahead"] == pytest.approx(math.log1p(600 / 100))
    assert got["ask_queue_ahead"] == 0.0  # no ask resting
    assert got["imbalance_1"] == pytest.approx(0.5)
    assert got["imbalance_3"] == pytest.approx((1000 - 400) / 1400, rel=1e-6)


def test_frame_stack_keeps_the_last_frames_oldest_first() -> None:
    builder = _builder(frame_stack=3)
    builder.features.on_book_deltas(_deltas(BOOK))
    n = len(OBS_NAMES)
    kw = dict(unrealised_pnl=0.0, bid_price=None, ask_price=None)
    first = builder.build(2, position=100.0, step=0, **kw)
    assert first.shape == (3 * n,)
    np.testing.assert_array_equal(first[:n], first[2 * n:])  # padded with copies of the first frame
    second = builder.build(3, position=200.0, step=1, **kw)
    third = builder.build(4, position=300.0, step=2, **kw)
    inv = OBS_NAMES.index("inventory")
    assert [second[k * n + inv] for k in range(3)] == pytest.approx([0.2, 0.2, 0.4])
    assert [third[k * n + inv] for k in range(3)] == pytest.approx([0.2, 0.4, 0.6])
    builder.reset()  # a new episode forgets the history
    again = builder.build(5, position=0.0, step=0, **kw)
    assert [again[k * n + inv] for k in range(3)] == [0.0, 0.0, 0.0]


def test_extras_on_lobster_match_nautilus_book_at_our_quotes(lobster_catalog) -> None:
    from rl.env import MarketMakingEnv

    cfg = load_run_config("rl/configs/lobster_goog_ppo.yml", catalog=lobster_catalog)
    env_cfg = cfg.env.replace(
        window_start="2012-06-21T14:00:00Z", window_end="2012-06-21T14:10:00Z", random_start=False,
        agent={"horizon_steps": 120, "warmup_ms": 5_000,
               "observation": {"depth_imbalance_levels": (1, 3, 10), "queue_ahead": True, "frame_stack": 2}},
    )
    env = MarketMakingEnv(env_cfg)
    try:
        obs, _ = env.reset(seed=0)
        names = observation_names(env_cfg.agent.observation)
        assert env.observation_space.shape == (len(names),) == obs.shape
        rng = np.random.default_rng(0)
        checked_queue = 0
        for _ in range(120):
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                break
            got = dict(zip(names, obs.tolist(), strict=True))
            host = env.host
            book = host.cache.order_book(host.config.instrument_id)
            for k in (1, 3, 10):
                bid = sum(level.size() for level in book.bids()[:k])
                ask = sum(level.size() for level in book.asks()[:k])
                assert got[f"imbalance_{k}"] == pytest.approx((bid - ask) / (bid + ask), abs=1e-6)
            for side, order, levels in (("bid", host.quote_manager.bid, book.bids()),
                                        ("ask", host.quote_manager.ask, book.asks())):
                if order is None:
                    assert got[f"{side}_queue_ahead"] == 0.0
                    continue
                size = next((lv.size() for lv in levels if lv.price == order.price), 0.0)
                assert got[f"{side}_queue_ahead"] == pytest.approx(math.log1p(size / 100.0), abs=1e-6)
                checked_queue += size > 0
        assert checked_queue > 20  # the agent's quotes sat on displayed levels, not only in gaps
    finally:
        env.close()
