"""Peer check of our fills: the same quoting rule in hftbacktest and in our NautilusTrader venue.

What
    One capture, ``binance_ws/usdm/btcusdt_20240808.gz`` (Binance USD-M BTCUSDT perpetual, about
    6 minutes of depth@0ms diffs, bookTicker and trades, one REST depth snapshot near the top),
    replayed by two engines with one quoting rule:

    * every 100 ms, a post-only (GTX) limit bid at best bid - k ticks and ask at best ask + k
      ticks, 0.002 BTC each; a side is not quoted when a fill of its 0.002 BTC would take the
      position beyond |q| <= 0.010 BTC (the resting order counts: the check is
      ``q + 0.002 <= 0.010`` for the bid, ``q - 0.002 >= -0.010`` for the ask), and a resting
      order on a side that is no longer allowed is cancelled; a resting order whose target price
      changed is amended in place (Nautilus ``modify_order``; hftbacktest ``modify``, which its
      exchange model treats as cancel + new order at the back of the queue when the price
      changes: the same queue semantics as Nautilus' modify); a side with a request still in
      flight is left alone that step; k = 0 and k = 1. (With one order per side only the resting
      order's own fill can take q to the limit, so the cancel branch is there for the rule's
      sake and stays at 0 cancels on this capture.)

    hftbacktest 2.4.4 (the reference): the capture converted by hftbacktest's own
    ``hftbacktest.data.utils.binancefutures.convert`` (it reads this ``<local_ts_ns> <json>``
    format and turns the REST snapshot line into ``DEPTH_CLEAR`` + ``DEPTH_SNAPSHOT`` rows in the
    stream, so no separate initial snapshot is needed), ``BacktestAsset`` linear (contract size 1),
    tick 0.1, lot 0.001, ``NoPartialFillExchange`` (its default), ``constant_order_latency(10 ms
    entry, 10 ms response)``, ``trading_value_fee_model(maker 2 bp, taker 5 bp)``, queue model
    ``risk_adverse_queue_model()`` (RiskAdverseQueueModel, hftbacktest's spelling) and
    ``power_prob_queue_model(3.0)`` (PowerProbQueueModel with n = 3); the strategy loop is one
    numba ``@njit`` function driving ``HashMapMarketDepthBacktest`` with ``elapse(100 ms)``.

    Ours: the capture ingested with ``catalog.ingest.ingest_files("binance-ws", ...)`` into a
    temporary catalog (or ``--catalog``), read with ``catalog.window.load_window``, a low-level
    ``BacktestEngine`` (logging bypassed) with the venue from ``backtests.venue.VenueModelConfig``
    (10 ms base latency, fixed rates maker 2 bp / taker 5 bp), and a small ``Strategy`` (defined
    here) on a 100 ms timer reading the L2 book's top (order book deltas) on L2 venues and the
    quote ticks on L1. Venues, one row each:

    * ``L2_queue``: L2_MBP, trade_execution, queue_position, liquidity_consumption (the shipped
      realistic setting);
    * ``L1_queue``: L1_MBP, trade_execution, queue_position, no liquidity_consumption;
    * ``L1_legacy``: L1_MBP, no queue_position, no trade_execution, prob_fill_on_limit 0.5 (the
      1.221-style venue, for reference).

    The data goes in exactly as the project's backtests feed it: ``load_window`` returns L2 deltas
    as ``OrderBookDeltas`` batches (one per exchange message) and, on L1, quotes/trades whose
    ``ts_event`` was raised to keep it non-decreasing; ``Window.add_to_engine`` adds them.
    ``--unbatched`` feeds the L2 deltas one by one instead (the NOTES section 8 pitfall: an order
    can then be accepted against a half-applied message), as a diagnostic.

Figures, one row per (engine, queue model / venue, k), all computed by the same code from each
engine's fill list (time, side, price, quantity) and its 100 ms inventory samples:

    fills (fill events; hftbacktest never fills partially, Nautilus can), traded volume (BTC),
    PnL before and after fees (USDT; cash flow of the fills plus the final position marked to
    the last bookTicker mid of the window), the 1 s mark-out in ticks per BTC (for a buy,
    ``(mid(t + 1 s) - fill_px) / tick``, for a sell the negative, weighted by quantity: positive
    is good for us) and the mean |inventory| (BTC, sampled at each 100 ms quoting step, before
    quoting, from each engine's own local view of its position).

    The mid is the same series for both engines: the capture's own bookTicker mid, read straight
    from the file on the local receive-time axis (clamped like the ingest where the local clock
    steps back), as the last bookTicker at or before ``t + 1 s``. Fill times ``t`` are put on
    that axis: Nautilus fills carry the matching engine's time, which is the local receive time
    of the data that filled them (``ts_init``); hftbacktest fills carry its exchange time, mapped
    back with the constant shift its converter applied to the local timestamps (printed as
    ``hbt_local_shift_ns``).

    Both engines start quoting at the first whole second after the snapshot line (the first
    moment the L2 book is complete in both) on the same 100 ms grid.

Target (printed as met / not met, never asserted): our fills within 0.85-1.15x of hftbacktest
RiskAverse at k = 0 and k = 1, our k = 0 mark-out within 25 % of its mark-out. hftbacktest
RiskAverse is the reference because Nautilus' ``queue_position`` is the same family of model.

Differences that remain between the engines (why the figures cannot match exactly)

* Feed latency. hftbacktest keeps two clocks: its exchange processes each event at the
  exchange timestamp, the strategy sees it at the local timestamp. The recording clock runs
  about 1.27 s behind Binance's, so the converter shifts every local timestamp by that minimum
  (``correct_local_timestamp``): the feed latency left is ``local - exchange`` after the shift,
  0 ms at its minimum, about 4 ms median, 13 ms p90, up to ~100 ms. In Nautilus the matching
  engine and the strategy both see an event at its ``ts_init`` (the local receive time): zero
  feed latency: in hftbacktest our order meets a book a few ms younger than the one it was
  priced on. It shows in the post-only orders that would cross on arrival: hftbacktest expires
  ~13 % of its GTX orders (``expired_post_only``), Nautilus rejects ~7 % (``rejects``).
  ``--hbt-zero-feed-latency`` adds hftbacktest rows with its exchange on the local clock (every
  event matched when it is seen, in arrival order) to measure this and the next point together.
* Event time vs local time, ordering. hftbacktest orders exchange-side processing by the
  exchange timestamps (``T`` of trades and depth diffs); Nautilus replays everything in local
  receive order. Where the trade and depth streams arrive out of exchange order the two engines
  see a different interleaving of the same events.
* Order latency. Both add 10 ms from the strategy to the matching engine (hftbacktest's entry
  latency, Nautilus' ``latency_base_ns``). hftbacktest also delays every response (ack, fill)
  by 10 ms back to the strategy (``--hbt-response-latency-ms``); Nautilus delivers them at once.
  With a 100 ms step this matters when a fill lands in the 10 ms before a step: hftbacktest's
  strategy does not know it yet (older position; it amends an order already filled, and quotes
  that side again only a step later). Measured: 0 ms response latency gives ~3 % more fills.
* Partial fills. hftbacktest's ``NoPartialFillExchange`` fills the whole 0.002 BTC once a
  trade at our price leaves at least one lot beyond the queue ahead (or the price trades
  through); Nautilus fills only what the trade leaves beyond the queue, so 0.001 left over
  fills half the order and the rest keeps resting: more fill events per order and less volume
  than hftbacktest for the same trades. Compare ``orders_filled`` and volumes, not only fills.
* Queue model semantics. Nautilus' ``queue_position`` is RiskAverse-like: the queue ahead is
  the displayed size at placement; trades at our price on the opposite aggressor side eat it;
  a level delete or the book moving through our price sets it to zero; cancels ahead never
  advance us. hftbacktest's RiskAdverse is not quite as strict: whenever the level shrinks it
  caps the queue ahead at the level's new size (``min(queue, new_qty)``), so cancels advance us
  once the level is smaller than our count; Nautilus never does that on L2 (on L1 only when the
  best price moves onto our level). A trade *through* our price while queue ahead is counted
  does not fill us in Nautilus until the depth stream deletes the level (median ~28 ms later,
  NOTES section 8); hftbacktest fills at once on any trade through our price. PowerProb(3)
  advances the queue on cancels with a probability that grows with our position in the queue,
  so it fills more than RiskAverse at k = 0. At k = 1 nearly every fill is the price sweeping
  through our level within one 100 ms step (we amend to the back of the queue whenever the
  best moves), so the queue model hardly matters there: the k = 0 row is where queue semantics
  show.
* Book at the touch. hftbacktest also fills a resting order when the opposite best crosses our
  price in the depth stream (the ``on_best_bid/ask_update`` path), without a trade. Nautilus
  L2 fills on the book crossing too; on L1 it only sees bookTicker and trades, and a trade
  overwrites the L1 top of book until the next quote (an order placed then takes its queue from
  the trade size).
* L1 staleness. On L1 the 1.231 matching engine skips a quote or trade whose ``ts_event`` is
  earlier than the last one applied; bookTicker ``E`` and trade ``T`` interleave, so in arrival
  order ~6,400 events of this capture would be skipped. ``load_window`` raises those
  ``ts_event`` to the running maximum (``ts_event_raised``); the script counts what would still
  be skipped in what it feeds (``stale_ts_event``, 0 on L1; the L2 feed keeps the exchange times,
  where the check does not apply). hftbacktest uses the exchange times as they are.
* Snapshot start. The converter applies the few depth diffs before the REST snapshot on an
  empty book and lets the snapshot's clear overwrite them, and it applies every diff after the
  snapshot by exchange time without Binance's update-id check; our ingest starts the book at
  the snapshot and drops diffs the snapshot already covers. Quoting starts after the snapshot
  in both, so only levels touched by the handful of overlapping diffs can differ.

Run::

    python benchmarks/peer_hftbacktest.py                 # whole capture, k = 0 and 1
    python benchmarks/peer_hftbacktest.py --window-s 20 --k 0   # a quick smoke run
    python benchmarks/peer_hftbacktest.py --skip-hftbacktest    # ours only

hftbacktest is an optional dependency (``pip install -e .[peer]``). A human-readable table goes to
stderr; the last line of stdout is one JSON object with every row, the ratios and the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

INSTRUMENT_ID = "BTCUSDT-PERP.BINANCE"
DATA_FILE = "binance_ws/usdm/btcusdt_20240808.gz"

TICK = 0.1
LOT = 0.001
ORDER_QTY = 0.002
MAX_POSITION = 0.010
STEP_NS = 100_000_000
LATENCY_NS = 10_000_000
MAKER_FEE = 0.0002
TAKER_FEE = 0.0005
MARKOUT_NS = 1_000_000_000
POWER_PROB_N = 3.0
FILL_TARGET = (0.85, 1.15)
MARKOUT_TOLERANCE = 0.25
HBT_MISSING = "hftbacktest is not installed: pip install -e .[peer]"

# Our venues: the shipped realistic L2 setting, the same on L1, and the old 1.221-style L1 venue.
VENUES: dict[str, dict] = {
    "L2_queue": dict(book_type="L2_MBP", trade_execution=True, queue_position=True,
                     liquidity_consumption=True),
    "L1_queue": dict(book_type="L1_MBP", trade_execution=True, queue_position=True,
                     liquidity_consumption=False),
    "L1_legacy": dict(book_type="L1_MBP", trade_execution=False, queue_position=False,
                      liquidity_consumption=False, prob_fill_on_limit=0.5),
}
VENUE_COMMON = dict(latency_base_ns=LATENCY_NS, fee_model="fixed_rates", maker_fee=str(MAKER_FEE),
                    taker_fee=str(TAKER_FEE))
HBT_MODELS = ("RiskAverse", f"PowerProb{int(POWER_PROB_N)}")
REFERENCE = "RiskAverse"
HEADLINE_VENUE = "L2_queue"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send fd 1 to fd 2 for a while: hftbacktest's converter prints (also from numba code,
    which writes to the file descriptor, not to ``sys.stdout``), and stdout is for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# -- the capture itself: the common mid and timeline ------------------------------------------------


class Capture:
    """What both engines share, read straight from the capture file.

    ``mid_ts``/``mid_px``: every bookTicker mid on the local receive-time axis (ns; a local
    timestamp that steps back is clamped to the previous one, as the ingest does).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        ts_list: list[int] = []
        mid_list: list[float] = []
        self.first_ts = 0
        self.last_ts = 0
        self.snapshot_ts = 0
        self.min_kept_ts = None  # min raw local ts of the lines hftbacktest's converter keeps
        self.hbt_rows = 0  # upper bound of the rows the converter writes (its buffer size)
        last = 0
        with gzip.open(path, "rb") as f:
            for line in f:
                sp = line.find(b" ")
                if sp <= 0:
                    continue
                try:
                    ts = int(line[:sp])
                except ValueError:
                    continue
                ts = max(ts, last)
                last = ts
                if not self.first_ts:
                    self.first_ts = ts
                head = line[sp + 1: sp + 60]
                if b"@bookTicker" in head:
                    d = json.loads(line[sp + 1:])["data"]
                    ts_list.append(ts)
                    mid_list.append((float(d["b"]) + float(d["a"])) / 2.0)
                    continue
                kept = False
                if b"@depth" in head:
                    self.hbt_rows += line.count(b'"]') + 1
                    kept = True
                elif b"@trade" in head:
                    self.hbt_rows += 1
                    kept = True
                elif b"lastUpdateId" in head:
                    self.hbt_rows += line.count(b'"]') + 4
                    kept = True
                    if not self.snapshot_ts:
                        self.snapshot_ts = ts
                if kept and self.min_kept_ts is None:
                    self.min_kept_ts = ts
        self.last_ts = last
        if not self.snapshot_ts:
            raise SystemExit(f"{path}: no REST depth snapshot line (lastUpdateId) found")
        self.mid_ts = np.asarray(ts_list, dtype=np.int64)
        self.mid_px = np.asarray(mid_list, dtype=np.float64)

    def mid_at(self, ts: np.ndarray) -> np.ndarray:
        """Last bookTicker mid at or before each ``ts`` (the first mid before the first quote)."""
        idx = np.searchsorted(self.mid_ts, ts, side="right") - 1
        return self.mid_px[np.clip(idx, 0, len(self.mid_px) - 1)]

    def last_mid(self, end_ns: int) -> float:
        return float(self.mid_at(np.asarray([end_ns], dtype=np.int64))[0])


