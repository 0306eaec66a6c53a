"""Static plots of one backtest (matplotlib, Agg backend: no display needed).

* ``equity.png``: PnL (equity minus starting equity) and drawdown below it;
* ``inventory.png``: signed position with the inventory limit;
* ``quotes.png``: market bid/ask/mid, our best open quotes, and fills (buys ^, sells v), over
  ``window_s`` seconds from just before the first fill (a whole day of quotes would be an
  unreadable band).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from backtests.metrics import utc_naive  # noqa: E402

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

_DPI = 110


def _time_axis(ax) -> None:
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.grid(True, alpha=0.3)


def _save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` and free it (pyplot keeps every open figure alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def plot_equity(equity: pd.DataFrame, path: Path, *, title: str = "", currency: str = "") -> Path:
    e = equity["equity"].astype(float)
    x = utc_naive(e.index)
    pnl = e - e.iloc[0]
    dd = e - e.cummax()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, height_ratios=[3, 1])
    ax1.plot(x, pnl.to_numpy(), color="tab:blue", lw=1.2)
    ax1.axhline(0, color="black", lw=0.6)
    unit = f" ({currency})" if currency else ""
    ax1.set_ylabel(f"PnL{unit}, equity - start")
    ax1.set_title(title or "Equity")
    ax2.fill_between(x, dd.to_numpy(), 0, color="tab:red", alpha=0.4, step="post")
    ax2.set_ylabel(f"drawdown{unit}")
    ax2.set_xlabel("time (UTC)")
    for ax in (ax1, ax2):
        _time_axis(ax)
    return _save(fig, path)


def plot_inventory(
    equity: pd.DataFrame,
    path: Path,
    *,
    max_inventory: float | None = None,
    title: str = "",
) -> Path:
    pos = equity["position"].astype(float)
    x = utc_naive(pos.index)
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.step(x, pos.to_numpy(), where="post", color="tab:purple", lw=1.0)
    ax.axhline(0, color="black", lw=0.6)
    if max_inventory:
        for y in (max_inventory, -max_inventory):
            ax.axhline(y, color="tab:red", ls="--", lw=0.8)
        ax.text(x[0], max_inventory, " inventory limit", va="bottom", color="tab:red", fontsize=8)
    ax.set_ylabel("position (base units)")
    ax.set_xlabel("time (UTC)")
    ax.set_title(title or "Inventory")
    _time_axis(ax)
    return _save(fig, path)


def plot_quotes(
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    path: Path,
    *,
    window_s: float = 60.0,
    title: str = "",
) -> Path:
    if len(equity) == 0:
        raise ValueError("plot_quotes: empty equity curve")
    t0 = equity.index[0]
    if fills is not None and len(fills):
        first_fill = pd.Timestamp(int(fills["ts_ns"].min()), unit="ns", tz="UTC")
        t0 = max(t0, first_fill - pd.Timedelta(seconds=min(5.0, window_s / 10)))
    t1 = t0 + pd.Timedelta(seconds=window_s)
    eq = equity[(equity.index >= t0) & (equity.index <= t1)]
    if len(eq) == 0:
        eq = equity.iloc[:1]
    x = utc_naive(eq.index)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    ax.step(x, eq["bid"].to_numpy(), where="post", color="0.6", lw=0.8, label="market bid / ask")
    ax.step(x, eq["ask"].to_numpy(), where="post", color="0.6", lw=0.8)
    ax.step(x, eq["mid"].to_numpy(), where="post", color="black", lw=0.9, label="mid")
    ax.step(x, eq["quote_bid_px"].to_numpy(), where="post", color="tab:green", lw=1.1, alpha=0.85,
            label="our best bid")
    ax.step(x, eq["quote_ask_px"].to_numpy(), where="post", color="tab:red", lw=1.1, alpha=0.85,
            label="our best ask")
    if fills is not None and len(fills):
        lo, hi = int(t0.value), int(t1.value)
        f = fills[(fills["ts_ns"] >= lo) & (fills["ts_ns"] <= hi)]
        ft = pd.to_datetime(f["ts_ns"], unit="ns")
        buys, sells = f["side"] > 0, f["side"] < 0
        ax.scatter(ft[buys], f.loc[buys, "px"], marker="^", color="tab:green", edgecolor="black",
                   linewidths=0.4, s=36, zorder=3, label=f"buy fills ({int(buys.sum())})")
        ax.scatter(ft[sells], f.loc[sells, "px"], marker="v", color="tab:red", edgecolor="black",
                   linewidths=0.4, s=36, zorder=3, label=f"sell fills ({int(sells.sum())})")
    ax.set_ylabel("price")
    ax.set_xlabel("time (UTC)")
    ax.set_title(
        (title or "Quotes against mid")
        + f"\n{window_s:g} s from {t0.strftime('%Y-%m-%d %H:%M:%S')} UTC; quotes and mid sampled "
        "every equity interval, fills at their exact time",
        fontsize=10,
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncols=6, frameon=False)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    _time_axis(ax)
    return _save(fig, path)


def plot_strategy(
    out_dir: Path,
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    *,
    title: str = "",
    max_inventory: float | None = None,
    currency: str = "",
) -> list[Path]:
    """Write ``equity.png``, ``inventory.png`` and ``quotes.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    return [
        plot_equity(equity, out_dir / "equity.png", title=f"Equity: {title}", currency=currency),
        plot_inventory(equity, out_dir / "inventory.png", max_inventory=max_inventory,
                       title=f"Inventory: {title}"),
        plot_quotes(equity, fills, out_dir / "quotes.png",
                    title=f"Quotes against mid, with fills: {title}"),
    ]


def plot_equity_comparison(
    curves: Mapping[str, pd.Series],
    path: Path,
    *,
    title: str = "",
    positions: Mapping[str, pd.Series] | None = None,
) -> Path:
    """PnL curves of several strategies on one axis; with ``positions``, their inventories on a
    second axis below, on the same time axis (what a market maker's PnL cost in risk)."""
    panels = 2 if positions else 1
    fig, axes = plt.subplots(panels, 1, figsize=(11, 5 if panels == 1 else 7.5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2][:panels]})
    ax = axes[0][0]
    for name, e in curves.items():
        e = e.astype(float)
        ax.plot(utc_naive(e.index), (e - e.iloc[0]).to_numpy(), lw=1.2, label=name)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("PnL (equity - start)")
    ax.set_title(title or ("PnL and inventory by strategy" if positions else "PnL by strategy"))
    ax.legend(fontsize=9)
    if positions:
        inv = axes[1][0]
        for name, q in positions.items():
            inv.step(utc_naive(q.index), q.astype(float).to_numpy(), where="post", lw=1.0, label=name)
        inv.axhline(0, color="black", lw=0.6)
        inv.set_ylabel("inventory")
        inv.legend(fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[-1][0].set_xlabel("time (UTC)")
    _time_axis(axes[-1][0])
    return _save(fig, path)
