"""The market-making report: one offline HTML page per run, every strategy side by side.

A QuantStats tearsheet reads a run as a return series. A market maker is judged on where that
return comes from, and this page shows it (the decomposition of Cartea, Jaimungal & Penalva,
*Algorithmic and High-Frequency Trading*, 2015, ch. 10, and of Guéant, *The Financial Mathematics
of Market Liquidity*, 2016, ch. 3):

* **PnL split** at every event, in the settlement currency, with ``M`` the contract multiplier and
  ``f(x) = x`` for linear instruments or ``f(x) = -1/x`` for inverse ones (an inverse contract's
  PnL is linear in ``-1/price``, as in :class:`strategies.ledger.FillLedger`):

  - *spread capture* ``sum_i s_i (f(m_i) - f(p_i)) q_i M``: the edge of each fill against the mid
    ``m_i`` at the fill (side ``s_i`` +1 buy, -1 sell, price ``p_i``, quantity ``q_i``);
  - *inventory PnL* ``sum_k q(t_k-) (f(m_k) - f(m_{k-1})) M``: the held position marked to every
    mid change (``mid_changes.parquet``), i.e. what holding inventory earned or lost;
  - *fees* ``-sum_i fee_i``: commissions paid (negative) or rebates received (positive).

  ``spread + inventory + fees`` equals the equity change of the run (equity is marked to the mid);
  the *residual* (funding, a fill and a mid change at the same nanosecond, rounding) is shown
  beside them so a reader sees how closely they add up.
* **Inventory** over time against the strategy's limit.
* **Quotes and fills against the mid**: our best resting bid and ask, the touch and each fill.
* **Mark-out curves** from 1 s to 60 s (:func:`backtests.metrics.markouts`): adverse selection.
* **Fills, quoting and queue statistics**: fill ratio, maker share, time from submitting an
  order to its first fill (the wait in the queue, with Nautilus' queue position on), share of
  the time quoting both sides and share of it with our quote at the touch (a quote behind the
  touch queues behind a whole level).

Why our own page and not more QuantStats: QuantStats has no notion of fills, quotes, inventory or
mark-outs. Plotly draws it (interactive zoom matters on a day of quotes); ``plotly.js`` is
embedded once, so the page opens offline.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.metrics import fills_from_report, markouts
from backtests.metrics import intraday_returns, return_grid_s, sharpe_per_hour, utc_naive
from backtests.tearsheet import LoadedStrategy, trading_hours_per_year

MARKOUT_HORIZONS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
"""Horizons of the mark-out curves."""

MAX_POINTS = 6_000
"""Time-series traces are thinned to at most this many points (every k-th sample; fills never)."""

REPORT_NAME = "mm_report.html"

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


@dataclass
class StrategyBook:
    """What the report derives from one strategy's run directory."""

    strategy: LoadedStrategy
    fills: pd.DataFrame
    orders: pd.DataFrame
    mids: pd.DataFrame
    pnl: pd.DataFrame
    """Cumulative ``spread``, ``inventory``, ``fees``, ``total`` and ``residual`` on the equity grid."""

    @property
    def label(self) -> str:
        return self.strategy.label

    @property
    def multiplier(self) -> float:
        return float(self.strategy.metrics.get("multiplier") or 1.0)

    @property
    def inverse(self) -> bool:
        return bool(self.strategy.metrics.get("is_inverse", False))


def _price_map(inverse: bool):
    return (lambda x: -1.0 / x) if inverse else (lambda x: x)