def figures(capture: Capture, end_ns: int, ts, side, px, qty, fee, inventory) -> dict:
    """The row's figures from a fill list and inventory samples (same code for both engines)."""
    ts = np.asarray(ts, dtype=np.int64)
    side = np.asarray(side, dtype=np.float64)
    px = np.asarray(px, dtype=np.float64)
    qty = np.asarray(qty, dtype=np.float64)
    fee = np.asarray(fee, dtype=np.float64)
    inventory = np.asarray(inventory, dtype=np.float64)
    final_mid = capture.last_mid(end_ns)
    volume = float(qty.sum())
    position = float((side * qty).sum())
    cash = float(-(side * px * qty).sum())
    pnl = cash + position * final_mid
    fees = float(fee.sum())
    if volume > 0:
        future_mid = capture.mid_at(ts + MARKOUT_NS)
        markout = float((side * (future_mid - px) / TICK * qty).sum() / volume)
    else:
        markout = float("nan")
    return {
        "fills": int(len(ts)),
        "volume_btc": round(volume, 6),
        "buys": int((side > 0).sum()),
        "sells": int((side < 0).sum()),
        "final_position_btc": round(position, 6),
        "pnl_before_fees_usdt": round(pnl, 4),
        "fees_usdt": round(fees, 4),
        "pnl_after_fees_usdt": round(pnl - fees, 4),
        "markout_1s_ticks_per_btc": None if math.isnan(markout) else round(markout, 3),
        "mean_abs_inventory_btc": round(float(np.abs(inventory).mean()) if len(inventory) else 0.0, 6),
        "inventory_samples": int(len(inventory)),
    }


