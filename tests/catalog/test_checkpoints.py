"""Every window of an order-book stream starts from the full book (catalog.checkpoints).

On the real capture ``binance_ws/usdm/btcusdt_20240808.gz``: a window cut out of the middle must
hold, at its first event, exactly the book a replay from the capture's REST snapshot holds there
(8,000+ levels), not just the levels that change after the cut. Checked for the catalog function,
for the engine a backtest or the env builds from ``load_window``, with and without the ingest's
checkpoints.
"""

from __future__ import annotations

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, BookType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.trading.strategy import Strategy

from catalog.window import load_window
from backtests.venue import VenueModelConfig
from catalog.checkpoints import CHECKPOINT_DIR, latest_checkpoint, levels_equal, start_book
from catalog.ingest import ingest_files
from catalog.settings import data_file

IID = "BTCUSDT-PERP.BINANCE"
FRACTIONS = (0.05, 0.5, 0.97)  # of the capture's deltas: before the 1st checkpoint, middle, end


@pytest.fixture(scope="module")
def deltas(usdm_catalog) -> list[OrderBookDelta]:
    return ParquetDataCatalog(str(usdm_catalog)).query(OrderBookDelta, identifiers=[IID])


def _replayed_before(deltas: list[OrderBookDelta], start_ns: int) -> OrderBook:
    """The book of a full replay from the capture's snapshot, just before ``start_ns``."""
    book = OrderBook(InstrumentId.from_str(IID), BookType.L2_MBP)
    for d in deltas:
        if d.ts_init >= start_ns:
            break
        book.apply_delta(d)
    return book


def _book_of(batch: OrderBookDeltas) -> OrderBook:
    book = OrderBook(batch.instrument_id, BookType.L2_MBP)
    book.apply_deltas(batch)
    return book


def _start(deltas, fraction: float) -> int:
    return deltas[int(len(deltas) * fraction)].ts_init


def test_ingest_writes_a_checkpoint_every_interval(usdm_catalog, deltas):
    cps = ParquetDataCatalog(str(usdm_catalog / CHECKPOINT_DIR)).query(OrderBookDelta, identifiers=[IID])
    times = sorted({d.ts_init for d in cps if d.action == BookAction.CLEAR})
    # 344.7 s of stream from the REST snapshot: one at the snapshot, then every 60 s
    assert len(times) == 6
    assert all(b - a >= 60_000_000_000 for a, b in zip(times, times[1:]))
    assert times[0] == deltas[0].ts_init
    # each checkpoint is the replayed book at its time
    for t in times[1:3]:
        image = latest_checkpoint(usdm_catalog, IID, t + 1)
        assert image.ts_ns == t
        assert levels_equal(_book_of(image.to_deltas()), _replayed_before(deltas, t + 1))


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_window_start_book_equals_the_full_replay(usdm_catalog, deltas, fraction):
    start = _start(deltas, fraction)
    batch = start_book(usdm_catalog, IID, start, per_order=False)
    assert batch.ts_init == start and batch.deltas[0].action == BookAction.CLEAR
    full = _replayed_before(deltas, start)
    assert len(full.bids()) + len(full.asks()) > 2_000  # the REST snapshot alone has 2 x 1,000
    assert levels_equal(_book_of(batch), full)


def test_without_checkpoints_the_book_is_replayed_from_the_series_start(tmp_path, deltas):
    catalog = tmp_path / "no_checkpoints"
    ingest_files("binance-ws", [data_file("binance_ws/usdm/btcusdt_20240808.gz")], catalog,
                 checkpoint_interval_s=None)
    assert not (catalog / CHECKPOINT_DIR).exists()
    start = _start(deltas, 0.5)
    assert levels_equal(_book_of(start_book(catalog, IID, start, per_order=False)), _replayed_before(deltas, start))


def test_reingest_adds_no_checkpoint(tmp_path):
    catalog = tmp_path / "twice"
    source = data_file("binance_ws/usdm/btcusdt_20240808.gz")
    ingest_files("binance-ws", [source], catalog)
    cps = ParquetDataCatalog(str(catalog / CHECKPOINT_DIR))
    before = [repr(d) for d in cps.query(OrderBookDelta, identifiers=[IID])]
    again = ingest_files("binance-ws", [source], catalog)
    after = [repr(d) for d in cps.query(OrderBookDelta, identifiers=[IID])]
    assert before and after == before
    assert again.commit.rows_added["book_checkpoints/order_book_deltas"] == 0
    assert again.commit.duplicate_rows_removed["book_checkpoints/order_book_deltas"] == len(before)


def test_window_starting_at_the_data_start_needs_no_book(usdm_catalog, deltas):
    window = load_window(usdm_catalog, IID, deltas[0].ts_init, None, "L2_MBP")
    assert window.start_book is None
    assert isinstance(window.data[0], OrderBookDeltas) and window.data[0].deltas[0].action == BookAction.CLEAR


class _FirstBookConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId


class _FirstBook(Strategy):
    """Copies the engine's book (the cache's, as every strategy sees it) at the first book event."""

    def __init__(self, config: _FirstBookConfig) -> None:
        super().__init__(config)
        self.first: OrderBook | None = None
        self.first_ts: int | None = None

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.config.instrument_id, BookType.L2_MBP)

    def on_order_book_deltas(self, deltas) -> None:  # noqa: ANN001
        if self.first is None:
            self.first_ts = deltas.ts_init
            self.first = OrderBook(self.config.instrument_id, BookType.L2_MBP)
            self.first.apply_deltas(start_book_of(self.cache.order_book(self.config.instrument_id), deltas.ts_init))


def start_book_of(book: OrderBook, ts: int) -> OrderBookDeltas:
    from catalog.checkpoints import image_of

    return image_of(book, ts).to_deltas()


def test_engine_replaying_a_window_holds_the_full_book_at_its_first_event(usdm_catalog, deltas):
    start = _start(deltas, 0.5)
    window = load_window(usdm_catalog, IID, start, None, "L2_MBP")
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        VenueModelConfig(book_type="L2_MBP").add_to_engine(engine, [window.instrument])
        window.add_to_engine(engine)
        probe = _FirstBook(_FirstBookConfig(instrument_id=window.instrument.id))
        engine.add_strategy(probe)
        engine.run(end=start + 1)
        assert probe.first_ts == start
        assert levels_equal(probe.first, _replayed_before(deltas, start))
    finally:
        engine.dispose()
