"""Two-sided quote management: the one place where target quotes become orders.

Every market maker in this project (the baselines here, the RL ``PolicyMarketMaker`` and the RL
training environment) decides *where* it wants to quote and hands a :class:`Quotes` target to a
:class:`QuoteManager`, which owns *how* the target is worked on the venue:

- prices are snapped to the tick grid on the passive side (bids down, asks up) and never cross
  the market or each other, so a post-only order is only rejected when the market moved while
  the order was in flight;
- a resting quote is amended in place (``modify_order``) once the target moved by at least
  ``refresh_threshold_ticks``; cancel/replace is only used when the venue cannot amend size;
- orders are tracked by client order id, so the hot path never calls ``cancel_all_orders``
  (whose cost grows with the number of orders ever created, NOTES §3);
- a hard inventory limit: the worst-case position if every resting order on a side were filled
  (``position + open buy quantity`` and ``position - open sell quantity``, counting orders that
  are still pending cancel) never exceeds ``max_inventory``.

All arithmetic is done in integer ticks and integer lots, so limits are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from nautilus_trader.model.enums import OrderSide, OrderStatus, PositionSide, TimeInForce
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from nautilus_trader.model.identifiers import ClientId, ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.model.orders import LimitOrder
from nautilus_trader.trading.strategy import Strategy

# Float prices that are a whole number of ticks can come out as 123.99999999 ticks after
# division; this tolerance (in ticks / lots) keeps them on the right grid point.
_GRID_EPS = 1e-9

# Bound of the Price / Quantity caches (entries), so a long live session cannot grow them.
_CACHE_MAX = 100_000

# Statuses in which an order can be amended right away (no command of ours in flight).
_AMENDABLE = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGERED})


def cached_top(cache, instrument_id: InstrumentId, *, book: bool = True, quote: bool = True) -> tuple[float, float] | None:  # noqa: ANN001 - a Nautilus Cache
    """Best bid and ask from the cache: the order book's when ``book`` and both its sides are
    there, else the last quote tick's when ``quote``; ``None`` when neither is known.

    The one reading of the top of book shared by the quote manager (post-only clamp), the agent
    (what it acts on) and the equity sampler (the mid it marks at).
    """
    if book:
        order_book = cache.order_book(instrument_id)
        if order_book is not None:
            bid, ask = order_book.best_bid_price(), order_book.best_ask_price()
            if bid is not None and ask is not None:
                return bid.as_double(), ask.as_double()
    if quote:
        tick = cache.quote_tick(instrument_id)
        if tick is not None:
            return tick.bid_price.as_double(), tick.ask_price.as_double()
    return None


@dataclass(frozen=True, slots=True)
class Quotes:
    """A two-sided quote target, in instrument units before rounding.

    Parameters
    ----------
    bid_price, ask_price : float or None
        Target limit prices (quote currency). ``None`` means "do not quote this side": a resting
        order on that side is canceled.
    bid_qty, ask_qty : float
        Target order sizes (base units / contracts). Zero or less also means "do not quote".
    """

    bid_price: float | None
    ask_price: float | None
    bid_qty: float
    ask_qty: float

    @classmethod
    def none(cls) -> Quotes:
        """Pull both sides."""
        return cls(None, None, 0.0, 0.0)


@dataclass(frozen=True)
class QuoteManagerConfig:
    """Order-handling settings of a :class:`QuoteManager`.

    Parameters
    ----------
    max_inventory : Decimal
        Hard bound on ``|position|`` (base units / contracts), enforced against the worst case in
        which every resting order on a side is filled.
    refresh_threshold_ticks : int, default 1
        A resting quote is re-priced only when its target moved by at least this many ticks.
        Larger values trade staleness for fewer messages (and, live, better queue position).
    amend_quantity : bool, default True
        Whether the venue can amend order size in place. When ``False`` a size change is done by
        cancel/replace (losing queue position).
    client_id : ClientId, optional
        Execution client to route commands to (``None`` = inferred from the venue).
    """

    max_inventory: Decimal
    refresh_threshold_ticks: int = 1
    amend_quantity: bool = True
    client_id: ClientId | None = None

    def __post_init__(self) -> None:
        if Decimal(self.max_inventory) <= 0:
            raise ValueError(f"max_inventory must be > 0, got {self.max_inventory}")
        if self.refresh_threshold_ticks < 0:
            raise ValueError(
                f"refresh_threshold_ticks must be >= 0, got {self.refresh_threshold_ticks}",
            )


@dataclass
class QuoteCounters:
    """Message and outcome counts, for diagnostics and to check amendments are used.

    ``submitted``, ``amended`` and ``canceled`` count commands sent; ``rejected`` counts
    ``OrderRejected``/``OrderDenied`` (``post_only_rejected`` is the post-only subset);
    ``modify_rejected`` / ``cancel_rejected`` count refused amendments / cancels; ``fills`` counts
    fill events and ``inventory_clipped`` the times a side's size was cut by the inventory limit.
    """

    submitted: int = 0
    amended: int = 0
    canceled: int = 0
    rejected: int = 0
    post_only_rejected: int = 0
    modify_rejected: int = 0
    cancel_rejected: int = 0
    fills: int = 0
    inventory_clipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Side:
    side: OrderSide
    working: LimitOrder | None = None
    # Orders we asked to cancel; they may still fill until the venue confirms.
    canceling: dict[ClientOrderId, LimitOrder] = field(default_factory=dict)


class QuoteManager:
    """Work a two-sided quote target on the venue with post-only GTC limit orders.

    The manager does not subscribe to anything: its owner calls :meth:`update` with a new target
    whenever it re-decides (timer or market data), and forwards every order event to
    :meth:`on_order_event` (``Strategy.on_order_event`` receives them all).

    Parameters
    ----------
    strategy : Strategy
        The running strategy whose order factory, cache and command methods are used.
    instrument : Instrument
        The quoted instrument (tick and lot size come from it).
    config : QuoteManagerConfig
        Order-handling settings.
    """

    def __init__(
        self,
        strategy: Strategy,
        instrument: Instrument,
        config: QuoteManagerConfig,
    ) -> None:
        self._strategy = strategy
        self._instrument = instrument
        self._config = config
        self._tick = instrument.price_increment.as_decimal()
        self._tick_f = float(self._tick)
        self._lot = instrument.size_increment.as_decimal()
        self._lot_f = float(self._lot)
        min_qty = instrument.min_quantity.as_decimal() if instrument.min_quantity else self._lot
        self._min_lots = max(1, math.ceil(min_qty / self._lot))
        self._max_lots = int(Decimal(config.max_inventory) / self._lot + Decimal("1e-9"))
        self._buy = _Side(OrderSide.BUY)
        self._sell = _Side(OrderSide.SELL)
        self._sides = {OrderSide.BUY: self._buy, OrderSide.SELL: self._sell}
        # Hot-path caches: Price / Quantity objects by integer ticks / lots (immutable values,
        # built once instead of through Decimal on every command).
        self._prices: dict[int, Price] = {}
        self._qtys: dict[int, Quantity] = {}
        self._price_precision = instrument.price_precision
        self._size_precision = instrument.size_precision
        self._instrument_id = instrument.id
        self._orders: dict[ClientOrderId, _Side] = {}
        self.counters = QuoteCounters()

    # -- Queries ----------------------------------------------------------------------------------

    @property
    def config(self) -> QuoteManagerConfig:
        return self._config

    @property
    def bid(self) -> LimitOrder | None:
        """The working bid (``None`` when the bid side is not quoted)."""
        return self._buy.working

    @property
    def ask(self) -> LimitOrder | None:
        """The working ask (``None`` when the ask side is not quoted)."""
        return self._sell.working

    def tracked_orders(self) -> list[LimitOrder]:
        """All orders the manager still considers live (working and pending cancel)."""
        out: list[LimitOrder] = []
        for s in self._sides.values():
            if s.working is not None:
                out.append(s.working)
            out.extend(s.canceling.values())
        return out

    def position(self) -> Decimal:
        """Signed net position of the owning strategy in the instrument (from the cache).

        Read from the cache rather than ``portfolio.net_position`` because the portfolio updates
        on position events, which are published after the ``OrderFilled`` the strategy sees.
        """
        total = Decimal(0)
        positions = self._strategy.cache.positions_open(
            None,
            self._instrument.id,
            self._strategy.id,
        )
        for p in positions:
            qty = p.quantity.as_decimal()
            total += -qty if p.side == PositionSide.SHORT else qty
        return total

    def worst_case_position(self, side: OrderSide) -> Decimal:
        """Position if every live order of ours on ``side`` were filled."""
        lots = self._position_lots() + (1 if side == OrderSide.BUY else -1) * self._open_lots(
            self._sides[side],
        )
        return Decimal(lots) * self._lot

    # -- Commands ---------------------------------------------------------------------------------

    def update(
        self,
        quotes: Quotes,
        *,
        best_bid: float | None = None,
        best_ask: float | None = None,
    ) -> None:
        """Move the resting quotes towards ``quotes``.

        Parameters
        ----------
        quotes : Quotes
            The target. ``None`` prices or non-positive sizes pull that side.
        best_bid, best_ask : float, optional
            Current market top of book; read from the cache when not given. Target prices are
            clamped one tick behind the opposite best so post-only orders do not cross.
        """
        if best_bid is None or best_ask is None:
            cached_bid, cached_ask = cached_top(self._strategy.cache, self._instrument.id) or (None, None)
            best_bid = cached_bid if best_bid is None else best_bid
            best_ask = cached_ask if best_ask is None else best_ask

        bid_ticks = ask_ticks = None
        if quotes.bid_price is not None and quotes.bid_qty > 0 and math.isfinite(quotes.bid_price):
            bid_ticks = math.floor(quotes.bid_price / self._tick_f + _GRID_EPS)
            if best_ask is not None:
                bid_ticks = min(bid_ticks, round(best_ask / self._tick_f) - 1)
        if quotes.ask_price is not None and quotes.ask_qty > 0 and math.isfinite(quotes.ask_price):
            ask_ticks = math.ceil(quotes.ask_price / self._tick_f - _GRID_EPS)
            if best_bid is not None:
                ask_ticks = max(ask_ticks, round(best_bid / self._tick_f) + 1)
        if bid_ticks is not None and ask_ticks is not None and bid_ticks >= ask_ticks:
            # A self-crossed target (possible from a learned policy): keep the bid, push the ask.
            ask_ticks = bid_ticks + 1

        position_lots = self._position_lots()
        if self._buy.canceling or self._sell.canceling:
            self._retry_cancels()
        self._update_side(
            self._buy,
            bid_ticks,
            self._to_lots(quotes.bid_qty),
            self._max_lots - position_lots,
        )
        self._update_side(
            self._sell,
            ask_ticks,
            self._to_lots(quotes.ask_qty),
            self._max_lots + position_lots,
        )

    def cancel_all(self) -> None:
        """Cancel every order the manager tracks (used on stop and by kill switches)."""
        for s in self._sides.values():
            self._cancel_working(s)
        self._retry_cancels()

    def reset(self) -> None:
        """Forget all tracked orders and zero the counters (for a strategy reset)."""
        for s in self._sides.values():
            s.working = None
            s.canceling.clear()
        self._orders.clear()
        self.counters = QuoteCounters()

    # -- Events -----------------------------------------------------------------------------------

    def on_order_event(self, event: OrderEvent) -> None:
        """Update tracking from an order event; forward every event of the owning strategy."""
        s = self._orders.get(event.client_order_id)
        if s is None:
            return
        if isinstance(event, OrderFilled):
            self.counters.fills += 1
            self._forget_if_closed(event.client_order_id)
        elif isinstance(event, (OrderCanceled, OrderExpired)):
            self._forget(event.client_order_id)
        elif isinstance(event, (OrderRejected, OrderDenied)):
            self.counters.rejected += 1
            if isinstance(event, OrderRejected) and event.due_post_only:
                self.counters.post_only_rejected += 1
            self._forget(event.client_order_id)
        elif isinstance(event, OrderModifyRejected):
            # The order keeps its old price/size; the next update re-evaluates it.
            self.counters.modify_rejected += 1
            self._forget_if_closed(event.client_order_id)
        elif isinstance(event, OrderCancelRejected):
            self.counters.cancel_rejected += 1
            self._forget_if_closed(event.client_order_id)
        elif isinstance(event, OrderUpdated):
            self._forget_if_closed(event.client_order_id)

    # -- Internals --------------------------------------------------------------------------------

    def _to_lots(self, qty: float) -> int:
        if not qty > 0 or not math.isfinite(qty):
            return 0
        return math.floor(qty / self._lot_f + _GRID_EPS)

    def _position_lots(self) -> int:
        # Same value as ``position() / lot`` (quantities are whole lots, far below 2**53 lots),
        # without Decimal arithmetic on the hot path.
        lots = 0
        lot = self._lot_f
        short = PositionSide.SHORT
        for p in self._strategy.cache.positions_open(None, self._instrument_id, self._strategy.id):
            n = round(p.quantity.as_double() / lot)
            lots += -n if p.side == short else n
        return lots

    def _open_lots(self, s: _Side, exclude: LimitOrder | None = None) -> int:
        lots = 0
        for order in s.canceling.values():
            lots += self._leaves_lots(order)
        if s.working is not None and s.working is not exclude:
            lots += self._leaves_lots(s.working)
        return lots

    def _leaves_lots(self, order: LimitOrder) -> int:
        if order.is_closed:
            return 0
        return round(order.leaves_qty.as_double() / self._lot_f)

    def _price(self, ticks: int) -> Price:
        price = self._prices.get(ticks)
        if price is None:
            if len(self._prices) >= _CACHE_MAX:
                self._prices.clear()
            price = Price(Decimal(ticks) * self._tick, self._price_precision)
            self._prices[ticks] = price
        return price

    def _qty(self, lots: int) -> Quantity:
        qty = self._qtys.get(lots)
        if qty is None:
            if len(self._qtys) >= _CACHE_MAX:
                self._qtys.clear()
            qty = Quantity(Decimal(lots) * self._lot, self._size_precision)
            self._qtys[lots] = qty
        return qty

    def _update_side(self, s: _Side, ticks: int | None, lots: int, room_lots: int) -> None:
        working = s.working
        if working is not None and working.is_closed:
            self._forget(working.client_order_id)
            working = None
        if ticks is None or lots <= 0:
            self._cancel_working(s)
            return

        # Worst case: every other live order of ours on this side fills before this one.
        # Fills of the working order itself leave ``position + leaves`` unchanged, so checking
        # here, at every command we send, keeps |position| <= max_inventory at every fill.
        room = room_lots - self._open_lots(s, exclude=working)
        if lots > room:
            self.counters.inventory_clipped += 1
            lots = room
        if lots < self._min_lots:
            self._cancel_working(s)
            return

        if working is None:
            self._submit(s, ticks, lots)
            return
        if working.status not in _AMENDABLE:
            return  # A command of ours is in flight: wait for the venue's answer.

        current_ticks = round(working.price.as_double() / self._tick_f)
        leaves_lots = self._leaves_lots(working)
        reprice = abs(current_ticks - ticks) >= max(1, self._config.refresh_threshold_ticks)
        if not reprice and leaves_lots == lots:
            return
        if leaves_lots != lots and not self._config.amend_quantity:
            if leaves_lots < lots and not reprice:
                return  # Growing the size alone is not worth the queue position.
            self._cancel_working(s)
            # Until the cancel is confirmed the old order may still fill: it uses room too.
            lots = min(lots, room - leaves_lots)
            if lots >= self._min_lots:
                self._submit(s, ticks if reprice else current_ticks, lots)
            return

        new_qty = None
        if leaves_lots != lots:
            filled_lots = round(working.filled_qty.as_double() / self._lot_f)
            new_qty = self._qty(filled_lots + lots)
        new_price = self._price(ticks) if reprice else None
        self._strategy.modify_order(
            working,
            quantity=new_qty,
            price=new_price,
            client_id=self._config.client_id,
        )
        self.counters.amended += 1

    def _submit(self, s: _Side, ticks: int, lots: int) -> None:
        order = self._strategy.order_factory.limit(
            instrument_id=self._instrument_id,
            order_side=s.side,
            quantity=self._qty(lots),
            price=self._price(ticks),
            time_in_force=TimeInForce.GTC,
            post_only=True,
        )
        s.working = order
        self._orders[order.client_order_id] = s
        self.counters.submitted += 1
        self._strategy.submit_order(order, client_id=self._config.client_id)

    def _cancel_working(self, s: _Side) -> None:
        order = s.working
        if order is None:
            return
        s.working = None
        if order.is_closed:
            self._orders.pop(order.client_order_id, None)
            return
        s.canceling[order.client_order_id] = order
        self._strategy.cancel_order(order, client_id=self._config.client_id)
        self.counters.canceled += 1

    def _retry_cancels(self) -> None:
        """Re-send cancels whose request was refused while the order is still open."""
        for s in self._sides.values():
            for cid, order in list(s.canceling.items()):
                if order.is_closed:
                    self._forget(cid)
                elif not order.is_pending_cancel and order.status in _AMENDABLE:
                    self._strategy.cancel_order(order, client_id=self._config.client_id)
                    self.counters.canceled += 1

    def _forget_if_closed(self, cid: ClientOrderId) -> None:
        order = self._strategy.cache.order(cid)
        if order is None or order.is_closed:
            self._forget(cid)

    def _forget(self, cid: ClientOrderId) -> None:
        s = self._orders.pop(cid, None)
        if s is None:
            return
        if s.working is not None and s.working.client_order_id == cid:
            s.working = None
        s.canceling.pop(cid, None)