# -- hftbacktest ------------------------------------------------------------------------------------


def hbt_available() -> bool:
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        return False
    return True


def hbt_convert(capture: Capture, end_ns: int) -> tuple[np.ndarray, int, dict]:
    """Convert the capture with hftbacktest's own converter; return (events, local shift, stats)."""
    from hftbacktest import LOCAL_EVENT
    from hftbacktest.data.utils import binancefutures

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="amm-peer-hbt-") as tmp, stdout_to_stderr():
        out = Path(tmp) / "btcusdt_20240808.npz"
        binancefutures.convert(str(capture.path), output_filename=str(out),
                               buffer_size=capture.hbt_rows + 10_000)
        data = np.load(out)["data"]
    convert_s = time.perf_counter() - t0
    # The converter moved every local timestamp by one constant so that no feed latency is
    # negative; recover it from the earliest row it kept.
    shift = int(data["local_ts"].min()) - int(capture.min_kept_ts)
    data = data[data["local_ts"] <= end_ns + shift]
    local = data[(data["ev"] & LOCAL_EVENT) != 0]
    lat = (local["local_ts"] - local["exch_ts"]) / 1e6
    stats = {
        "rows": int(len(data)),
        "convert_s": round(convert_s, 2),
        "feed_latency_ms": {p: round(float(v), 3) for p, v in
                            zip(("min", "p50", "p90", "p99", "max"),
                                np.percentile(lat, [0, 50, 90, 99, 100]))},
    }
    return np.ascontiguousarray(data), shift, stats


