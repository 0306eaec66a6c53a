"""``amm ingest bitstamp``: Bitstamp order-by-order captures -> L3 ``OrderBookDelta`` and ``TradeTick``.

Input kinds (told apart by the first line of each file; ``.xz`` / ``.gz`` are read compressed,
line by line, so memory stays bounded by the live book):

``log``
    The raw WebSocket log of the obAnalytics R package: ``<local_ms> <kind> <json>`` with kind
    ``order_created|order_changed|order_deleted`` (``price``, ``amount`` = remaining, ``datetime``,
    ``id``, ``order_type`` 0 bid / 1 ask), ``trade`` (``price``, ``amount``, ``id``; no side) and
    ``order_book`` (a top-20 snapshot of price levels).
``orders``
    Order events as CSV, ``id,timestamp,exchange[._]timestamp,price,volume,action,direction``:
    the R package's parse of a log (header ``exchange.timestamp``, volume in satoshi) or the
    ob-analytics 0.1.0 recorder's (``exchange_timestamp``, volume in BTC), which opens with the
    REST full book as ``created`` rows sharing one timestamp pair and closes with one delete per
    order still open, stamped ``timestamp == exchange_timestamp``.
``trades``
    ``trade_id,timestamp,exchange_timestamp,price,amount,buy_order_id,sell_order_id,side``
    (``exchange_timestamp`` and ``side`` optional; the order ids are not used).
``meta``
    The recorder's ``*_meta.json``: no rows; its counts are compared with what was read (notes).

Files given together are one stream, merged on ``ts_init`` (orders before trades on ties). At
most one source of order events and one of trades: a log together with its parsed CSV would
repeat every order event, so that combination is refused.

Modules, lowest first (each imports only the ones before it):

:mod:`~catalog.loaders.bitstamp.events`
    The parsed events (pure data: the book and the inference never see files), the fills, the
    loader's options and statistics, prices and sizes as integer ticks and lots, synthetic ids.
:mod:`~catalog.loaders.bitstamp.book`
    :class:`L3Rebuilder`, the L3 book as a pure state machine: orders in flight, anchoring on
    snapshots, synthetic orders and corrections.
:mod:`~catalog.loaders.bitstamp.sides`
    :class:`SideInference`: trades' aggressor sides from the fills the order stream reveals.
:mod:`~catalog.loaders.bitstamp.read`
    Reading the files: the kind of each, timestamps, and every row parsed and validated into an
    event.
:mod:`~catalog.loaders.bitstamp.loader`
    :class:`BitstampLoader`: the instrument, the merged stream through the book and the
    inference, trades held back for their fills, the report's notes.
"""

from catalog.loaders.bitstamp.book import L3Rebuilder
from catalog.loaders.bitstamp.events import (
    SYNTHETIC_ID_BASE,
    BitstampLoaderConfig,
    BitstampStats,
    BookClose,
    Event,
    Fill,
    LevelSnapshot,
    OrderEvent,
    OrderImage,
    TradeEvent,
    is_synthetic,
    synthetic_order_id,
    to_units,
)
from catalog.loaders.bitstamp.loader import BitstampLoader, instrument_id_from_names
from catalog.loaders.bitstamp.read import FileKind, detect_kind, detect_recorder
from catalog.loaders.bitstamp.sides import SideInference

__all__ = [
    "SYNTHETIC_ID_BASE",
    "BitstampLoader",
    "BitstampLoaderConfig",
    "BitstampStats",
    "BookClose",
    "Event",
    "FileKind",
    "Fill",
    "L3Rebuilder",
    "LevelSnapshot",
    "OrderEvent",
    "OrderImage",
    "SideInference",
    "TradeEvent",
    "detect_kind",
    "detect_recorder",
    "instrument_id_from_names",
    "is_synthetic",
    "synthetic_order_id",
    "to_units",
]
