"""Market-making performance metrics from a sampled equity curve and the fills.

Conventions (stated once, used everywhere, including the tearsheet):

* **Returns** are simple returns of the sampled equity, ``r_t = E_t / E_{t-1} - 1`` (percentage
  change), one per sampling interval, with ``r_0 = 0`` at the first sample (the starting equity):
  that zero gives QuantStats the baseline it needs to see a drawdown that starts at once (without
  it, a curve falling from its first point reports no drawdown). QuantStats compounds the returns
  back to ``E_t / E_0``, so its drawdown equals the equity drawdown.
* **Annualisation** assumes a 24/7 market: ``periods_per_year = 365 * 86400 / interval_s``.
  Sharpe = ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``; Sortino uses the downside deviation
  ``sqrt(sum(r[r<0]^2) / n)`` (QuantStats' definitions, risk-free rate 0). Ratios of a few minutes of
  data annualised this way are noisy: compare strategies on the same window, not across windows.
* **Sharpe per hour** (``sharpe_per_hour``, the headline for intraday comparisons): returns of the
  equity resampled to one minute (``sharpe_grid_s``; a run too short for 30 of them gets the
  longest of 1/5/10/15/30 s that gives 30), ``mean / std(ddof=1) * sqrt(3600 / grid_s)``: the
  Sharpe of one hour of trading, not annualised, so it compares across markets whatever their
  trading hours; multiply by ``sqrt(hours a year)`` to annualise.
* **PnL per day** = total PnL / (curve duration in days): a linear normalisation, not a forecast.
* **Win rate, per interval**: share of intervals with an equity increase among intervals where
  equity changed. **Win rate, per round trip**: fills are matched first-in-first-out into round
  trips (each match of an opening lot with a closing fill is one trip); a trip wins if its price PnL
  net of its pro-rata share of both legs' fees is > 0.
* **Fill ratio** = orders with any fill / orders submitted.
* **Mark-outs** (Glosten & Milgrom 1985 adverse selection, measured as in e.g. Cartea, Jaimungal &
  Penalva 2015, ch. 10): for a fill of side ``s`` (+1 buy, -1 sell) at price ``p`` with mid ``m_0`` at
  the fill and ``m_h`` a horizon ``h`` later: spread captured ``s (m_0 - p)``, mid move
  ``s (m_h - m_0)`` (negative = adverse selection), mark-out ``s (m_h - p)`` = their sum. Reported per
  unit of base quantity (quantity-weighted mean), in bps of ``m_0``, and in total (x qty x
  multiplier). Fills whose horizon runs past the data are left out of that horizon.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SECONDS_PER_YEAR = 365 * 86_400
DEFAULT_HORIZONS_S = (1.0, 10.0, 60.0)
INVENTORY_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

FILL_COLUMNS = ("ts_ns", "side", "qty", "px", "fee", "liquidity", "order_id")


@dataclass(frozen=True)
class MetricsConfig:
    """How metrics are computed.

    Parameters
    ----------
    interval_s : float
        Sampling interval of the equity curve (annualisation).
    horizons_s : tuple of float
        Mark-out horizons.
    max_inventory : float, optional
        The strategy's inventory limit (base units); enables ``time_at_inventory_limit``.
    multiplier : float
        Contract multiplier (value of one unit of quantity per unit of price).
    """

    interval_s: float = 1.0
    horizons_s: tuple[float, ...] = DEFAULT_HORIZONS_S
    max_inventory: float | None = None
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ValueError(f"MetricsConfig.interval_s: must be > 0, got {self.interval_s!r}")

    @property
    def periods_per_year(self) -> float:
        return SECONDS_PER_YEAR / self.interval_s


# -- returns on a time grid (the tearsheet's, and the per-hour Sharpe of metrics.json) --------------

def utc_naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``index`` in UTC without its zone (QuantStats, matplotlib and Plotly cannot mix zones)."""
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


TEARSHEET_GRID_S = 60.0
"""Return grid of the tearsheet: one-minute returns (a 100 ms return of a market maker's account
rounds to nothing on every axis; a day of one-minute returns is 390 to 1,440 points)."""

GRID_CHOICES_S = (1.0, 5.0, 10.0, 15.0, 30.0, 60.0)
MIN_RETURNS = 30