def zero_feed_latency(events: np.ndarray) -> np.ndarray:
    """The converted events with the exchange clock set to the local one (the diagnostic row).

    Only the local copy of each event is kept, flagged for both sides, with ``exch_ts =
    local_ts``: hftbacktest's exchange then matches every event when the strategy sees it and
    in arrival order, which is how Nautilus replays (zero feed latency).
    """
    from hftbacktest import EXCH_EVENT, LOCAL_EVENT

    out = events[(events["ev"] & LOCAL_EVENT) != 0].copy()
    out["ev"] |= EXCH_EVENT
    out["exch_ts"] = out["local_ts"]
    return np.ascontiguousarray(out)


def hbt_warm_up(events: np.ndarray) -> float:
    """Compile the numba loop on a few events, so run times exclude the JIT; return seconds."""
    t0 = time.perf_counter()
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (BacktestAsset().data([np.ascontiguousarray(events[:1000])]).linear_asset(1.0)
             .constant_order_latency(LATENCY_NS, LATENCY_NS).no_partial_fill_exchange()
             .risk_adverse_queue_model().trading_value_fee_model(MAKER_FEE, TAKER_FEE)
             .tick_size(TICK).lot_size(LOT))
    hbt = HashMapMarketDepthBacktest([asset])
    z = np.zeros(8, np.int64)
    hbt_loop()(hbt, 0, 0, STEP_NS, ORDER_QTY, MAX_POSITION, z, z.copy(), np.zeros(8), np.zeros(8),
               np.zeros(8), np.zeros(7, np.int64))
    hbt.close()
    return time.perf_counter() - t0


_HBT_LOOP = None


def hbt_loop():
    """The quoting rule as a numba function over hftbacktest's backtester (compiled once)."""
    global _HBT_LOOP
    if _HBT_LOOP is not None:
        return _HBT_LOOP
    from hftbacktest import BUY, EXPIRED, FILLED, GTX, LIMIT, NEW, NONE
    from numba import njit

    @njit
    def quote_loop(hbt, k, first_step, step, qty, max_pos, fill_ts, fill_side, fill_px, fill_qty,
                   inventory, counters):
        # counters: fills, steps, submits, modifies, cancels, steps without a two-sided book,
        # post-only orders expired (they would have crossed on arrival)
        asset = 0
        # The clock starts unset (i64::MAX); the first elapse puts it at the first event.
        if hbt.elapse(1) != 0:
            return
        if first_step > hbt.current_timestamp and hbt.elapse(first_step - hbt.current_timestamp) != 0:
            return
        next_id = 1
        n_fill = 0
        n_step = 0
        done = False
        while True:
            # Fills since the last step (recorded once: filled orders are then cleared) and the
            # orders still working on each side.
            bid_id = 0
            ask_id = 0
            bid_busy = False
            ask_busy = False
            bid_px = 0.0
            ask_px = 0.0
            values = hbt.orders(asset).values()
            while values.has_next():
                o = values.get()
                if o.status == FILLED:
                    if n_fill < fill_ts.shape[0]:
                        fill_ts[n_fill] = o.exch_timestamp
                        fill_side[n_fill] = 1 if o.side == BUY else -1
                        fill_px[n_fill] = o.exec_price
                        fill_qty[n_fill] = o.exec_qty
                    n_fill += 1
                elif o.status == EXPIRED:
                    counters[6] += 1
                elif o.status == NEW or o.req == NEW:
                    if o.side == BUY:
                        bid_id = o.order_id
                        bid_busy = o.req != NONE
                        bid_px = o.price
                    else:
                        ask_id = o.order_id
                        ask_busy = o.req != NONE
                        ask_px = o.price
            hbt.clear_inactive_orders(asset)
            if done:
                break

            position = hbt.position(asset)
            if n_step < inventory.shape[0]:
                inventory[n_step] = position
            n_step += 1
            depth = hbt.depth(asset)
            tick = depth.tick_size
            bb_tick = depth.best_bid_tick
            ba_tick = depth.best_ask_tick
            if bb_tick > 0 and ba_tick > bb_tick and ba_tick < 10_000_000_000:
                target_bid = (bb_tick - k) * tick
                target_ask = (ba_tick + k) * tick
                can_bid = position + qty <= max_pos + 1e-9
                can_ask = position - qty >= -max_pos - 1e-9
                if bid_id != 0:
                    if not bid_busy:
                        if not can_bid:
                            hbt.cancel(asset, bid_id, False)
                            counters[4] += 1
                        elif abs(bid_px - target_bid) > tick / 2:
                            hbt.modify(asset, bid_id, target_bid, qty, False)
                            counters[3] += 1
                elif can_bid:
                    hbt.submit_buy_order(asset, next_id, target_bid, qty, GTX, LIMIT, False)
                    next_id += 1
                    counters[2] += 1
                if ask_id != 0:
                    if not ask_busy:
                        if not can_ask:
                            hbt.cancel(asset, ask_id, False)
                            counters[4] += 1
                        elif abs(ask_px - target_ask) > tick / 2:
                            hbt.modify(asset, ask_id, target_ask, qty, False)
                            counters[3] += 1
                elif can_ask:
                    hbt.submit_sell_order(asset, next_id, target_ask, qty, GTX, LIMIT, False)
                    next_id += 1
                    counters[2] += 1
            else:
                counters[5] += 1
            if hbt.elapse(step) != 0:
                done = True
        counters[0] = n_fill
        counters[1] = n_step

    _HBT_LOOP = quote_loop
    return quote_loop


