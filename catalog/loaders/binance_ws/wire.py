"""Binance WebSocket wire format: the market a capture comes from, ids, and the message schemas.

msgspec validates types and required fields while decoding; a failure names the field
(:func:`msgspec_field`), which the loader reports.
"""

from __future__ import annotations

import re
from enum import Enum

import msgspec


class Market(str, Enum):
    """Binance market a capture comes from (decides id convention and depth sync rules)."""

    SPOT = "spot"
    USDM = "usdm"
    COINM = "coinm"

    @property
    def is_futures(self) -> bool:
        return self is not Market.SPOT


def binance_instrument_id(symbol: str, market: Market) -> str:
    """Instrument id of the NautilusTrader Binance adapter (1.221 and 1.231) for ``symbol`` on ``market``.

    Spot keeps the symbol; USD-M perpetuals add ``-PERP``; COIN-M perpetuals turn ``_PERP`` into
    ``-PERP``; dated futures (``BTCUSD_240927``) keep their symbol.
    """
    symbol = symbol.upper()
    if market is Market.SPOT:
        return f"{symbol}.BINANCE"
    if symbol.endswith("_PERP"):
        return f"{symbol[:-5]}-PERP.BINANCE"
    if "_" in symbol:
        return f"{symbol}.BINANCE"
    return f"{symbol}-PERP.BINANCE"


class Envelope(msgspec.Struct):
    """A capture line's JSON: a combined-stream message (``stream``, ``data``) or a REST snapshot."""

    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)  # empty if absent
    lastUpdateId: int | None = None  # noqa: N815 - Binance field name


class SnapshotMessage(msgspec.Struct):
    """A REST depth snapshot (``GET /api/v3/depth``, ``/fapi/v1/depth``, ``/dapi/v1/depth``)."""

    lastUpdateId: int  # noqa: N815
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None


class DepthMessage(msgspec.Struct):
    """A ``depthUpdate`` diff: update ids ``U`` .. ``u`` (futures: previous ``pu``), absolute sizes."""

    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None
    pu: int | None = None


class BookTickerMessage(msgspec.Struct):
    """A ``bookTicker`` update: best bid/ask price and size, update id ``u``."""

    u: int
    b: str
    B: str
    a: str
    A: str
    E: int | None = None
    T: int | None = None


class TradeMessage(msgspec.Struct):
    """A ``trade``: id, price, quantity, whether the buyer was the maker."""

    t: int
    p: str
    q: str
    m: bool
    T: int | None = None
    E: int | None = None


ENVELOPE = msgspec.json.Decoder(Envelope)
SNAPSHOT = msgspec.json.Decoder(SnapshotMessage)
DEPTH = msgspec.json.Decoder(DepthMessage)
BOOK_TICKER = msgspec.json.Decoder(BookTickerMessage)
TRADE = msgspec.json.Decoder(TradeMessage)
_FIELD_RE = re.compile(r"`\$?\.?([^`]*)`")


def msgspec_field(error: Exception) -> str | None:
    """Best-effort field name out of a msgspec error ("... field `u` - at `$.data`")."""
    names = _FIELD_RE.findall(str(error))
    return names[0] if names else None


def market_from(kind: str, symbol: str, data: dict) -> Market | None:
    """Tell the market from one decoded message, or None if this message does not say."""
    coin = "ps" in data or symbol.upper().endswith("_PERP")
    if kind == "depth":
        if "pu" in data:
            return Market.COINM if coin else Market.USDM
        return Market.SPOT if not coin else Market.COINM
    if kind == "bookTicker":
        if "E" in data or "e" in data:
            return Market.COINM if coin else Market.USDM
        return Market.SPOT
    if kind == "trade":
        if "X" in data:
            return Market.COINM if coin else Market.USDM
        if "M" in data:
            return Market.SPOT
    return None


def stream_kind(suffix: str) -> str | None:
    """Map the part of a stream name after ``<symbol>@`` to an input kind."""
    if suffix == "bookTicker":
        return "bookTicker"
    if suffix == "trade":
        return "trade"
    if suffix == "depth" or suffix.startswith("depth@"):
        return "depth"
    return None  # depth5/10/20 partial books, aggTrade, kline... are not handled
