"""``EpisodeFeed`` gives the engine the same events, in the same order, as a static data list.

The env streams each episode's data from its start (``rl.env.EpisodeFeed``) instead of holding
the window as the engine's static list; this checks the two against each other on the real
USD-M capture, from a start in the middle of the window, twice on one engine (across a reset).
An L2 episode starts with an in-memory image of the book: the strategy must see exactly the full
replay's book there, and the image must not reappear in the stream.
"""

from __future__ import annotations

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from catalog.window import Window
from backtests.venue import VenueModelConfig
from catalog.checkpoints import levels_equal
from strategies.agent import AgentConfig
from rl.config import EnvConfig
from rl.env import EpisodeFeed, MarketMakingEnv


class Recorder(Strategy):
    """Records every market event the strategy receives, and the book's top when it gets it."""

    def __init__(self, instrument_id: InstrumentId, l2: bool) -> None:
        super().__init__()
        self.iid, self.l2, self.seen = instrument_id, l2, []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.iid)
        self.subscribe_trade_ticks(self.iid)
        if self.l2:
            self.subscribe_order_book_deltas(self.iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.seen.append(("q", tick.ts_init, str(tick.bid_price), str(tick.ask_price)))

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.seen.append(("t", tick.ts_init, str(tick.price), str(tick.trade_id)))

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        book = self.cache.order_book(self.iid)
        self.seen.append(("d", deltas.ts_init, len(deltas.deltas), str(book.best_bid_price())))


def _engine(env: MarketMakingEnv) -> BacktestEngine:
    engine = BacktestEngine(BacktestEngineConfig(
        logging=LoggingConfig(log_level="ERROR"), run_analysis=False,
    ))
    env.config.venue.add_to_engine(engine, [env.instrument])
    return engine


def _run(engine: BacktestEngine, env: MarketMakingEnv, start: int, end: int) -> list[tuple]:
    rec = Recorder(env.instrument.id, env.config.agent.book_type != "L1_MBP")
    engine.add_strategy(rec)
    engine.run(start=start, end=end)
    return rec.seen


@pytest.mark.parametrize("book_type", ["L1_MBP", "L2_MBP"])
def test_feed_replays_the_static_list_from_a_mid_window_start(usdm_catalog, book_type):
    agent = AgentConfig(book_type=book_type, horizon_steps=100)
    env = MarketMakingEnv(EnvConfig(
        catalog_path=usdm_catalog, agent=agent, venue=VenueModelConfig(book_type=book_type),
    ))
    data = env.feed.data
    # An episode's run start (an L2 start is a book image), a little past the middle.
    start = env._run_start(data[len(data) // 2].ts_init)
    end = start + 20_000_000_000
    assert data[0].ts_init < start
    l2 = book_type != "L1_MBP"
    if l2:
        image = env._images[start].to_deltas()
        first = next(i for i, d in enumerate(data) if d.ts_init > start or
                     (d.ts_init == start and not isinstance(d, OrderBookDeltas)))
        static_data = [image, *data[first:]]
        # the image is the book a replay of the whole window holds at its time
        replayed = OrderBook(env.instrument.id, BookType.L2_MBP)
        for d in data:
            if d.ts_init > start:
                break
            if isinstance(d, OrderBookDeltas):
                replayed.apply_deltas(d)
        imaged = OrderBook(env.instrument.id, BookType.L2_MBP)
        imaged.apply_deltas(image)
        assert levels_equal(imaged, replayed) and len(replayed.bids()) > 1_000
    else:
        static_data = data

    static = _engine(env)
    Window(env.instrument, static_data, None, None).add_to_engine(static)  # the static-list path
    expected = _run(static, env, start, end)
    static.dispose()

    fed = _engine(env)
    feed = EpisodeFeed(data, chunk=1_000)  # several chunks within the 20 s
    feed.register(fed)
    for _ in range(2):  # a reset drops the stream; attach gives it back
        fed.reset()
        fed.clear_strategies()
        if l2:
            feed.attach_after_image(fed, image)
        else:
            feed.attach(fed, start)
        got = _run(fed, env, start, end)
        assert len(got) > 2_000
        assert got == expected
        if l2:  # one image, at the start; the stream after it is the capture's own
            assert [x for x in got if x[0] == "d"][0][2] == len(image.deltas)
    fed.dispose()
    env.close()


def test_feed_refuses_unsorted_or_empty_data(usdm_catalog):
    env = MarketMakingEnv(EnvConfig(catalog_path=usdm_catalog, agent=AgentConfig(horizon_steps=10)))
    data = env.feed.data[:10]
    with pytest.raises(ValueError, match="sorted"):
        EpisodeFeed([data[5], *data[:5]])
    with pytest.raises(ValueError, match="no data"):
        EpisodeFeed([])
    env.close()