def run_hbt(capture: Capture, events: np.ndarray, shift: int, model: str, k: int, start_ns: int,
            end_ns: int, response_ns: int) -> dict:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(LATENCY_NS, response_ns)
        .no_partial_fill_exchange()
        .trading_value_fee_model(MAKER_FEE, TAKER_FEE)
        .tick_size(TICK)
        .lot_size(LOT)
        .last_trades_capacity(0)
    )
    if model.startswith("RiskAverse"):
        asset = asset.risk_adverse_queue_model()
    else:
        asset = asset.power_prob_queue_model(POWER_PROB_N)
    hbt = HashMapMarketDepthBacktest([asset])
    n_steps = int((end_ns - start_ns) // STEP_NS) + 10
    cap = 200_000
    fill_ts = np.zeros(cap, np.int64)
    fill_side = np.zeros(cap, np.int64)
    fill_px = np.zeros(cap, np.float64)
    fill_qty = np.zeros(cap, np.float64)
    inventory = np.zeros(n_steps, np.float64)
    counters = np.zeros(7, np.int64)
    loop = hbt_loop()
    t0 = time.perf_counter()
    loop(hbt, k, start_ns + shift, STEP_NS, ORDER_QTY, MAX_POSITION, fill_ts, fill_side, fill_px,
         fill_qty, inventory, counters)
    run_s = time.perf_counter() - t0
    sv = hbt.state_values(0)
    hbt_fee, hbt_trades, hbt_volume = float(sv.fee), int(sv.num_trades), float(sv.trading_volume)
    hbt.close()
    n = int(min(counters[0], cap))
    steps = int(min(counters[1], n_steps))
    ts = fill_ts[:n] - shift  # exchange time -> the capture's local time axis
    px, qty = fill_px[:n], fill_qty[:n]
    row = {"engine": "hftbacktest", "model": model, "k": k}
    row.update(figures(capture, end_ns, ts, fill_side[:n], px, qty, px * qty * MAKER_FEE,
                       inventory[:steps]))
    row.update({
        "orders_filled": n,
        "steps": steps,
        "submits": int(counters[2]),
        "modifies": int(counters[3]),
        "cancels": int(counters[4]),
        "steps_without_book": int(counters[5]),
        "expired_post_only": int(counters[6]),
        "engine_fee_usdt": round(hbt_fee, 4),
        "engine_num_trades": hbt_trades,
        "engine_volume_btc": round(hbt_volume, 6),
        "run_s": round(run_s, 2),
    })
    return row


# -- NautilusTrader (ours) --------------------------------------------------------------------------


def ensure_catalog(catalog: Path | None, capture: Capture, stack: contextlib.ExitStack) -> tuple[Path, float | None]:
    """``catalog`` itself, or the capture ingested into a temporary one (removed at exit)."""
    if catalog is not None:
        return catalog, None
    from catalog.ingest import ingest_files

    path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="amm-peer-catalog-")))
    t0 = time.perf_counter()
    ingest_files("binance-ws", [capture.path], path)
    seconds = time.perf_counter() - t0
    log(f"ingested {DATA_FILE} into a temporary catalog in {seconds:.1f} s")
    return path, seconds


def unbatch_deltas(data: list) -> list:
    """Split every ``OrderBookDeltas`` into its single deltas (the ``--unbatched`` diagnostic)."""
    from nautilus_trader.model.data import OrderBookDeltas

    out: list = []
    for item in data:
        if isinstance(item, OrderBookDeltas):
            out.extend(item.deltas)
        else:
            out.append(item)
    return out


def feed_counts(data: list) -> dict:
    """What the replay holds, by type; and, for quotes/trades, how many the 1.231 L1 matching
    engine would skip as stale (``ts_event`` before the last one applied)."""
    from nautilus_trader.model.data import QuoteTick, TradeTick

    kinds: dict[str, int] = {}
    last = 0
    stale = {"quotes": 0, "trades": 0}
    for item in data:
        name = type(item).__name__
        kinds[name] = kinds.get(name, 0) + 1
        if isinstance(item, (QuoteTick, TradeTick)):
            if item.ts_event < last:
                stale["quotes" if isinstance(item, QuoteTick) else "trades"] += 1
            else:
                last = item.ts_event
    return {"events": kinds, "stale_ts_event": stale}


