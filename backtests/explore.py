"""Read a finished backtest's quotes and fills back as tables (for ``notebooks/``).

A run directory of :func:`backtests.runner.run_backtest` holds, per strategy, the equity curve
sampled on a timer (``<strategy>/equity.parquet``: balance, unrealised PnL, position, the touch
``bid``/``ask``/``mid`` and our resting quotes ``quote_bid_px``/``quote_ask_px``) and its
``metrics.json``. Here they become what ``notebooks/market_making_strategies.ipynb`` plots: where
each strategy quoted relative to the mid (:func:`quote_offsets`), and one row of fill and quote
statistics per strategy of a run (:func:`run_table`), so that runs of a parameter grid
(risk aversion, the venue's queue model) line up in one table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.metrics import flatten_summary

__all__ = ["QUOTE_COLUMNS", "load_equity", "quote_offsets", "run_table"]

QUOTE_COLUMNS: tuple[str, ...] = ("bid_offset_ticks", "ask_offset_ticks", "half_spread_ticks", "skew_ticks")
"""Columns of :func:`quote_offsets`."""


def load_equity(run_dir: str | Path, strategy: str) -> pd.DataFrame:
    """``<run_dir>/<strategy>/equity.parquet`` indexed by UTC sample time.

    Raises
    ------
    FileNotFoundError
        If the run has no such strategy (the message lists the ones it has).
    """
    path = Path(run_dir) / strategy / "equity.parquet"
    if not path.exists():
        have = sorted(p.parent.name for p in Path(run_dir).glob("*/equity.parquet"))
        raise FileNotFoundError(f"{path}: no equity curve for strategy {strategy!r} (run has {have})")
    frame = pd.read_parquet(path)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame["ts_ns"], unit="ns", utc=True), name="time")
    return frame


def quote_offsets(equity: pd.DataFrame, tick_size: float) -> pd.DataFrame:
    """Where the resting quotes sat relative to the mid at each sample, in ticks.

    ``bid_offset_ticks = (mid - quote_bid_px) / tick`` and ``ask_offset_ticks = (quote_ask_px -
    mid) / tick`` (positive = behind the mid; NaN where that side had no quote),
    ``half_spread_ticks`` their mean and ``skew_ticks = ((quote_bid_px + quote_ask_px) / 2 -
    mid) / tick``: the quotes' centre against the mid, negative when the strategy leans to sell
    (a long inventory lowers the Avellaneda-Stoikov reservation price).
    """
    if not tick_size > 0:
        raise ValueError(f"tick_size must be > 0, got {tick_size}")
    mid = equity["mid"]
    bid = (mid - equity["quote_bid_px"]) / tick_size
    ask = (equity["quote_ask_px"] - mid) / tick_size
    return pd.DataFrame({
        "bid_offset_ticks": bid,
        "ask_offset_ticks": ask,
        "half_spread_ticks": 0.5 * (bid + ask),
        "skew_ticks": 0.5 * (ask - bid),  # ((mid + ask) + (mid - bid)) / 2 - mid
    }, index=equity.index)


def run_table(run_dir: str | Path, strategies: Sequence[str], *, tick_size: float) -> pd.DataFrame:
    """One row per strategy of a run: its headline metrics and how it quoted.

    Columns: the metrics of :func:`backtests.metrics.flatten_summary` (``total_pnl``, ``fills``,
    ``fill_ratio``, ``maker_share_fills``, ``inventory_mean_abs``, ``markout_60s_bps``, ...),
    then ``quoted_share`` (share of samples with both a bid and an ask resting) and
    ``mean_half_spread_ticks`` (mean of :func:`quote_offsets`' ``half_spread_ticks`` where both
    sides rest).
    """
    rows = {}
    for name in strategies:
        metrics = json.loads((Path(run_dir) / name / "metrics.json").read_text())
        offsets = quote_offsets(load_equity(run_dir, name), tick_size)
        both = offsets["half_spread_ticks"].notna()
        rows[name] = {
            **flatten_summary(metrics),
            "quoted_share": float(both.mean()) if len(both) else np.nan,
            "mean_half_spread_ticks": float(offsets.loc[both, "half_spread_ticks"].mean()) if both.any() else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("strategy")