def return_grid_s(equity: pd.DataFrame, interval_s: float = 1.0) -> float:
    """The tearsheet's return grid: one minute (:data:`TEARSHEET_GRID_S`), or for a run too short
    for :data:`MIN_RETURNS` one-minute returns the longest of :data:`GRID_CHOICES_S` that gives
    them, never finer than the equity's sampling interval."""
    if len(equity) < 2:
        return max(TEARSHEET_GRID_S, interval_s)
    span_s = (equity.index[-1] - equity.index[0]).total_seconds()
    fits = [g for g in GRID_CHOICES_S if g >= interval_s and span_s / g >= MIN_RETURNS]
    return max(fits) if fits else max(interval_s, GRID_CHOICES_S[0])


def intraday_returns(equity: pd.DataFrame, grid_s: float = TEARSHEET_GRID_S, name: str | None = None) -> pd.Series:
    """Simple returns of the equity resampled to ``grid_s`` seconds (last value of each bucket,
    carried over empty buckets), tz-naive UTC, ``r_0 = 0`` at the starting equity. On a grid equal
    to the sampling interval these are the per-sample returns of ``backtests.metrics``."""
    e = pd.Series(equity["equity"].astype(float).to_numpy(), index=utc_naive(equity.index))
    # the starting equity stays its own point; the samples after it go into grid buckets
    grid = e.iloc[1:].resample(f"{grid_s:g}s", label="right", closed="right").last().ffill()
    grid = pd.concat([e.iloc[:1], grid[grid.index > e.index[0]]])
    return grid.pct_change().fillna(0.0).rename(name or "equity")


def sharpe_per_hour(returns: pd.Series, grid_s: float) -> float | None:
    """Sharpe of ``grid_s`` returns scaled to one hour of trading (``x sqrt(3600 / grid_s)``), not
    annualised; ``None`` for fewer than 3 returns or no variation."""
    if len(returns) < 3 or not returns.std(ddof=1) > 0:
        return None
    return float(returns.mean() / returns.std(ddof=1) * math.sqrt(3600.0 / grid_s))


# -- adapters from Nautilus reports ---------------------------------------------------------------


def _money_to_float(value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return float(str(value).split()[0])


def fills_from_report(report: pd.DataFrame) -> pd.DataFrame:
    """Normalise Nautilus' ``generate_fills_report()`` (one row per fill event) to ``FILL_COLUMNS``."""
    if report is None or report.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in FILL_COLUMNS})
    df = report.reset_index()
    # as_unit: pandas 3 parses "...:01.559+00:00" text (a fills.csv read back) at microsecond
    # resolution, and astype("int64") would then give microseconds
    ts = pd.to_datetime(df["ts_event"], utc=True).dt.as_unit("ns")
    out = pd.DataFrame(
        {
            "ts_ns": ts.astype("int64").to_numpy(),
            "side": np.where(df["order_side"].astype(str) == "BUY", 1, -1),
            "qty": df["last_qty"].astype(float).to_numpy(),
            "px": df["last_px"].astype(float).to_numpy(),
            "fee": df["commission"].map(_money_to_float).to_numpy(),
            "liquidity": df["liquidity_side"].astype(str).to_numpy(),
            "order_id": df["client_order_id"].astype(str).to_numpy(),
        },
    )
    return out.sort_values("ts_ns", kind="stable").reset_index(drop=True)


def order_counts_from_report(report: pd.DataFrame) -> tuple[int, int]:
    """Return ``(submitted, with_any_fill)`` from ``generate_orders_report()``."""
    if report is None or report.empty:
        return 0, 0
    filled = pd.to_numeric(report["filled_qty"], errors="coerce").fillna(0.0)
    return len(report), int((filled > 0).sum())


# -- the metrics ----------------------------------------------------------------------------------


def equity_returns(equity: pd.Series) -> pd.Series:
    """Per-interval simple returns of an equity series; ``r_0 = 0`` at the starting equity."""
    return equity.astype(float).pct_change().fillna(0.0)