def load_ours(catalog: Path, book_type: str, end_ns: int, unbatched: bool):
    """``catalog.window.load_window`` for the venue's book type: (instrument, data, add, info).

    ``add(engine)`` puts the data into an engine the way the project does (``Window.add_to_engine``:
    book data in its own ``add_data`` call), or the same by hand for the diagnostic feed.
    """
    from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas

    from catalog.window import load_window

    t0 = time.perf_counter()
    window = load_window(catalog, INSTRUMENT_ID, None, end_ns, book_type)
    info: dict = {}
    if isinstance(window, tuple):  # older load_window: (instrument, data)
        instrument, data = window
        add = None
    else:
        instrument, data = window.instrument, window.data
        add = window.add_to_engine
        info["ts_event_raised"] = getattr(window, "ts_event_raised", 0)
    if book_type != "L1_MBP" and unbatched:
        data = unbatch_deltas(data)
        add = None
    info.update(feed_counts(data))
    info["load_s"] = round(time.perf_counter() - t0, 2)

    def add_by_hand(engine) -> None:  # noqa: ANN001 - BacktestEngine
        book = [d for d in data if isinstance(d, (OrderBookDeltas, OrderBookDelta))]
        rest = [d for d in data if not isinstance(d, (OrderBookDeltas, OrderBookDelta))]
        if book:
            engine.add_data(book, sort=False)
        if rest:
            engine.add_data(rest, validate=False, sort=False)
        engine.sort_data()

    return instrument, data, add or add_by_hand, info


def make_strategy(k: int, use_book: bool, start_ns: int):
    import pandas as pd
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.enums import BookType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.trading.strategy import Strategy

    class PeerQuoterConfig(StrategyConfig, frozen=True):
        instrument_id: InstrumentId
        k: int
        use_book: bool
        start_ns: int

    class PeerQuoter(Strategy):
        """The peer quoting rule (module docstring), on a 100 ms timer."""

        def __init__(self, config: PeerQuoterConfig) -> None:
            super().__init__(config)
            self.fills: list[tuple[int, int, float, float, float]] = []
            self.inventory: list[float] = []
            self.position_lots = 0
            self.working = {OrderSide.BUY: None, OrderSide.SELL: None}
            self.counts = {"submits": 0, "modifies": 0, "cancels": 0, "rejects": 0,
                           "modify_rejects": 0, "steps": 0, "steps_without_book": 0}

        def on_start(self) -> None:
            iid = self.config.instrument_id
            self.instrument = self.cache.instrument(iid)
            self.qty = self.instrument.make_qty(ORDER_QTY)
            if self.config.use_book:
                self.subscribe_order_book_deltas(iid, BookType.L2_MBP)
            else:
                self.subscribe_quote_ticks(iid)
            self.clock.set_timer(
                "peer-quote",
                pd.Timedelta(STEP_NS, unit="ns"),
                start_time=pd.Timestamp(self.config.start_ns, unit="ns", tz="UTC"),
                callback=self.on_step,
                fire_immediately=True,
            )

        def best(self) -> tuple[float | None, float | None]:
            iid = self.config.instrument_id
            if self.config.use_book:
                book = self.cache.order_book(iid)
                if book is None:
                    return None, None
                bb, ba = book.best_bid_price(), book.best_ask_price()
            else:
                q = self.cache.quote_tick(iid)
                if q is None:
                    return None, None
                bb, ba = q.bid_price, q.ask_price
            if bb is None or ba is None:
                return None, None
            return bb.as_double(), ba.as_double()

        def on_step(self, event) -> None:
            position = self.position_lots * LOT
            self.inventory.append(position)
            self.counts["steps"] += 1
            bb, ba = self.best()
            if bb is None or ba is None or ba <= bb:
                self.counts["steps_without_book"] += 1
                return
            k = self.config.k
            plan = (
                (OrderSide.BUY, bb - k * TICK, position + ORDER_QTY <= MAX_POSITION + 1e-9),
                (OrderSide.SELL, ba + k * TICK, position - ORDER_QTY >= -MAX_POSITION - 1e-9),
            )
            for side, target, allowed in plan:
                order = self.working[side]
                if order is not None and order.is_closed:
                    order = self.working[side] = None
                if order is not None:
                    if order.is_inflight:
                        continue
                    if not allowed:
                        self.cancel_order(order)
                        self.counts["cancels"] += 1
                    elif abs(order.price.as_double() - target) > TICK / 2:
                        self.modify_order(order, price=self.instrument.make_price(target))
                        self.counts["modifies"] += 1
                elif allowed:
                    order = self.order_factory.limit(
                        instrument_id=self.config.instrument_id,
                        order_side=side,
                        quantity=self.qty,
                        price=self.instrument.make_price(target),
                        time_in_force=TimeInForce.GTC,
                        post_only=True,
                    )
                    self.working[side] = order
                    self.submit_order(order)
                    self.counts["submits"] += 1

        def on_order_filled(self, event) -> None:
            side = 1 if event.order_side == OrderSide.BUY else -1
            qty = event.last_qty.as_double()
            self.position_lots += side * round(qty / LOT)
            self.fills.append((event.ts_event, side, event.last_px.as_double(), qty,
                               event.commission.as_double()))

        def on_order_rejected(self, event) -> None:
            self.counts["rejects"] += 1

        def on_order_modify_rejected(self, event) -> None:
            self.counts["modify_rejects"] += 1

    return PeerQuoter(PeerQuoterConfig(instrument_id=InstrumentId.from_str(INSTRUMENT_ID), k=k,
                                       use_book=use_book, start_ns=start_ns))


