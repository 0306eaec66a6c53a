"""Replay a Parquet catalog through a live ``TradingNode`` as if it were a venue feed.

A backtest and a live node share strategies, but not their plumbing: the live node has a wall
clock, asynchronous engine queues, a risk engine in the order path and a paper exchange
(Nautilus' sandbox execution client) fed from the message bus. :class:`ReplayDataClient` is a
``LiveMarketDataClient`` that reads ``QuoteTick`` / ``TradeTick`` / ``OrderBookDelta`` from a
``ParquetDataCatalog`` and publishes them at ``speed`` times real speed, so a strategy can be run
end to end through that plumbing offline, and its fills compared with a backtest of the same window.

Timing model
    Item ``i`` is published at ``wall_start + (ts_init[i] - ts_init[0]) / speed`` (a fixed anchor,
    so sleep overshoot does not accumulate); ``speed = 0`` publishes as fast as the event loop
    allows. The client always yields to the loop between items, so the engines process each item
    before the next arrives; the strategy's orders, however, travel through three more queues (risk
    engine, execution engine, sandbox) and reach the paper exchange a few items later. That delay,
    and strategy timers ticking in wall time rather than data time, are the differences from a
    backtest (see ``docs/deployment.md``).

Timestamps
    ``ts_event`` keeps the exchange time. ``ts_init`` is re-stamped with the node's live clock when
    ``restamp_ts_init`` is set (the default), exactly like a venue adapter stamps receipt time: the
    sandbox exchange advances its clock from ``ts_init``, and orders carry live-clock timestamps,
    so both then agree.

Order book
    Deltas are published as ``OrderBookDeltas`` batches, one per exchange message (Nautilus'
    ``OrderBookDeltas`` query, closed by ``F_LAST``). A window that starts mid-session opens with
    the full book as it stood at the start (:func:`catalog.checkpoints.start_book`, the same book a
    backtest or the env of that window starts from), published unthrottled first.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.config import InstrumentProviderConfig, NonNegativeFloat, PositiveInt
from nautilus_trader.common.enums import LogColor
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.core.data import Data
from nautilus_trader.data.messages import (
    DataCommand,
    RequestInstrument,
    RequestInstruments,
    RequestQuoteTicks,
    RequestTradeTicks,
    SubscribeData,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import (
    BookOrder,
    OrderBookDelta,
    OrderBookDeltas,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.identifiers import ClientId, InstrumentId, Venue
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.window import monotonic_ts_event, open_catalog, to_ns
from catalog.checkpoints import start_book

REPLAY_FINISHED_TOPIC = "amm.replay.finished"
"""Message-bus topic the client publishes (a :class:`ReplaySummary`) once the window is exhausted."""

DATA_TYPES = {"quotes": QuoteTick, "trades": TradeTick, "deltas": OrderBookDelta}
"""Names accepted in ``ReplayDataClientConfig.data_types`` and the catalog classes they read."""


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """
    Configuration of :class:`ReplayDataClient`.

    Parameters
    ----------
    catalog_path : str
        The ``ParquetDataCatalog`` directory to replay.
    venue : str, default "BINANCE"
        The venue the replayed instruments belong to (routing and the sandbox account).
    instrument_ids : list[str], optional
        The instruments to replay; ``None`` replays every instrument of ``venue`` in the catalog.
    start, end : str, optional
        Window bounds (ISO 8601 or integer nanoseconds since the epoch, on ``ts_init``); ``None``
        means the catalog's first / last record. ``end`` is inclusive.
    speed : float, default 1.0
        Replay speed as a multiple of real time (10.0 = ten times faster); 0 = unthrottled.
    data_types : list[str], optional
        Any of ``quotes``, ``trades``, ``deltas``; ``None`` replays all the catalog holds.
    restamp_ts_init : bool, default True
        Stamp ``ts_init`` with the live clock on publication (as a venue adapter would).
    warmup_book : bool, default True
        Publish the full book as it stood at ``start`` (unthrottled) before the window.
    book_type : str, default "L2_MBP"
        The sandbox's book: ``L3_MBO`` restates that book order by order, otherwise by level.
    chunk_secs : int, default 600
        Data-time length of each catalog read, which bounds memory on long windows.
    start_on_subscribe : bool, default True
        Hold the stream until the first market-data subscription (the strategies are running);
        otherwise start right after connecting.

    """

    catalog_path: str
    venue: str = "BINANCE"
    instrument_ids: list[str] | None = None
    start: str | None = None
    end: str | None = None
    speed: NonNegativeFloat = 1.0
    data_types: list[str] | None = None
    restamp_ts_init: bool = True
    warmup_book: bool = True
    book_type: str = "L2_MBP"
    chunk_secs: PositiveInt = 600
    start_on_subscribe: bool = True


class CatalogInstrumentProvider(InstrumentProvider):
    """Instruments read from a ``ParquetDataCatalog`` (the definitions the data was written with)."""

    def __init__(self, catalog: ParquetDataCatalog, venue: Venue, instrument_ids: list[str] | None) -> None:
        super().__init__(InstrumentProviderConfig(load_all=True))
        self._catalog = catalog
        self._venue = venue
        self._wanted = [InstrumentId.from_str(i) for i in instrument_ids] if instrument_ids else None

    async def load_all_async(self, filters: dict | None = None) -> None:
        for instrument in self._catalog.instruments():
            if instrument.id.venue != self._venue:
                continue
            if self._wanted is None or instrument.id in self._wanted:
                self.add(instrument)
        if self._wanted:
            missing = [str(i) for i in self._wanted if self.find(i) is None]
            if missing:
                raise ValueError(f"instruments not in catalog {self._catalog.path}: {', '.join(missing)}")

    async def load_ids_async(self, instrument_ids: list[InstrumentId], filters: dict | None = None) -> None:
        await self.load_all_async(filters)

    async def load_async(self, instrument_id: InstrumentId, filters: dict | None = None) -> None:
        await self.load_all_async(filters)


class ReplaySummary:
    """What a finished replay published: counts per data type and the wall time it took."""

    def __init__(self, counts: dict[str, int], wall_secs: float, data_secs: float) -> None:
        self.counts = counts
        self.wall_secs = wall_secs
        self.data_secs = data_secs

    def __repr__(self) -> str:
        return f"ReplaySummary(counts={self.counts}, wall_secs={self.wall_secs:.2f}, data_secs={self.data_secs:.2f})"


class ReplayDataClient(LiveMarketDataClient):
    """
    A live market-data client that streams a catalog window at a multiple of real speed.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The node's event loop.
    client_id : ClientId
        The client id (the node's data-client name).
    msgbus, cache, clock
        The node's message bus, cache and live clock.
    config : ReplayDataClientConfig
        What to replay and how fast.

    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_id: ClientId,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: ReplayDataClientConfig,
    ) -> None:
        catalog_dir = Path(config.catalog_path)
        if not catalog_dir.is_dir():
            raise ValueError(f"catalog_path: {catalog_dir} is not a directory")
        # checked as every reader opens it: 1.221 layout refused (it would replay without its
        # book), an interrupted commit rolled back first
        self._catalog = open_catalog(catalog_dir)
        venue = Venue(config.venue)
        super().__init__(
            loop=loop,
            client_id=client_id,
            venue=venue,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=CatalogInstrumentProvider(self._catalog, venue, config.instrument_ids),
            config=config,
        )
        unknown = sorted(set(config.data_types or ()) - set(DATA_TYPES))
        if unknown:
            raise ValueError(f"data_types: unknown {unknown}; choose from {sorted(DATA_TYPES)}")
        self._config = config
        self._start_ns = to_ns(config.start, name="start")
        self._end_ns = to_ns(config.end, name="end")
        if self._start_ns is not None and self._end_ns is not None and self._end_ns < self._start_ns:
            raise ValueError(f"end: {config.end} is before start {config.start}")
        self._replay_task: asyncio.Task | None = None
        self.counts: dict[str, int] = {name: 0 for name in DATA_TYPES}
        self.finished = False

    # -- connection ------------------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._instrument_provider.initialize()
        for instrument in self._instrument_provider.list_all():
            self._handle_data(instrument)
        if not self._config.start_on_subscribe:
            self._start_replay()

    async def _disconnect(self) -> None:
        if self._replay_task is not None and not self._replay_task.done():
            self._replay_task.cancel()

    # -- subscriptions: all configured data is replayed; the first subscription starts it ----------

    async def _start_on_subscription(self, command: SubscribeData) -> None:
        if self._config.start_on_subscribe:
            self._start_replay()

    async def _ignore(self, command: DataCommand) -> None:
        """Instruments are published once, on connect, and the replay streams the configured data
        whatever is subscribed: these commands change nothing."""

    _subscribe_quote_ticks = _subscribe_trade_ticks = _start_on_subscription
    _subscribe_order_book_deltas = _subscribe_order_book_snapshots = _start_on_subscription
    _subscribe_instruments = _subscribe_instrument = _ignore
    _unsubscribe_instruments = _unsubscribe_instrument = _ignore
    _unsubscribe_quote_ticks = _unsubscribe_trade_ticks = _ignore
    _unsubscribe_order_book_deltas = _unsubscribe_order_book_snapshots = _ignore

    # -- requests: instruments, and history strictly before the replay window -------------------

    async def _request_instrument(self, request: RequestInstrument) -> None:
        instrument = self._instrument_provider.find(request.instrument_id)
        if instrument is None:
            self._log.error(f"Cannot find instrument {request.instrument_id} in the catalog")
            return
        self._handle_instrument(instrument, request.id, request.start, request.end, request.params)

    async def _request_instruments(self, request: RequestInstruments) -> None:
        self._handle_instruments(
            request.venue, self._instrument_provider.list_all(), request.id, request.start,
            request.end, request.params,
        )

    async def _request_quote_ticks(self, request: RequestQuoteTicks) -> None:
        ticks = self._history(QuoteTick, request.instrument_id, request.start, request.end, request.limit)
        self._handle_quote_ticks(request.instrument_id, ticks, request.id, request.start, request.end, request.params)

    async def _request_trade_ticks(self, request: RequestTradeTicks) -> None:
        ticks = self._history(TradeTick, request.instrument_id, request.start, request.end, request.limit)
        self._handle_trade_ticks(request.instrument_id, ticks, request.id, request.start, request.end, request.params)

    def _history(self, cls: type, iid: InstrumentId, start: datetime | None, end: datetime | None, limit: int) -> list:
        """Catalog data before the replay window: a live venue cannot return the future either."""
        start_ns, end_ns = to_ns(start, name="start"), to_ns(end, name="end")
        if self._start_ns is not None:
            end_ns = min(end_ns, self._start_ns - 1) if end_ns is not None else self._start_ns - 1
        data = self._catalog.query(cls, identifiers=[str(iid)], start=start_ns, end=end_ns)
        return data[-limit:] if limit else data

    # -- the replay ------------------------------------------------------------------------------

    def _start_replay(self) -> None:
        if self._replay_task is None:
            self._replay_task = self.create_task(self._replay(), log_msg="replay")

    def _instrument_ids(self) -> list[str]:
        return [str(i.id) for i in self._instrument_provider.list_all()]

    def _classes(self) -> list[type]:
        if self._config.data_types:
            return [DATA_TYPES[name] for name in self._config.data_types]
        present = set(self._catalog.list_data_types())
        return [cls for name, cls in DATA_TYPES.items() if _table(cls) in present]

    def _window(self) -> tuple[int, int]:
        """The window as ``(start_ns, end_ns)``, open bounds filled from the catalog."""
        start, end = self._start_ns, self._end_ns
        if start is not None and end is not None:
            return start, end
        firsts, lasts = [], []
        for cls in self._classes():
            for iid in self._instrument_ids():
                intervals = self._catalog.get_intervals(cls, iid)
                if intervals:
                    firsts.append(intervals[0][0])
                    lasts.append(intervals[-1][1])
        if not firsts:
            raise ValueError(f"catalog {self._catalog.path} has no {self._config.data_types or list(DATA_TYPES)} data for {self._instrument_ids()}")
        return (start if start is not None else min(firsts)), (end if end is not None else max(lasts))

    def _read(self, cls: type, start_ns: int, end_ns: int) -> list[Data]:
        if cls is OrderBookDelta:  # one batch per message, batched per instrument
            batches = [
                self._catalog.query(OrderBookDeltas, identifiers=[iid], start=start_ns, end=end_ns)
                for iid in self._instrument_ids()
            ]
            return list(heapq.merge(*batches, key=lambda d: d.ts_init))
        return self._catalog.query(cls, identifiers=self._instrument_ids(), start=start_ns, end=end_ns)

    def _chunks(self, start_ns: int, end_ns: int) -> Iterator[list[Data]]:
        """Catalog reads of ``chunk_secs`` each, merged across types in ``ts_init`` order.

        For an L1 sandbox, ``ts_event`` is kept non-decreasing as ``catalog.window.load_window``
        does (the L1 matching engine skips "stale" events otherwise).
        """
        step = self._config.chunk_secs * 1_000_000_000
        lo = start_ns
        floor = -1
        while lo <= end_ns:
            hi = min(lo + step - 1, end_ns)
            streams = [self._read(cls, lo, hi) for cls in self._classes()]
            chunk = list(heapq.merge(*streams, key=lambda d: d.ts_init))
            if self._config.book_type == "L1_MBP" and chunk:
                chunk, _ = monotonic_ts_event(chunk, floor)
                floor = chunk[-1].ts_event
            yield chunk
            lo = hi + 1

    def _warmup(self, start_ns: int) -> list[OrderBookDeltas]:
        """The full book of each instrument just before ``start_ns`` (none at the data's start)."""
        if not self._config.warmup_book or OrderBookDelta not in self._classes():
            return []
        per_order = self._config.book_type == "L3_MBO"
        books = (start_book(self._catalog.path, iid, start_ns, per_order=per_order) for iid in self._instrument_ids())
        return [book for book in books if book is not None]

    async def _replay(self) -> None:
        start_ns, end_ns = self._window()
        speed = float(self._config.speed)
        self._log.info(
            f"Replaying {self._instrument_ids()} {pd.Timestamp(start_ns, tz='UTC')} -> "
            f"{pd.Timestamp(end_ns, tz='UTC')} at {'max' if speed == 0 else f'{speed:g}x'} speed",
            LogColor.BLUE,
        )
        for batch in self._warmup(start_ns):
            self._publish(batch, count=False)
            await asyncio.sleep(0)

        wall_start = time.perf_counter()
        data_start: int | None = None
        last_ts = start_ns
        for chunk in self._chunks(start_ns, end_ns):
            for item in chunk:
                if data_start is None:
                    data_start = item.ts_init
                if speed > 0:
                    delay = wall_start + (item.ts_init - data_start) / 1e9 / speed - time.perf_counter()
                    await asyncio.sleep(delay if delay > 0 else 0)
                else:
                    await asyncio.sleep(0)
                self._publish(item)
                last_ts = item.ts_init
        self.finished = True
        summary = ReplaySummary(
            counts=dict(self.counts),
            wall_secs=time.perf_counter() - wall_start,
            data_secs=(last_ts - (data_start or last_ts)) / 1e9,
        )
        self._log.info(f"Replay finished: {summary}", LogColor.BLUE)
        self._msgbus.publish(topic=REPLAY_FINISHED_TOPIC, msg=summary)

    def _publish(self, item: Data, count: bool = True) -> None:
        if self._config.restamp_ts_init:
            item = _restamp(item, self._clock.timestamp_ns())
        if count:
            if isinstance(item, QuoteTick):
                self.counts["quotes"] += 1
            elif isinstance(item, TradeTick):
                self.counts["trades"] += 1
            else:
                self.counts["deltas"] += len(item.deltas)
        self._handle_data(item)


def _table(cls: type) -> str:
    from nautilus_trader.persistence.funcs import class_to_filename

    return class_to_filename(cls)


def _restamp(item: Data, ts_init: int) -> Data:
    if isinstance(item, QuoteTick):
        return QuoteTick(
            item.instrument_id, item.bid_price, item.ask_price, item.bid_size, item.ask_size,
            item.ts_event, ts_init,
        )
    if isinstance(item, TradeTick):
        return TradeTick(
            item.instrument_id, item.price, item.size, item.aggressor_side, item.trade_id,
            item.ts_event, ts_init,
        )
    if isinstance(item, OrderBookDeltas):
        return OrderBookDeltas(
            item.instrument_id,
            [
                OrderBookDelta(
                    d.instrument_id, d.action,
                    BookOrder(d.order.side, d.order.price, d.order.size, d.order.order_id),
                    d.flags, d.sequence, d.ts_event, ts_init,
                )
                for d in item.deltas
            ],
        )
    return item


class ReplayLiveDataClientFactory(LiveDataClientFactory):
    """Creates :class:`ReplayDataClient` instances for ``TradingNode.add_data_client_factory``."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: ReplayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> ReplayDataClient:
        return ReplayDataClient(
            loop=loop,
            client_id=ClientId(name),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )
