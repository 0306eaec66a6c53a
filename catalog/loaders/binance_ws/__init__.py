"""Binance raw WebSocket captures -> Nautilus ``OrderBookDelta`` / ``QuoteTick`` / ``TradeTick``.

Input: gzip text, one message per line, ``<local_receive_ts_ns> <json>``, where the JSON is a
combined-stream envelope ``{"stream": "<sym>@depth@100ms" | "<sym>@bookTicker" | "<sym>@trade",
"data": {...}}`` or a REST depth snapshot ``{"lastUpdateId": N, "bids": [...], "asks": [...]}``
(the format hftbacktest's collector writes; see ``PROVENANCE.md`` of the data directory).

Design decisions (each one is visible in the quality report):

Market and instrument
    The market is read from the messages, not from directory names: a depth diff carrying ``pu``
    (or a bookTicker with ``E``, or a trade with ``X``) is futures; a ``ps`` field or a ``_PERP``
    symbol is COIN-M. Ids follow NautilusTrader's Binance adapter: spot ``BTCUSDT.BINANCE``,
    USD-M ``BTCUSDT-PERP.BINANCE``, COIN-M ``BTCUSD_PERP`` -> ``BTCUSD-PERP.BINANCE``.

Depth synchronisation (Binance "How to manage a local order book correctly")
    Diffs that arrive while there is no valid book are buffered (bounded). When a snapshot
    arrives it is emitted as CLEAR + ADD deltas, then the buffer is replayed: diffs older than the
    snapshot are dropped as ``STALE_UPDATE`` (spot: ``u <= lastUpdateId``; futures:
    ``u < lastUpdateId``), the first applied diff must straddle the snapshot (spot:
    ``U <= lastUpdateId + 1 <= u``; futures: ``U <= lastUpdateId <= u`` or ``pu ==
    lastUpdateId``), and from then on spot needs ``U == previous u + 1`` and futures ``pu ==
    previous u``. Replayed diffs get the snapshot's ``ts_init``: that is the first moment the book
    they update existed. A break is a ``SEQUENCE_GAP`` event: no deltas are emitted until the
    next snapshot (which begins with CLEAR), and the diffs skipped meanwhile are ``UNSYNCED``.
    A diff that would leave the book crossed or locked is dropped and invalidates the book the
    same way (exchange books never cross, so the stream is corrupt at that point).

Deltas and flags
    A snapshot is ``CLEAR`` (F_SNAPSHOT) + one ``ADD`` per level (F_SNAPSHOT), the last one
    ``F_SNAPSHOT | F_LAST``: ``OrderBookDeltas.batch`` (used by ``ParquetDataCatalog.
    order_book_deltas(batched=True)`` and the ``OrderBookDeltas`` query) closes a batch on the
    ``F_LAST`` bit (1.221 needed ``flags == F_LAST`` exactly, 1.231 tests the bit). A diff gives one
    delta per level: ``DELETE`` for quantity 0, else ``UPDATE`` (an upsert in Nautilus' L2_MBP
    book, as in the Binance adapter), the last one ``F_LAST``; all deltas of a message share
    ``ts_event`` and ``ts_init`` and carry the message's final update id as ``sequence``.

Timestamps
    ``ts_init`` is the local receive time; ``ts_event`` the exchange time (``T`` when present,
    as the Binance adapter does, else ``E``, else the local time: spot bookTicker and spot
    snapshots carry no exchange time). If the local clock steps backwards, ``ts_init`` is clamped
    to the previous value (the row is kept, so the depth sequence is not broken) and the row is
    counted as a marked ``OUT_OF_ORDER`` event. A pause longer than ``time_gap_threshold_s``
    between consecutive lines is marked ``TIME_GAP``.

Validation
    Prices must be positive, finite and on the instrument's tick grid (off-grid is
    ``MALFORMED``, naming the JSON field, e.g. ``b`` or ``bids[3][0]``); sizes must be finite and not negative, and positive where a
    size is required (quotes, trades). Sizes off the lot grid (a few far-away spot depth levels
    aggregate old, finer-lot orders) are rounded to the size precision and counted in
    ``stats.sizes_rounded`` and a report note. Quotes that are crossed/locked, repeat the
    previous bookTicker update id, or lie more than ``outlier_threshold_bps`` from the last good
    mid are dropped; trades with an id already seen are dropped as ``DUPLICATE``. The outlier
    reference is the last accepted bookTicker mid (the last accepted trade price until a quote
    arrives) and is reset after a ``TIME_GAP``. Depth levels are not outlier-checked (a
    1,000-level book legitimately spans several percent).
    File-level damage (empty file, not gzip, truncated gzip) always raises ``DataQualityError``.

Modules, lowest first (each imports only the ones before it):

:mod:`~catalog.loaders.binance_ws.wire`
    The market, instrument ids and the msgspec schemas of the messages.
:mod:`~catalog.loaders.binance_ws.config`
    The loader's options and run statistics.
:mod:`~catalog.loaders.binance_ws.read`
    Reading a capture: gzip lines, each file's first timestamp, symbol and market.
:mod:`~catalog.loaders.binance_ws.sync`
    :class:`DepthSync`, Binance's snapshot + diff synchronisation as a pure state machine fed
    parsed messages (no files, no Nautilus objects).
:mod:`~catalog.loaders.binance_ws.convert`
    :class:`Session`: lines -> validated quotes, trades and deltas, every drop reported.
:mod:`~catalog.loaders.binance_ws.loader`
    :class:`BinanceWsLoader`: files ordered, instrument built, one session over them.
"""

from catalog.loaders.binance_ws.config import BinanceWsLoaderConfig, BinanceWsStats
from catalog.loaders.binance_ws.convert import Session
from catalog.loaders.binance_ws.loader import BinanceWsLoader
from catalog.loaders.binance_ws.sync import DepthDiff, DepthSnapshot, DepthSync
from catalog.loaders.binance_ws.wire import Market, binance_instrument_id

__all__ = [
    "BinanceWsLoader",
    "BinanceWsLoaderConfig",
    "BinanceWsStats",
    "DepthDiff",
    "DepthSnapshot",
    "DepthSync",
    "Market",
    "Session",
    "binance_instrument_id",
]