def run_nautilus(capture: Capture, instrument, add, venue_name: str, k: int, start_ns: int,
                 end_ns: int) -> dict:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig

    from backtests.venue import VenueModelConfig

    venue = VenueModelConfig(**VENUE_COMMON, **VENUES[venue_name])
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True),
                                                 run_analysis=False))
    venue.add_to_engine(engine, [instrument])
    add(engine)
    strategy = make_strategy(k, venue.book_type != "L1_MBP", start_ns)
    engine.add_strategy(strategy)
    t0 = time.perf_counter()
    engine.run()
    run_s = time.perf_counter() - t0
    orders_filled = sum(1 for o in engine.cache.orders() if o.filled_qty.as_double() > 0)
    report_fills = len(engine.trader.generate_fills_report())
    engine.dispose()
    fills = strategy.fills
    cols = list(zip(*fills)) if fills else [[], [], [], [], []]
    row = {"engine": "nautilus", "model": venue_name, "k": k}
    row.update(figures(capture, end_ns, *cols, strategy.inventory))
    row.update({"orders_filled": orders_filled, "fills_report_rows": report_fills,
                **strategy.counts, "run_s": round(run_s, 2)})
    return row


# -- report -----------------------------------------------------------------------------------------


def ratios_and_targets(rows: list[dict], ks: list[int]) -> tuple[dict, dict]:
    ref = {r["k"]: r for r in rows if r["engine"] == "hftbacktest" and r["model"] == REFERENCE}
    if not ref:
        return {}, {}
    ratios: dict = {}
    targets: dict = {}
    others = [r for r in rows if not (r["engine"] == "hftbacktest" and r["model"] == REFERENCE)]
    for name in dict.fromkeys(f"{r['engine']}:{r['model']}" for r in others):
        engine, model = name.split(":")
        mine = {r["k"]: r for r in others if r["engine"] == engine and r["model"] == model}
        rat: dict = {}
        tgt: dict = {}
        for k in ks:
            if k in mine and k in ref and ref[k]["fills"]:
                rat[f"fills_k{k}"] = round(mine[k]["fills"] / ref[k]["fills"], 3)
                rat[f"volume_k{k}"] = round(mine[k]["volume_btc"] / ref[k]["volume_btc"], 3)
                tgt[f"fills_k{k}"] = FILL_TARGET[0] <= rat[f"fills_k{k}"] <= FILL_TARGET[1]
        if 0 in mine and 0 in ref:
            a, b = mine[0]["markout_1s_ticks_per_btc"], ref[0]["markout_1s_ticks_per_btc"]
            if a is not None and b:
                rat["markout_k0"] = round(a / b, 3)
                tgt["markout_k0"] = abs(a - b) <= MARKOUT_TOLERANCE * abs(b)
        key = model if engine == "nautilus" else f"hbt_{model}"
        ratios[key] = rat
        if engine == "nautilus":
            targets[key] = tgt
    return ratios, targets


def print_table(rows: list[dict]) -> None:
    head = (f"{'engine':<12} {'model/venue':<16} {'k':>2} {'fills':>6} {'orders':>6} {'vol BTC':>8} "
            f"{'PnL USDT':>9} {'PnL-fee':>9} {'markout':>8} {'mean|q|':>8} {'run s':>6}")
    log(head)
    log("-" * len(head))
    for r in rows:
        mo = r["markout_1s_ticks_per_btc"]
        log(f"{r['engine']:<12} {r['model']:<16} {r['k']:>2} {r['fills']:>6} {r['orders_filled']:>6} "
            f"{r['volume_btc']:>8.3f} {r['pnl_before_fees_usdt']:>9.2f} {r['pnl_after_fees_usdt']:>9.2f} "
            f"{'n/a' if mo is None else f'{mo:.1f}':>8} {r['mean_abs_inventory_btc']:>8.4f} "
            f"{r['run_s']:>6.1f}")
    log("markout: 1 s mark-out, ticks per BTC (positive = good for us); mean|q|: BTC, 100 ms samples")


