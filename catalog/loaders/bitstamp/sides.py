"""Trades' aggressor sides inferred from the order stream, pure (:class:`SideInference`).

Trade sides (``AggressorSide``)
    The log's trades carry no side. A trade is the match of a resting order (the maker) with
    an incoming one (the taker); the aggressor is the taker. The evidence is in the order
    stream: each match shrinks both orders' remaining amounts by the traded amount (a
    ``changed`` to the new remaining amount, or a ``deleted`` with amount 0). For each trade,
    the unused *fills* within ``side_window_before_ms`` / ``side_window_after_ms`` of it whose
    decrease equals the trade amount to the satoshi are the candidates, the nearest in time per
    side; then, following obAnalytics' ``matchTrades`` (phil8192/ob-analytics ``R/trades.R``:
    the maker is the order that came first, Bitstamp's ids increase):

    1. a bid and an ask candidate: the one at the trade price is the maker (trades execute at
       the maker's price); both at it, the one with the smaller id is; the aggressor is the
       other one's side (``pair``);
    2. one candidate not at the trade price: it is a marketable taker; the aggressor is its
       side (``taker``);
    3. one candidate at the trade price: the maker, unless the other side shows a fill of
       unknown size at that price (an order that predates the capture, hence the maker); the
       aggressor is the opposite side (``maker``; the taker was a market or instant order, which
       is published without an amount or not at all);
    4. no exact candidate: a fill of unknown size at the trade price (a change or fill-delete
       of an order that predates the capture), on one side only, is the maker
       (``unknown_maker``).

    A consumed resting bid therefore makes the seller the aggressor. Measured: the 2015 log's
    575 trades are all decided (542 ``pair``, 27 ``taker``, 6 ``maker``), 570 of the 574 the
    quote rule can sign agree with it; on the 2026 capture with its side column removed, 284
    of 284 agree with the exchange's side. Trades the rules cannot decide are written with
    ``AggressorSide.NO_AGGRESSOR``, counted (``stats.sides``) and noted, never guessed.
"""

from __future__ import annotations

from collections import deque

from nautilus_trader.model.enums import AggressorSide

from catalog.loaders.bitstamp.events import Fill


class SideInference:
    """Infer trades' aggressor sides from the fills the order stream reveals (module docstring).

    Feed fills with :meth:`add` as the order events are applied and ask :meth:`infer` for a
    trade once every fill up to ``after_ns`` past it has been added.
    """

    def __init__(self, before_ns: int, after_ns: int) -> None:
        self.before_ns = before_ns
        self.after_ns = after_ns
        self._fills: deque[Fill] = deque()

    def add(self, fill: Fill) -> None:
        """Record a fill (in ``ts`` order); fills too old for any waiting trade are forgotten."""
        self._fills.append(fill)
        self.prune(fill.ts)

    def prune(self, now_ns: int) -> None:
        """Forget fills no trade still waiting can use."""
        horizon = now_ns - self.before_ns - 2 * self.after_ns
        fills = self._fills
        while fills and fills[0].ts < horizon:
            fills.popleft()

    def infer(self, price: int, lots: int, ts: int) -> tuple[AggressorSide, str]:
        """Return ``(side, rule)``; rule is ``pair|taker|maker|unknown_maker`` or ``none``/``ambiguous``."""
        lo, hi = ts - self.before_ns, ts + self.after_ns
        best: dict[bool, Fill] = {}
        unknown_at_price: dict[bool, Fill] = {}
        for f in self._fills:
            if f.used or f.ts < lo or f.ts > hi:
                continue
            if f.lots is None:
                if f.price == price:
                    cur = unknown_at_price.get(f.is_bid)
                    if cur is None or abs(f.ts - ts) < abs(cur.ts - ts):
                        unknown_at_price[f.is_bid] = f
                continue
            if f.lots != lots or (f.is_bid and f.price < price) or (not f.is_bid and f.price > price):
                continue  # not this match, or not marketable at this trade's price
            cur = best.get(f.is_bid)
            if cur is None or abs(f.ts - ts) < abs(cur.ts - ts):
                best[f.is_bid] = f
        bid, ask = best.get(True), best.get(False)
        if bid is not None and ask is not None:
            bid_at, ask_at = bid.price == price, ask.price == price
            if bid_at and ask_at:
                maker_is_bid = bid.order_id < ask.order_id
            elif bid_at or ask_at:
                maker_is_bid = bid_at
            else:
                return AggressorSide.NO_AGGRESSOR, "ambiguous"
            bid.used = ask.used = True
            return (AggressorSide.SELLER if maker_is_bid else AggressorSide.BUYER), "pair"
        one = bid or ask
        if one is not None:
            one.used = True
            if one.price != price:
                return (AggressorSide.BUYER if one.is_bid else AggressorSide.SELLER), "taker"
            other_unknown = unknown_at_price.get(not one.is_bid)
            if other_unknown is not None:
                other_unknown.used = True
                return (AggressorSide.BUYER if one.is_bid else AggressorSide.SELLER), "taker"
            return (AggressorSide.SELLER if one.is_bid else AggressorSide.BUYER), "maker"
        if len(unknown_at_price) == 1:
            (f,) = unknown_at_price.values()
            f.used = True
            return (AggressorSide.SELLER if f.is_bid else AggressorSide.BUYER), "unknown_maker"
        if unknown_at_price:
            return AggressorSide.NO_AGGRESSOR, "ambiguous"
        return AggressorSide.NO_AGGRESSOR, "none"


__all__ = ["SideInference"]
