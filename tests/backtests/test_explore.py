"""Tests of ``backtests.explore`` (what ``notebooks/market_making_strategies.ipynb`` tabulates):
quote offsets by hand, and a run table read from a hand-written run directory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backtests.explore import QUOTE_COLUMNS, load_equity, quote_offsets, run_table

S = 1_000_000_000
T0 = 1_723_161_255 * S


def _equity() -> pd.DataFrame:
    return pd.DataFrame({
        "ts_ns": [T0, T0 + S, T0 + 2 * S, T0 + 3 * S],
        "mid": [100.0, 100.0, 101.0, 101.0],
        "quote_bid_px": [99.8, 99.9, np.nan, 100.5],
        "quote_ask_px": [100.2, 100.3, 101.4, np.nan],
        "position": [0.0, 0.002, 0.002, -0.002],
    })


def test_quote_offsets_by_hand() -> None:
    offsets = quote_offsets(_equity(), 0.1)
    assert list(offsets.columns) == list(QUOTE_COLUMNS)
    np.testing.assert_allclose(offsets["bid_offset_ticks"], [2.0, 1.0, np.nan, 5.0])
    np.testing.assert_allclose(offsets["ask_offset_ticks"], [2.0, 3.0, 4.0, np.nan])
    np.testing.assert_allclose(offsets["half_spread_ticks"], [2.0, 2.0, np.nan, np.nan])
    # quotes centred 0 and +1 tick from the mid: (99.9 + 100.3) / 2 = 100.1
    np.testing.assert_allclose(offsets["skew_ticks"], [0.0, 1.0, np.nan, np.nan], atol=1e-9)
    with pytest.raises(ValueError, match="tick_size"):
        quote_offsets(_equity(), 0.0)


def test_run_table_and_load_equity(tmp_path) -> None:
    for name, fills in (("a", 3), ("b", 7)):
        (tmp_path / name).mkdir()
        _equity().to_parquet(tmp_path / name / "equity.parquet")
        (tmp_path / name / "metrics.json").write_text(json.dumps({"fills": fills, "total_pnl": -1.5}))
    equity = load_equity(tmp_path, "a")
    assert equity.index[0].value == T0 and str(equity.index.tz) == "UTC"
    table = run_table(tmp_path, ["a", "b"], tick_size=0.1)
    assert table.index.tolist() == ["a", "b"]
    assert table["fills"].tolist() == [3, 7]
    assert table["total_pnl"].tolist() == [-1.5, -1.5]
    assert table["quoted_share"].tolist() == [0.5, 0.5]
    assert table["mean_half_spread_ticks"].tolist() == pytest.approx([2.0, 2.0])
    with pytest.raises(FileNotFoundError, match=r"run has \['a', 'b'\]"):
        load_equity(tmp_path, "c")
