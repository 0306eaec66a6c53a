"""An actor that samples the equity curve on a timer.

NautilusTrader's portfolio analyzer computes returns per *closed position*, which for a market maker
that flips inventory all day is a handful of points, not a time series (``NOTES.md`` §5). Risk
metrics need equity on a regular clock, marked to market, so :class:`EquitySampler` records every
``interval_ms`` of simulated time:

* ``equity``: account balances valued in the valuation currency (settlement currency of a
  perpetual, quote currency of a spot pair; a base-currency balance is valued at mid) plus, on a
  margin account, the open positions' unrealised PnL marked to mid;
* ``balance``, ``unrealized_pnl``, ``position`` (signed quantity), ``bid``/``ask``/``mid``;
* our best open buy and sell quote prices and sizes, and the number of open orders.

It also records every change of the mid (``mid_changes``) so fill mark-outs can be measured at exact
horizons. It keeps its own arrays and reads only the account, open positions and open orders, so it
works whether or not a strategy purges closed orders and positions from the cache.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig, PositiveInt
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AccountType, BookType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Price

from strategies.quoting import cached_top

SAMPLE_COLUMNS = (
    "ts_ns",
    "equity",
    "balance",
    "unrealized_pnl",
    "position",
    "bid",
    "ask",
    "mid",
    "quote_bid_px",
    "quote_bid_qty",
    "quote_ask_px",
    "quote_ask_qty",
    "open_orders",
)


class EquitySamplerConfig(ActorConfig, frozen=True):
    """Configuration of :class:`EquitySampler`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose position and mid are sampled (its venue's account is valued).
    interval_ms : PositiveInt, default 1000
        Sampling interval of simulated time. Metrics annualise with this interval.
    subscribe_book : bool, default False
        Keep an L2 book in the cache (for L2/L3 data) and take the mid from it; otherwise the mid
        comes from quote ticks (last trade price until the first quote).
    record_mid_changes : bool, default True
        Also record every change of the mid (for exact fill mark-outs).
    output_path : str, optional
        If set, write the samples to this Parquet file on stop (for live or node runs).
    progress_start_ns, progress_end_ns : int, optional
        If both set, show a progress bar of simulated time on stderr.
    progress_label : str, optional
        Label of the progress bar (the strategy name).
    """

    instrument_id: InstrumentId
    interval_ms: PositiveInt = 1000
    subscribe_book: bool = False
    record_mid_changes: bool = True
    output_path: str | None = None
    progress_start_ns: int | None = None
    progress_end_ns: int | None = None
    progress_label: str | None = None


class EquitySampler(Actor):
    """Samples equity, inventory, mid and our open quotes every ``interval_ms`` (see module doc)."""

    def __init__(self, config: EquitySamplerConfig) -> None:
        super().__init__(config)
        self._iid = config.instrument_id
        self._venue = Venue(self._iid.venue.value)
        self._interval_ns = int(config.interval_ms) * 1_000_000
        self._rows: dict[str, list[float]] = {c: [] for c in SAMPLE_COLUMNS}
        self._mid_ts: list[int] = []
        self._mid_px: list[float] = []
        self._last_trade_px: float = math.nan
        self._instrument = None
        self._value_ccy = None
        self._base_ccy = None
        self._margin = False
        self._timer_set = False
        self._bar = None
        self._bar_pos_s = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def on_start(self) -> None:
        self._instrument = self.cache.instrument(self._iid)
        if self._instrument is None:
            self.log.error(f"EquitySampler: instrument {self._iid} not in cache")
            self.stop()
            return
        inst = self._instrument
        settlement = getattr(inst, "settlement_currency", None)
        self._value_ccy = settlement or inst.quote_currency
        self._base_ccy = getattr(inst, "base_currency", None)
        self.subscribe_quote_ticks(self._iid)
        self.subscribe_trade_ticks(self._iid)
        if self.config.subscribe_book:
            self.subscribe_order_book_deltas(self._iid, BookType.L2_MBP)
        cfg = self.config
        if cfg.progress_start_ns is not None and cfg.progress_end_ns is not None:
            from tqdm import tqdm

            total_s = max(0.0, (cfg.progress_end_ns - cfg.progress_start_ns) / 1e9)
            self._bar = tqdm(
                total=round(total_s),
                unit="sim-s",
                desc=cfg.progress_label or f"backtest {self.id.value}",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    def on_stop(self) -> None:
        if self._timer_set and self._instrument is not None:
            self._sample(self.clock.timestamp_ns())  # the closing state
        if self._timer_set and "equity-sampler" in self.clock.timer_names:
            self.clock.cancel_timer("equity-sampler")
        self._timer_set = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.config.output_path:
            path = Path(self.config.output_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.samples().to_parquet(path)

    def on_reset(self) -> None:
        self._rows = {c: [] for c in SAMPLE_COLUMNS}
        self._mid_ts, self._mid_px = [], []
        self._timer_set = False

    # -- market data ----------------------------------------------------------------------------

    def _ensure_timer(self, ts_ns: int) -> None:
        # Start on the first market event, aligned to the interval grid, so the curve starts
        # where the data does (the clock may still be at 0 when actors start).
        if self._timer_set:
            return
        first = (ts_ns // self._interval_ns + 1) * self._interval_ns
        self.clock.set_timer_ns(
            "equity-sampler",
            self._interval_ns,
            first,
            0,
            self._on_timer,
        )
        self._timer_set = True
        # The curve's origin: the account before anything could trade (no order fills before the
        # first market event). Without it a run's PnL would start at the first grid point, after
        # the fills of the first interval (31.8 USD of a GOOG day's fixed-spread PnL).
        self._sample(ts_ns)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._ensure_timer(tick.ts_init)
        if not self.config.subscribe_book:
            self._record_mid(tick.ts_init)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self._ensure_timer(tick.ts_init)
        self._last_trade_px = tick.price.as_double()

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self._ensure_timer(deltas.ts_init)
        self._record_mid(deltas.ts_init)

    def _record_mid(self, ts_ns: int) -> None:
        if not self.config.record_mid_changes:
            return
        _, _, mid = self._top()
        if not math.isnan(mid) and (not self._mid_px or mid != self._mid_px[-1]):
            self._mid_ts.append(ts_ns)
            self._mid_px.append(mid)

    def _top(self) -> tuple[float, float, float]:
        top = cached_top(self.cache, self._iid, book=self.config.subscribe_book)
        if top is None:
            return math.nan, math.nan, self._last_trade_px
        return top[0], top[1], (top[0] + top[1]) / 2.0

    # -- sampling -------------------------------------------------------------------------------

    def _on_timer(self, event) -> None:
        self._sample(event.ts_event)
        if self._bar is not None:
            now_s = (event.ts_event - self.config.progress_start_ns) / 1e9
            step = math.floor(now_s) - self._bar_pos_s
            if step >= 1:
                self._bar.update(min(step, self._bar.total - self._bar.n))
                self._bar_pos_s += step

    def _sample(self, ts_ns: int) -> None:
        bid, ask, mid = self._top()
        account = self.portfolio.account(self._venue)
        balance = 0.0
        if account is not None:
            for ccy, money in account.balances_total().items():
                if ccy == self._value_ccy:
                    balance += money.as_double()
                elif ccy == self._base_ccy and not math.isnan(mid):
                    balance += money.as_double() * mid
        unrealized = 0.0
        position = 0.0
        for pos in self.cache.positions_open(instrument_id=self._iid):
            position += pos.signed_qty
            if (
                account is not None
                and account.type == AccountType.MARGIN
                and not math.isnan(mid)
            ):
                unrealized += pos.unrealized_pnl(Price(mid, self._instrument.price_precision + 1)).as_double()
        qb_px = qb_qty = qa_px = qa_qty = math.nan
        orders = self.cache.orders_open(instrument_id=self._iid)
        for o in orders:
            if o.price is None:
                continue
            px = o.price.as_double()
            qty = o.leaves_qty.as_double()
            if o.side == OrderSide.BUY:
                if math.isnan(qb_px) or px > qb_px:
                    qb_px, qb_qty = px, qty
                elif px == qb_px:
                    qb_qty += qty
            else:
                if math.isnan(qa_px) or px < qa_px:
                    qa_px, qa_qty = px, qty
                elif px == qa_px:
                    qa_qty += qty
        r = self._rows
        r["ts_ns"].append(ts_ns)
        r["equity"].append(balance + unrealized)
        r["balance"].append(balance)
        r["unrealized_pnl"].append(unrealized)
        r["position"].append(position)
        r["bid"].append(bid)
        r["ask"].append(ask)
        r["mid"].append(mid)
        r["quote_bid_px"].append(qb_px)
        r["quote_bid_qty"].append(qb_qty)
        r["quote_ask_px"].append(qa_px)
        r["quote_ask_qty"].append(qa_qty)
        r["open_orders"].append(len(orders))

    # -- results --------------------------------------------------------------------------------

    def samples(self) -> pd.DataFrame:
        """The sampled curve, one row per tick of the timer, indexed by UTC time."""
        df = pd.DataFrame(self._rows, columns=list(SAMPLE_COLUMNS))
        df["ts_ns"] = df["ts_ns"].astype("int64")
        df["open_orders"] = df["open_orders"].astype("int64")
        # The closing sample may share a timestamp with the last timer tick: keep the later one.
        df = df.drop_duplicates(subset="ts_ns", keep="last").reset_index(drop=True)
        df.index = pd.to_datetime(df["ts_ns"], unit="ns", utc=True)
        df.index.name = "time"
        return df

    def mid_changes(self) -> pd.DataFrame:
        """Every change of the mid: columns ``ts_ns`` and ``mid``."""
        return pd.DataFrame(
            {"ts_ns": pd.Series(self._mid_ts, dtype="int64"), "mid": pd.Series(self._mid_px, dtype="float64")},
        )


def sampler_for(
    instrument_id: str,
    *,
    interval_ms: int = 1000,
    book_type: str = "L1_MBP",
    output_path: str | None = None,
    progress_span_ns: tuple[int, int] | None = None,
) -> EquitySamplerConfig:
    """Build the sampler config a backtest of ``book_type`` needs."""
    return EquitySamplerConfig(
        component_id="EquitySampler",
        instrument_id=InstrumentId.from_str(instrument_id),
        interval_ms=interval_ms,
        subscribe_book=book_type != "L1_MBP",
        output_path=output_path,
        progress_start_ns=progress_span_ns[0] if progress_span_ns else None,
        progress_end_ns=progress_span_ns[1] if progress_span_ns else None,
    )