def print_targets(ratios: dict, targets: dict) -> None:
    if not ratios:
        return
    log(f"\nratios vs hftbacktest {REFERENCE} (target: fills {FILL_TARGET[0]}-{FILL_TARGET[1]}x at "
        f"k=0 and k=1, k=0 mark-out within {MARKOUT_TOLERANCE:.0%}):")
    for key, rat in ratios.items():
        tgt = targets.get(key, {})
        parts = []
        for name, value in rat.items():
            mark = "" if name not in tgt else (" met" if tgt[name] else " NOT met")
            parts.append(f"{name} {value:.2f}x{mark}")
        log(f"  {key:<16} " + ", ".join(parts))


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("hftbacktest", "nautilus_trader"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See the module docstring for the engines' settings and their remaining differences.",
    )
    parser.add_argument("--k", type=int, nargs="+", default=[0, 1],
                        help="quote distance from the best, in ticks (default: 0 1)")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog already holding BTCUSDT-PERP.BINANCE from this capture "
                             "(default: ingest into a temporary one)")
    parser.add_argument("--window-s", type=float, default=None,
                        help="replay only the first N seconds of the capture (default: all of it)")
    parser.add_argument("--skip-hftbacktest", action="store_true", help="run our engine only")
    parser.add_argument("--venues", nargs="+", choices=sorted(VENUES), default=list(VENUES),
                        help="our venues to run (default: all)")
    parser.add_argument("--hbt-response-latency-ms", type=float, default=10.0,
                        help="hftbacktest order response latency (default 10; Nautilus has none)")
    parser.add_argument("--hbt-zero-feed-latency", action="store_true",
                        help="diagnostic: add hftbacktest RiskAverse rows whose exchange matches every "
                             "event at its local receive time, in arrival order (Nautilus' timing)")
    parser.add_argument("--unbatched", action="store_true",
                        help="diagnostic: feed the L2 deltas one by one instead of one batch per "
                             "exchange message (NOTES section 8 pitfall)")
    args = parser.parse_args(argv)
    # NautilusTrader 1.231 calls pandas APIs that pandas 3 deprecates: not ours, and not news.
    warnings.filterwarnings("ignore", message=r".*is deprecated and will be removed in a future version")
    if not args.skip_hftbacktest and not hbt_available():
        sys.exit(HBT_MISSING)
    wall0 = time.perf_counter()

    from catalog.settings import data_file

    capture = Capture(data_file(DATA_FILE))
    end_ns = capture.last_ts
    if args.window_s is not None:
        end_ns = min(end_ns, capture.first_ts + int(args.window_s * 1e9))
    start_ns = -(-capture.snapshot_ts // 1_000_000_000) * 1_000_000_000  # next whole second
    if start_ns >= end_ns:
        sys.exit(f"--window-s {args.window_s}: the window ends before quoting starts "
                 f"({(start_ns - capture.first_ts) / 1e9:.1f} s into the capture)")
    log(f"{DATA_FILE}: quoting {(end_ns - start_ns) / 1e9:.1f} s "
        f"({start_ns} .. {end_ns} local ns), {len(capture.mid_ts):,} bookTicker mids")
    ks = list(dict.fromkeys(args.k))
    rows: list[dict] = []
    info: dict = {}

    if not args.skip_hftbacktest:
        events, shift, stats = hbt_convert(capture, end_ns)
        info["hbt_local_shift_ns"] = shift
        info["hbt_data"] = stats
        log(f"hftbacktest: converted {stats['rows']:,} rows in {stats['convert_s']} s; local shift "
            f"{shift / 1e9:.3f} s; feed latency ms {stats['feed_latency_ms']}")
        t0 = time.perf_counter()
        info["hbt_jit_s"] = round(hbt_warm_up(events), 2)
        runs = [(model, events) for model in HBT_MODELS]
        if args.hbt_zero_feed_latency:
            runs.append((f"{REFERENCE}-0feed", zero_feed_latency(events)))
        for model, model_events in runs:
            for k in ks:
                row = run_hbt(capture, model_events, shift, model, k, start_ns, end_ns,
                              int(args.hbt_response_latency_ms * 1e6))
                rows.append(row)
                log(f"  hftbacktest {model} k={k}: {row['fills']} fills in {row['run_s']} s")
        info["hbt_total_s"] = round(time.perf_counter() - t0, 2)

    stack = contextlib.ExitStack()
    catalog, ingest_s = ensure_catalog(args.catalog, capture, stack)
    info["ingest_s"] = None if ingest_s is None else round(ingest_s, 1)
    loaded: dict[str, tuple] = {}
    for venue_name in args.venues:
        book_type = VENUES[venue_name]["book_type"]
        if book_type not in loaded:
            loaded[book_type] = load_ours(catalog, book_type, end_ns, args.unbatched)
            info[f"nautilus_{book_type}"] = loaded[book_type][3]
            log(f"nautilus {book_type}: {loaded[book_type][3]}")
        instrument, _data, add, _ = loaded[book_type]
        for k in ks:
            row = run_nautilus(capture, instrument, add, venue_name, k, start_ns, end_ns)
            rows.append(row)
            log(f"  nautilus {venue_name} k={k}: {row['fills']} fills in {row['run_s']} s")

    stack.close()

    log("")
    print_table(rows)
    ratios, targets = ratios_and_targets(rows, ks)
    print_targets(ratios, targets)
    headline = targets.get(HEADLINE_VENUE)
    headline_met = None if not headline else all(headline.values())
    if headline is not None:
        log(f"headline ({HEADLINE_VENUE}, the shipped realistic venue): targets "
            f"{'met' if headline_met else 'NOT met'}")
    wall_s = time.perf_counter() - wall0
    log(f"\nwall time {wall_s:.1f} s")
    print(json.dumps({
        "benchmark": "peer_hftbacktest",
        "data": DATA_FILE,
        "window": {"start_ns": start_ns, "end_ns": end_ns, "quoting_s": round((end_ns - start_ns) / 1e9, 3),
                   "window_s": args.window_s},
        "settings": {"tick": TICK, "lot": LOT, "order_qty": ORDER_QTY, "max_position": MAX_POSITION,
                     "step_ms": STEP_NS / 1e6, "order_latency_ms": LATENCY_NS / 1e6,
                     "hbt_response_latency_ms": args.hbt_response_latency_ms,
                     "maker_fee": MAKER_FEE, "taker_fee": TAKER_FEE, "markout_s": MARKOUT_NS / 1e9,
                     "deltas": "single" if args.unbatched else "batched"},
        "rows": rows,
        "ratios": ratios,
        "targets_met": targets,
        "headline": {"venue": HEADLINE_VENUE, "targets_met": headline_met},
        "info": info,
        "wall_s": round(wall_s, 1),
        "python": platform.python_version(),
        **versions(),
    }))


if __name__ == "__main__":
    main()
