"""An order-by-order series replayed on an L2 venue is its price levels (catalog.mbp_view).

Real data: the Bitstamp BTC/USD obAnalytics log (bitstamp/bitstamp_btcusd_20150501.log.xz), L3
deltas with order ids. Its ``L2_MBP`` window must hold, after every exchange message, exactly the
levels Nautilus' own L3 book holds (sizes summed per price), with no order ids; before
catalog.mbp_view an L2 venue keyed each order by its price, so one order's DELETE removed the
whole level. The synthetic cases pin each rule of the view.
"""

from __future__ import annotations

import pandas as pd
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
from nautilus_trader.model.enums import BookAction, BookType, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from catalog.checkpoints import latest_checkpoint, levels_equal
from catalog.mbp_view import MbpView
from catalog.window import load_window

IID = "BTCUSD.BITSTAMP"
WINDOW = ("2015-05-01T01:00:00Z", "2015-05-01T02:00:00Z")


def _batches(window) -> list[OrderBookDeltas]:
    return [d for d in window.data if isinstance(d, OrderBookDeltas)]


def test_checkpoints_of_an_l3_series_restate_its_orders(bitstamp_catalog) -> None:
    """The loader yields its opening CLEAR alone; the book was typed by it as levels until fixed."""
    start_ns = pd.Timestamp(WINDOW[0]).value
    image = latest_checkpoint(bitstamp_catalog, IID, start_ns)
    assert image is not None and image.per_order
    assert len({oid for *_, oid in image.levels}) == len(image.levels) > 100
    start = load_window(bitstamp_catalog, IID, *WINDOW, "L3_MBO").start_book
    assert all(d.order.order_id != 0 for d in start.deltas[1:])


def test_l2_window_of_an_l3_series_holds_the_l3_books_levels(bitstamp_catalog) -> None:
    l3 = _batches(load_window(bitstamp_catalog, IID, *WINDOW, "L3_MBO"))
    l2 = _batches(load_window(bitstamp_catalog, IID, *WINDOW, "L2_MBP"))
    assert len(l3) > 5_000 and 0 < len(l2) <= len(l3)
    assert all(d.order is None or d.order.order_id == 0 for b in l2 for d in b.deltas)
    assert all(b.deltas[-1].flags & RecordFlag.F_LAST for b in l2)
    assert not any(d.flags & RecordFlag.F_LAST for b in l2 for d in b.deltas[:-1])
    iid = InstrumentId.from_str(IID)
    book3, book2 = OrderBook(iid, BookType.L3_MBO), OrderBook(iid, BookType.L2_MBP)
    level_deletes = compared = 0
    j = 0
    for i, batch in enumerate(l3):
        book3.apply_deltas(batch)
        key = (batch.deltas[-1].ts_init, batch.deltas[-1].sequence)
        while j < len(l2) and (l2[j].deltas[-1].ts_init, l2[j].deltas[-1].sequence) == key:
            book2.apply_deltas(l2[j])
            level_deletes += sum(d.action == BookAction.DELETE for d in l2[j].deltas)
            j += 1
        if i % 250 == 0 or i == len(l3) - 1:
            assert levels_equal(book3, book2), f"levels differ after message {i} ({key})"
            compared += 1
    assert j == len(l2) and compared > 20
    # Per-order deletes far outnumber the levels that empty: the L2 view keeps the others.
    order_deletes = sum(d.action == BookAction.DELETE for b in l3 for d in b.deltas)
    assert 0 < level_deletes < order_deletes


# --- the view's rules, one case each -------------------------------------------------------------

_IID = InstrumentId.from_str(IID)


def _d(action: BookAction, side: OrderSide, price: str, size: str, oid: int, seq: int = 1) -> OrderBookDelta:
    order = BookOrder(side, Price.from_str(price), Quantity.from_str(size), oid)
    return OrderBookDelta(_IID, action, order, 0, seq, 10, 10)


def _rows(batch: OrderBookDeltas | None) -> list[tuple]:
    assert batch is not None
    return [(d.action,) if d.action == CLEAR else (d.action, d.order.side, str(d.order.price), str(d.order.size))
            for d in batch.deltas]


BUY, SELL = OrderSide.BUY, OrderSide.SELL
ADD, UPDATE, DELETE, CLEAR = BookAction.ADD, BookAction.UPDATE, BookAction.DELETE, BookAction.CLEAR


def test_view_sums_orders_per_level_and_removes_a_level_only_when_it_empties() -> None:
    view = MbpView(size_precision=2)
    assert _rows(view.apply([_d(ADD, BUY, "100.00", "1.00", 1), _d(ADD, BUY, "100.00", "2.00", 2)])) == [
        (ADD, BUY, "100.00", "3.00")]
    assert _rows(view.apply([_d(UPDATE, BUY, "100.00", "0.50", 1)])) == [(UPDATE, BUY, "100.00", "2.50")]
    assert _rows(view.apply([_d(DELETE, BUY, "100.00", "0.50", 1)])) == [(UPDATE, BUY, "100.00", "2.00")]
    assert _rows(view.apply([_d(DELETE, BUY, "100.00", "2.00", 2)])) == [(DELETE, BUY, "100.00", "0.00")]
    assert view.levels == {} and view.orders == {}


def test_view_moves_an_order_between_levels_and_skips_what_changes_nothing() -> None:
    view = MbpView(size_precision=2)
    view.apply([_d(ADD, SELL, "101.00", "1.00", 7)])
    assert _rows(view.apply([_d(UPDATE, SELL, "102.00", "1.00", 7)])) == [
        (DELETE, SELL, "101.00", "0.00"), (ADD, SELL, "102.00", "1.00")]
    # an order that comes and goes inside one message leaves no trace
    assert view.apply([_d(ADD, BUY, "99.00", "1.00", 8), _d(DELETE, BUY, "99.00", "1.00", 8)]) is None
    assert view.apply([_d(DELETE, BUY, "98.00", "1.00", 404)]) is None  # unknown order: nothing rests


def test_view_restates_the_levels_after_a_clear_with_the_batch_flags() -> None:
    view = MbpView(size_precision=2)
    view.apply([_d(ADD, BUY, "100.00", "1.00", 1), _d(ADD, SELL, "101.00", "1.00", 2)])
    snap = int(RecordFlag.F_SNAPSHOT)
    clear = OrderBookDelta(_IID, CLEAR, None, snap, 5, 20, 20)
    adds = [OrderBookDelta(_IID, ADD, BookOrder(BUY, Price.from_str("100.00"), Quantity.from_str(q), oid), snap, 5, 20, 20)
            for q, oid in (("1.00", 3), ("0.25", 4))]
    out = view.apply([clear, *adds])
    assert _rows(out) == [(CLEAR,), (ADD, BUY, "100.00", "1.25")]
    assert all(d.flags & snap for d in out.deltas) and out.deltas[-1].flags & RecordFlag.F_LAST
    assert not out.deltas[0].flags & RecordFlag.F_LAST
    assert view.levels == {(BUY, Price.from_str("100.00").raw): Quantity.from_str("1.25").raw}