def _read_report(path: Path, parse):
    """``parse(frame)`` of a Nautilus report CSV, ``parse(None)`` when it is missing or empty; a
    file that cannot be read, or lacks a column or a value ``parse`` needs, is one error naming it."""
    if not path.exists() or path.stat().st_size == 0:
        return parse(None)
    try:
        frame = pd.read_csv(path)
        return parse(None if frame.empty else frame)
    except pd.errors.EmptyDataError:
        return parse(None)
    except (pd.errors.ParserError, KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: cannot read: {type(e).__name__}: {e}") from e


def read_fills(directory: Path) -> pd.DataFrame:
    """``fills.csv`` of a strategy in :data:`backtests.metrics.FILL_COLUMNS` form."""
    return _read_report(Path(directory) / "fills.csv",
                        lambda report: fills_from_report(pd.DataFrame() if report is None else report))


ORDER_COLUMNS = ("order_id", "side", "ts_init_ns", "status", "filled_qty")


def _orders(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame(columns=list(ORDER_COLUMNS))
    return pd.DataFrame({
        "order_id": df["client_order_id"].astype(str),
        "side": np.where(df["side"].astype(str) == "BUY", 1, -1),
        "ts_init_ns": pd.to_numeric(df["ts_init"], errors="raise").astype("int64"),
        "status": df["status"].astype(str),
        "filled_qty": pd.to_numeric(df["filled_qty"], errors="coerce").fillna(0.0),
    })


def read_orders(directory: Path) -> pd.DataFrame:
    """``orders.csv`` of a strategy: ``order_id``, ``side`` (+1/-1), ``ts_init_ns``, ``status``."""
    return _read_report(Path(directory) / "orders.csv", _orders)


def pnl_decomposition(
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    mids: pd.DataFrame,
    *,
    multiplier: float = 1.0,
    inverse: bool = False,
) -> pd.DataFrame:
    """Cumulative spread capture, inventory PnL and fees on the equity grid (module docstring).

    ``total`` is the equity change since the first sample and ``residual`` what the three parts
    leave of it. The position starts at zero (a backtest starts flat).
    """
    f = _price_map(inverse)
    grid = equity.index
    t_grid = equity["ts_ns"].to_numpy(dtype="int64") if "ts_ns" in equity else grid.asi8
    m_ts = mids["ts_ns"].to_numpy(dtype="int64") if len(mids) else np.empty(0, dtype="int64")
    m_px = mids["mid"].to_numpy(dtype=float) if len(mids) else np.empty(0)
    ok = np.isfinite(m_px) & (m_px > 0)
    m_ts, m_px = m_ts[ok], m_px[ok]

    f_ts = fills["ts_ns"].to_numpy(dtype="int64")
    signed = fills["side"].to_numpy(dtype=float) * fills["qty"].to_numpy(dtype=float)
    px = fills["px"].to_numpy(dtype=float)
    fee = fills["fee"].to_numpy(dtype=float)

    # spread capture at each fill, against the last mid at or before it
    i = np.searchsorted(m_ts, f_ts, side="right") - 1
    m_at = np.where(i >= 0, m_px[np.clip(i, 0, None)] if len(m_px) else np.nan, np.nan)
    spread = np.where(np.isfinite(m_at), signed * (f(m_at) - f(px)) * multiplier, 0.0)

    # inventory PnL: position held just before each mid change times the change
    pos_cum = np.cumsum(signed)
    k = np.searchsorted(f_ts, m_ts, side="left")  # fills strictly before the mid change
    pos_before = np.where(k > 0, pos_cum[np.clip(k - 1, 0, None)] if len(pos_cum) else 0.0, 0.0)
    d_mid = np.diff(f(m_px), prepend=f(m_px[0])) if len(m_px) else np.empty(0)
    inv = pos_before * d_mid * multiplier

    def on_grid(ts: np.ndarray, values: np.ndarray) -> np.ndarray:
        cum = np.cumsum(values)
        j = np.searchsorted(ts, t_grid, side="right") - 1
        return np.where(j >= 0, cum[np.clip(j, 0, None)] if len(cum) else 0.0, 0.0)

    e = equity["equity"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "spread": on_grid(f_ts, spread),
            "inventory": on_grid(m_ts, inv),
            "fees": -on_grid(f_ts, fee),
            "total": e - e[0],
        },
        index=grid,
    )
    out["residual"] = out["total"] - out["spread"] - out["inventory"] - out["fees"]
    return out


def load_book(strategy: LoadedStrategy) -> StrategyBook:
    """Read a strategy's fills, orders and mids and split its PnL."""
    fills = read_fills(strategy.directory)
    mids_path = strategy.directory / "mid_changes.parquet"
    mids = pd.read_parquet(mids_path) if mids_path.exists() else pd.DataFrame({"ts_ns": [], "mid": []})
    if mids.empty and "mid" in strategy.equity:
        mids = pd.DataFrame({"ts_ns": strategy.equity["ts_ns"], "mid": strategy.equity["mid"]})
    m = strategy.metrics
    pnl = pnl_decomposition(strategy.equity, fills, mids, multiplier=float(m.get("multiplier") or 1.0),
                            inverse=bool(m.get("is_inverse", False)))
    return StrategyBook(strategy, fills, read_orders(strategy.directory), mids, pnl)


# -- statistics -----------------------------------------------------------------------------------


def quoting_stats(equity: pd.DataFrame) -> dict[str, float | None]:
    """Share of samples quoting both sides, and of those with each quote at the touch."""
    qb, qa = equity["quote_bid_px"].to_numpy(float), equity["quote_ask_px"].to_numpy(float)
    bid, ask = equity["bid"].to_numpy(float), equity["ask"].to_numpy(float)
    n = len(equity)
    if n == 0:
        return {"two_sided": None, "bid_at_touch": None, "ask_at_touch": None}
    both = np.isfinite(qb) & np.isfinite(qa)
    tol = 1e-9 * np.nanmax(np.abs(np.concatenate([bid, ask, [1.0]])))
    bid_at = np.isfinite(qb) & np.isfinite(bid) & (qb >= bid - tol)
    ask_at = np.isfinite(qa) & np.isfinite(ask) & (qa <= ask + tol)
    return {
        "two_sided": float(both.mean()),
        "bid_at_touch": float(bid_at[np.isfinite(qb)].mean()) if np.isfinite(qb).any() else None,
        "ask_at_touch": float(ask_at[np.isfinite(qa)].mean()) if np.isfinite(qa).any() else None,
    }


def time_to_first_fill_s(orders: pd.DataFrame, fills: pd.DataFrame) -> np.ndarray:
    """Seconds from submitting each filled order to its first fill."""
    if orders.empty or fills.empty:
        return np.empty(0)
    first = fills.groupby("order_id")["ts_ns"].min()
    sub = orders.set_index("order_id")["ts_init_ns"]
    common = first.index.intersection(sub.index)
    return ((first[common] - sub[common]).to_numpy(dtype=float) / 1e9).clip(min=0.0)


def summary_rows(books: Sequence[StrategyBook]) -> list[tuple[str, list[str]]]:
    """The page's headline table: (row label, one formatted cell per strategy)."""
    def fmt(x: float | None, spec: str = ",.2f") -> str:
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "–"
        return format(x + 0.0, spec).replace("-0.0000", "0.0000")  # no "-0.0000" residual

    rows: dict[str, list[str]] = {}

    def add(label: str, values: Sequence[str]) -> None:
        rows[label] = list(values)

    ccy = books[0].strategy.metrics.get("valuation_currency") or ""
    last = [b.pnl.iloc[-1] for b in books]
    add(f"total PnL ({ccy})", [fmt(p["total"]) for p in last])
    add("  spread capture", [fmt(p["spread"]) for p in last])
    add("  inventory PnL", [fmt(p["inventory"]) for p in last])
    add("  fees (− paid, + rebates)", [fmt(p["fees"]) for p in last])
    add("  residual", [fmt(p["residual"], ",.4f") for p in last])
    grid = max(return_grid_s(b.strategy.equity, b.strategy.interval_s) for b in books)
    add(f"Sharpe per hour ({grid:g} s returns)",
        [fmt(sharpe_per_hour(intraday_returns(b.strategy.equity, grid), grid)) for b in books])
    add("max drawdown", [fmt(b.strategy.metrics.get("max_drawdown")) for b in books])
    add("fills", [fmt(float(len(b.fills)), ",.0f") for b in books])
    add("orders submitted", [fmt(b.strategy.metrics.get("orders_submitted"), ",.0f") for b in books])
    add("fill ratio (orders with a fill)", [fmt(b.strategy.metrics.get("fill_ratio"), ".1%") for b in books])
    add("maker share of fills", [fmt(b.strategy.metrics.get("maker_share_fills"), ".1%") for b in books])
    waits = [time_to_first_fill_s(b.orders, b.fills) for b in books]
    add("time to first fill, median (s)", [fmt(float(np.median(w)) if len(w) else None, ",.1f") for w in waits])
    add("time to first fill, 90th pct (s)",
        [fmt(float(np.quantile(w, 0.9)) if len(w) else None, ",.1f") for w in waits])
    q = [quoting_stats(b.strategy.equity) for b in books]
    add("quoting both sides (share of time)", [fmt(s["two_sided"], ".1%") for s in q])
    add("bid at the touch (share of bid time)", [fmt(s["bid_at_touch"], ".1%") for s in q])
    add("ask at the touch (share of ask time)", [fmt(s["ask_at_touch"], ".1%") for s in q])
    add("mean |inventory|", [fmt(b.strategy.metrics.get("inventory_mean_abs"), ",.4g") for b in books])
    add("max |inventory|", [fmt(b.strategy.metrics.get("inventory_max_abs"), ",.4g") for b in books])
    add("time at the inventory limit", [fmt(b.strategy.metrics.get("time_at_inventory_limit"), ".1%") for b in books])
    curves = [markout_curve(b) for b in books]
    for h in ("1s", "10s", "60s"):
        add(f"mark-out {h} (bps)", [fmt(c.loc[h, "markout_bps"] if h in c.index else None) for c in curves])
    return list(rows.items())


def markout_curve(book: StrategyBook) -> pd.DataFrame:
    """Mark-out, mid move and spread captured (bps of mid) at :data:`MARKOUT_HORIZONS_S`."""
    mo = markouts(book.fills, book.mids, MARKOUT_HORIZONS_S, multiplier=book.multiplier)
    rows = {}
    for h, v in (mo.get("horizons") or {}).items():
        rows[h] = {"horizon_s": float(h.rstrip("s")), "fills": v["fills"], "markout_bps": v["markout_bps"],
                   "mid_move_bps": v["mid_move_bps"], "spread_bps": mo.get("spread_captured_bps")}
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["horizon_s", "fills", "markout_bps", "mid_move_bps", "spread_bps"])