def drawdown_stats(equity: pd.Series) -> dict[str, float]:
    """Max drawdown as value, fraction of the running peak, and longest duration (s).

    Duration is the longest time from a peak until equity first regains it (or the end of the
    curve if it never does).
    """
    e = equity.astype(float).to_numpy()
    if len(e) == 0:
        return {"max_drawdown": 0.0, "max_drawdown_pct": 0.0, "max_drawdown_duration_s": 0.0}
    peak = np.maximum.accumulate(e)
    dd = peak - e
    dd_pct = np.where(peak != 0, dd / peak, 0.0)
    ts = equity.index.asi8 if isinstance(equity.index, pd.DatetimeIndex) else np.asarray(equity.index)
    longest = 0
    start = None
    for i in range(len(e)):
        if e[i] < peak[i]:
            if start is None:
                start = i - 1
        elif start is not None:
            longest = max(longest, ts[i] - ts[start])
            start = None
    if start is not None:
        longest = max(longest, ts[-1] - ts[start])
    scale = 1e9 if isinstance(equity.index, pd.DatetimeIndex) else 1.0
    return {
        "max_drawdown": float(dd.max()),
        "max_drawdown_pct": float(dd_pct.max()),
        "max_drawdown_duration_s": float(longest) / scale,
    }


def round_trips_fifo(fills: pd.DataFrame, multiplier: float = 1.0) -> pd.DataFrame:
    """Match fills first-in-first-out into round trips.

    Returns one row per match: ``open_ts_ns``, ``close_ts_ns``, ``side`` (+1 long trip, -1 short),
    ``qty``, ``open_px``, ``close_px``, ``pnl`` (price PnL x multiplier minus pro-rata fees of both
    legs).
    """
    lots: deque[list[float]] = deque()  # [side, qty_left, px, fee_per_unit, ts]
    rows = []
    for f in fills.itertuples(index=False):
        side, qty, px = int(f.side), float(f.qty), float(f.px)
        fee_per_unit = float(f.fee) / qty if qty else 0.0
        while qty > 1e-15 and lots and lots[0][0] != side:
            lot = lots[0]
            q = min(qty, lot[1])
            pnl = lot[0] * (px - lot[2]) * q * multiplier - (lot[3] + fee_per_unit) * q
            rows.append((int(lot[4]), int(f.ts_ns), int(lot[0]), q, lot[2], px, pnl))
            lot[1] -= q
            qty -= q
            if lot[1] <= 1e-15:
                lots.popleft()
        if qty > 1e-15:
            lots.append([side, qty, px, fee_per_unit, int(f.ts_ns)])
    return pd.DataFrame(
        rows,
        columns=["open_ts_ns", "close_ts_ns", "side", "qty", "open_px", "close_px", "pnl"],
    )