# -- figures --------------------------------------------------------------------------------------


def _thin(df: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    step = max(1, math.ceil(len(df) / MAX_POINTS))
    return df.iloc[::step] if step > 1 else df


def _figures(books: Sequence[StrategyBook]) -> list[tuple[str, str, object]]:
    """``(anchor, caption, plotly figure)`` for each section of the page."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(books)
    ccy = books[0].strategy.metrics.get("valuation_currency") or ""
    titles = [b.label for b in books]
    out: list[tuple[str, str, object]] = []

    # 1. PnL split over time
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.08 / max(n, 1))
    parts = (("total", "#000000"), ("spread", "#2ca02c"), ("inventory", "#1f77b4"), ("fees", "#d62728"))
    for r, b in enumerate(books, start=1):
        p = _thin(b.pnl)
        for name, colour in parts:
            fig.add_trace(go.Scatter(x=utc_naive(p.index), y=p[name], name=name, legendgroup=name, showlegend=r == 1,
                                       line={"color": colour, "width": 1.6 if name == "total" else 1.1}),
                          row=r, col=1)
        fig.update_yaxes(title_text=ccy, row=r, col=1, tickformat=",.4~g")
    fig.update_layout(height=260 * n + 60, margin={"t": 40, "b": 30})
    out.append(("pnl", f"Cumulative PnL split ({ccy}): spread capture + inventory PnL + fees = total.", fig))

    # 2. inventory against its limit
    fig = go.Figure()
    for c, b in enumerate(books):
        e = _thin(b.strategy.equity)
        fig.add_trace(go.Scatter(x=utc_naive(e.index), y=e["position"], name=b.label,
                                   line={"color": _COLOURS[c % len(_COLOURS)], "width": 1.2, "shape": "hv"}))
        lim = b.strategy.metrics.get("max_inventory")
        if lim:
            for sign in (1, -1):
                fig.add_hline(y=sign * float(lim), line={"color": _COLOURS[c % len(_COLOURS)], "dash": "dash",
                                                         "width": 1})
    fig.update_layout(height=340, yaxis_title="position (base units)", margin={"t": 20, "b": 30})
    out.append(("inventory", "Signed inventory; dashed lines are each strategy's limit.", fig))

    # 3. quotes and fills against the mid
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.08 / max(n, 1))
    for r, b in enumerate(books, start=1):
        e = _thin(b.strategy.equity)
        x = utc_naive(e.index)
        first = r == 1
        fig.add_trace(go.Scatter(x=x, y=e["mid"], name="mid", legendgroup="mid", showlegend=first,
                                   line={"color": "#555", "width": 1}), row=r, col=1)
        for col, name, colour in (("bid", "best bid", "#9ecae1"), ("ask", "best ask", "#fcbba1")):
            fig.add_trace(go.Scatter(x=x, y=e[col], name=name, legendgroup=name, showlegend=first,
                                       line={"color": colour, "width": 1, "shape": "hv"}), row=r, col=1)
        for col, name, colour in (("quote_bid_px", "our bid", "#08519c"), ("quote_ask_px", "our ask", "#a50f15")):
            fig.add_trace(go.Scatter(x=x, y=e[col], name=name, legendgroup=name, showlegend=first,
                                       line={"color": colour, "width": 1.3, "shape": "hv"}), row=r, col=1)
        fl = b.fills
        for side, name, sym, colour in ((1, "buy fill", "triangle-up", "#006d2c"),
                                        (-1, "sell fill", "triangle-down", "#cb181d")):
            sel = fl[fl["side"] == side]
            fig.add_trace(go.Scatter(x=pd.to_datetime(sel["ts_ns"], unit="ns", utc=True).dt.tz_localize(None), y=sel["px"],
                                       mode="markers", name=name, legendgroup=name, showlegend=first,
                                       marker={"symbol": sym, "size": 8, "color": colour}), row=r, col=1)
        fig.update_yaxes(title_text="price", row=r, col=1, tickformat=",.6~g")
    fig.update_layout(height=300 * n + 60, margin={"t": 40, "b": 30})
    out.append(("quotes", "Our best quotes against the touch and the mid, with every fill (zoom in: drag a box).",
                fig))

    # 4. mark-out curves
    fig = go.Figure()
    for c, b in enumerate(books):
        mc = markout_curve(b)
        if mc.empty:
            continue
        colour = _COLOURS[c % len(_COLOURS)]
        fig.add_trace(go.Scatter(x=mc["horizon_s"], y=mc["markout_bps"], name=f"{b.label}: mark-out",
                                 mode="lines+markers", line={"color": colour}))
        fig.add_trace(go.Scatter(x=mc["horizon_s"], y=mc["mid_move_bps"], name=f"{b.label}: mid move",
                                 mode="lines", line={"color": colour, "dash": "dot"}))
    fig.add_hline(y=0, line={"color": "#000", "width": 0.8})
    fig.update_layout(height=360, xaxis={"type": "log", "title": "horizon (s)", "tickvals": list(MARKOUT_HORIZONS_S)},
                      yaxis={"title": "bps of mid", "tickformat": ",.2f"}, margin={"t": 20, "b": 40})
    out.append(("markouts", "Mark-out s·(m(t+h) − p) per unit, quantity-weighted, in bps of the mid at the fill "
                "(solid); its mid-move part s·(m(t+h) − m(t)) (dotted): below zero is adverse selection.", fig))

    # 5. time to first fill
    fig = go.Figure()
    for c, b in enumerate(books):
        w = time_to_first_fill_s(b.orders, b.fills)
        if len(w):
            fig.add_trace(go.Box(x=w, name=b.label, marker={"color": _COLOURS[c % len(_COLOURS)]}, boxpoints=False))
    fig.update_layout(height=120 + 60 * n, xaxis={"title": "seconds from submission to first fill", "type": "log"},
                      margin={"t": 20, "b": 40}, showlegend=False)
    out.append(("queue", "Time from submitting an order to its first fill: the wait in the queue (queue "
                "position on) and for the market to come to the quote.", fig))
    return out


def render_report(books: Sequence[StrategyBook], *, title: str) -> str:
    """The whole HTML page (``plotly.js`` inline)."""
    from plotly.offline import get_plotlyjs

    if not books:
        raise ValueError("no strategies to report")
    m0 = books[0].strategy.metrics
    rows = summary_rows(books)
    th = "".join(f"<th>{html.escape(b.label)}</th>" for b in books)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for label, cells in rows
    )
    hours = trading_hours_per_year(m0)
    sections = []
    for anchor, caption, fig in _figures(books):
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{anchor}",
                          config={"displaylogo": False, "responsive": True})
        sections.append(f'<section id="{anchor}"><p class="cap">{html.escape(caption)}</p>{div}</section>')
    span = f"{m0.get('start', '')} → {m0.get('end', '')}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        f"<script>{get_plotlyjs()}</script>"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:3px 10px;"
        "text-align:right;font-variant-numeric:tabular-nums}td:first-child,th:first-child{text-align:left}"
        "th{background:#f3f3f3}.cap{color:#444;margin:1.2em 0 .2em}.note{color:#555;font-size:.9em;"
        "max-width:70em}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"<p>{html.escape(str(m0.get('instrument_id', '')))} · {html.escape(span)} · equity sampled every "
        f"{float(m0.get('interval_s') or 1):g} s</p>"
        f"<table><tr><th>metric</th>{th}</tr>{body}</table>"
        + "".join(sections)
        + "<p class='note'>PnL split: spread capture is each fill's edge against the mid at the fill; inventory "
        "PnL is the held position marked to every mid change; fees are commissions (negative) and rebates "
        "(positive); the residual is what the three leave of the equity change. Sharpe per hour: mean over "
        "standard deviation of equity returns on the grid named in the table (one minute, finer for a run of "
        "minutes) times √(3600 s / grid), not annualised"
        f" (a year here is {hours:,.0f} trading hours, the tearsheet's annualisation). Time-series traces are "
        f"thinned to at most {MAX_POINTS:,} points; fills are all shown.</p></body></html>\n"
    )


def write_mm_report(strategies: Sequence[LoadedStrategy], path: Path, *, title: str | None = None) -> Path:
    """Write the market-making report of ``strategies`` (one run, or several side by side) to ``path``."""
    books = [load_book(s) for s in strategies]
    title = title or "Market-making report: " + ", ".join(b.label for b in books)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(books, title=title), encoding="utf-8")
    tmp.replace(path)
    return path