def _mid_at(mid_ts: np.ndarray, mid_px: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Last known mid at or before each time in ``t`` (NaN before the first mid)."""
    idx = np.searchsorted(mid_ts, t, side="right") - 1
    out = np.full(len(t), np.nan)
    ok = idx >= 0
    out[ok] = mid_px[idx[ok]]
    return out


def markouts(
    fills: pd.DataFrame,
    mid: pd.DataFrame,
    horizons_s: Sequence[float] = DEFAULT_HORIZONS_S,
    multiplier: float = 1.0,
) -> dict[str, Any]:
    """Spread captured and adverse selection of fills (see the module docstring)."""
    out: dict[str, Any] = {}
    if fills.empty or mid.empty:
        return {"spread_captured_per_unit": None, "spread_captured_total": 0.0, "horizons": {}}
    mid = mid.sort_values("ts_ns", kind="stable")
    m_ts = mid["ts_ns"].to_numpy(dtype="int64")
    m_px = mid["mid"].to_numpy(dtype=float)
    t = fills["ts_ns"].to_numpy(dtype="int64")
    s = fills["side"].to_numpy(dtype=float)
    q = fills["qty"].to_numpy(dtype=float)
    p = fills["px"].to_numpy(dtype=float)
    m0 = _mid_at(m_ts, m_px, t)
    ok0 = ~np.isnan(m0)
    spread = s * (m0 - p)
    w = q[ok0]
    out["spread_captured_per_unit"] = _wmean(spread[ok0], w)
    out["spread_captured_bps"] = _wmean(spread[ok0] / m0[ok0] * 1e4, w)
    out["spread_captured_total"] = float(np.sum(spread[ok0] * w) * multiplier)
    horizons: dict[str, Any] = {}
    last_ts = m_ts[-1]
    for h in horizons_s:
        th = t + int(round(h * 1e9))
        ok = ok0 & (th <= last_ts)
        mh = _mid_at(m_ts, m_px, th)
        move = s * (mh - m0)
        mark = s * (mh - p)
        wq = q[ok]
        horizons[f"{h:g}s"] = {
            "fills": int(ok.sum()),
            "mid_move_per_unit": _wmean(move[ok], wq),
            "mid_move_bps": _wmean(move[ok] / m0[ok] * 1e4, wq),
            "mid_move_total": float(np.sum(move[ok] * wq) * multiplier),
            "markout_per_unit": _wmean(mark[ok], wq),
            "markout_bps": _wmean(mark[ok] / m0[ok] * 1e4, wq),
            "markout_total": float(np.sum(mark[ok] * wq) * multiplier),
        }
    out["horizons"] = horizons
    return out


def _wmean(x: np.ndarray, w: np.ndarray) -> float | None:
    if len(x) == 0 or float(np.sum(w)) == 0.0:
        return None
    return float(np.sum(x * w) / np.sum(w))


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def compute_metrics(
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    *,
    config: MetricsConfig,
    orders_submitted: int | None = None,
    orders_filled: int | None = None,
    mid_changes: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Compute every metric of the module docstring.

    Parameters
    ----------
    equity : DataFrame
        Samples with a ``DatetimeIndex`` and columns ``equity``, ``position`` and ``mid``
        (``backtests.equity.EquitySampler.samples()``).
    fills : DataFrame
        ``FILL_COLUMNS`` (see :func:`fills_from_report`).
    config : MetricsConfig
    orders_submitted, orders_filled : int, optional
        For the fill ratio.
    mid_changes : DataFrame, optional
        ``ts_ns``/``mid`` of every mid change for exact mark-outs; the sampled mids otherwise.

    Returns
    -------
    dict
        JSON-serialisable metrics; undefined values are None.
    """
    import quantstats as qs

    e = equity["equity"].astype(float)
    n = len(e)
    m: dict[str, Any] = {
        "interval_s": config.interval_s,
        "periods_per_year": config.periods_per_year,
        "samples": n,
    }
    if n == 0:
        raise ValueError("equity curve is empty: the run produced no samples (no data in window?)")
    duration_s = (e.index[-1] - e.index[0]).total_seconds() if n > 1 else 0.0
    m["start"] = e.index[0].isoformat()
    m["end"] = e.index[-1].isoformat()
    m["duration_s"] = duration_s
    m["starting_equity"] = float(e.iloc[0])
    m["ending_equity"] = float(e.iloc[-1])
    total_pnl = float(e.iloc[-1] - e.iloc[0])
    m["total_pnl"] = total_pnl
    m["total_return"] = total_pnl / float(e.iloc[0]) if e.iloc[0] else None
    m["pnl_per_day"] = total_pnl / (duration_s / 86_400) if duration_s > 0 else None

    r = equity_returns(e)
    if len(r) >= 3 and float(r.std(ddof=1)) > 0:
        m["sharpe"] = _finite(qs.stats.sharpe(r, periods=config.periods_per_year))
        m["sortino"] = _finite(qs.stats.sortino(r, periods=config.periods_per_year))
    else:
        m["sharpe"] = m["sortino"] = None
    m["volatility_ann"] = _finite(float(r.std(ddof=1)) * math.sqrt(config.periods_per_year)) if len(r) >= 2 else None
    # The headline Sharpe of an intraday market maker: one-minute returns (or the tearsheet's
    # shorter grid for a short run), scaled to one hour of trading, not annualised.
    grid_s = return_grid_s(equity, config.interval_s)
    m["sharpe_grid_s"] = grid_s
    m["sharpe_per_hour"] = _finite(sharpe_per_hour(intraday_returns(equity, grid_s), grid_s)) if n > 1 else None
    m.update(drawdown_stats(e))
    m["max_drawdown_pct_qs"] = _finite(-qs.stats.max_drawdown(r)) if len(r) else 0.0

    de = e.diff().iloc[1:]
    changed = de[de != 0]
    m["win_rate_interval"] = float((changed > 0).mean()) if len(changed) else None
    m["intervals_changed"] = int(len(changed))

    # -- fills --
    nf = len(fills)
    m["fills"] = nf
    m["orders_submitted"] = orders_submitted
    m["orders_filled"] = orders_filled
    m["fill_ratio"] = (orders_filled / orders_submitted) if orders_submitted else None
    if nf:
        maker = fills["liquidity"] == "MAKER"
        m["maker_share_fills"] = float(maker.mean())
        m["maker_share_qty"] = float(fills.loc[maker, "qty"].sum() / fills["qty"].sum())
        m["taker_share_fills"] = 1.0 - m["maker_share_fills"]
        fees = fills["fee"].astype(float)
        m["fees_paid"] = float(fees[fees > 0].sum())
        m["rebates_received"] = float(-fees[fees < 0].sum()) + 0.0  # no "-0.0"
        m["fees_net"] = float(fees.sum())
        notional = (fills["qty"] * fills["px"]).abs() * config.multiplier
        m["turnover_notional"] = float(notional.sum())
        m["turnover_qty"] = float(fills["qty"].sum())
        m["turnover_per_equity"] = float(notional.sum() / e.iloc[0]) if e.iloc[0] else None
        m["buy_qty"] = float(fills.loc[fills["side"] > 0, "qty"].sum())
        m["sell_qty"] = float(fills.loc[fills["side"] < 0, "qty"].sum())
    else:
        for k in ("maker_share_fills", "maker_share_qty", "taker_share_fills"):
            m[k] = None
        for k in ("fees_paid", "rebates_received", "fees_net", "turnover_notional", "turnover_qty",
                  "buy_qty", "sell_qty"):
            m[k] = 0.0
        m["turnover_per_equity"] = 0.0
    trips = round_trips_fifo(fills, config.multiplier) if nf else round_trips_fifo(fills.iloc[0:0])
    m["round_trips"] = int(len(trips))
    m["win_rate_round_trip"] = float((trips["pnl"] > 0).mean()) if len(trips) else None
    m["round_trip_pnl"] = float(trips["pnl"].sum()) if len(trips) else 0.0

    # -- inventory --
    pos = equity["position"].astype(float)
    m["inventory_mean"] = float(pos.mean())
    m["inventory_mean_abs"] = float(pos.abs().mean())
    m["inventory_max_abs"] = float(pos.abs().max())
    m["inventory_quantiles"] = {f"q{int(q * 100):02d}": float(pos.quantile(q)) for q in INVENTORY_QUANTILES}
    if config.max_inventory:
        limit = float(config.max_inventory)
        m["max_inventory"] = limit
        m["time_at_inventory_limit"] = float((pos.abs() >= limit * (1 - 1e-9)).mean())
    else:
        m["max_inventory"] = None
        m["time_at_inventory_limit"] = None

    # -- spread captured vs adverse selection --
    if mid_changes is None or mid_changes.empty:
        mid_changes = pd.DataFrame({"ts_ns": equity["ts_ns"] if "ts_ns" in equity else e.index.asi8,
                                    "mid": equity["mid"]}).dropna()
    m["markouts"] = markouts(fills, mid_changes, config.horizons_s, config.multiplier)
    return m


# Flat metric names for comparison tables: (key, label, format)
SUMMARY_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("total_pnl", "PnL", "{:,.2f}"),
    ("pnl_per_day", "PnL/day", "{:,.1f}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sharpe_per_hour", "Sharpe/h", "{:.3f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "MaxDD", "{:,.2f}"),
    ("max_drawdown_pct", "MaxDD %", "{:.3%}"),
    ("fills", "Fills", "{:,.0f}"),
    ("fill_ratio", "Fill ratio", "{:.1%}"),
    ("maker_share_fills", "Maker %", "{:.0%}"),
    ("fees_net", "Fees", "{:,.2f}"),
    ("win_rate_round_trip", "Win RT", "{:.1%}"),
    ("inventory_mean_abs", "|Inv| mean", "{:.4f}"),
    ("time_at_inventory_limit", "At limit", "{:.1%}"),
    ("spread_captured_bps", "Spread bps", "{:.2f}"),
    ("markout_60s_bps", "MO 60s bps", "{:.2f}"),
)


def flatten_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Pick the headline numbers (mark-outs flattened) for one table row."""
    out = {k: metrics.get(k) for k, _, _ in SUMMARY_FIELDS}
    if "markouts" not in metrics and "spread_captured_bps" in metrics:  # already flat
        out["spread_captured_bps"] = metrics.get("spread_captured_bps")
        out["markout_60s_bps"] = metrics.get("markout_60s_bps")
        return out
    mo = metrics.get("markouts") or {}
    out["spread_captured_bps"] = mo.get("spread_captured_bps")
    h60 = (mo.get("horizons") or {}).get("60s") or {}
    out["markout_60s_bps"] = h60.get("markout_bps")
    return out


def format_value(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)
