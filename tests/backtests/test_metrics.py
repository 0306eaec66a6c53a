"""Metrics against values computed by hand on tiny synthetic series."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from backtests.metrics import (
    MetricsConfig,
    compute_metrics,
    drawdown_stats,
    fills_from_report,
    markouts,
    round_trips_fifo,
)

S = 1_000_000_000
PPY = 365 * 86400  # 1 s sampling


def _equity(values, positions=None):
    idx = pd.to_datetime([i * S for i in range(len(values))], unit="ns", utc=True)
    return pd.DataFrame(
        {
            "ts_ns": [i * S for i in range(len(values))],
            "equity": values,
            "position": positions if positions is not None else [0.0] * len(values),
            "mid": [100.0] * len(values),
        },
        index=idx,
    )


def _fills():
    return pd.DataFrame(
        {
            "ts_ns": [0, 1 * S, 2 * S, 3 * S],
            "side": [1, 1, -1, -1],
            "qty": [2.0, 1.0, 2.5, 1.0],
            "px": [100.0, 101.0, 103.0, 99.0],
            "fee": [0.2, 0.1, 0.25, -0.1],
            "liquidity": ["MAKER", "MAKER", "TAKER", "MAKER"],
            "order_id": ["a", "b", "c", "d"],
        },
    )


def _mids():
    return pd.DataFrame({"ts_ns": [0, int(1.5 * S), int(2.5 * S), 5 * S], "mid": [100.5, 102.0, 104.0, 98.0]})


def test_returns_based_ratios_match_hand_values():
    eq = _equity([100.0, 110.0, 99.0, 108.9, 108.9])
    m = compute_metrics(eq, _fills().iloc[0:0], config=MetricsConfig(interval_s=1.0))
    # returns r_0 = 0 (start), then 0.1, -0.1, 0.1, 0.0: mean 0.02, sample var 0.028/4
    assert m["periods_per_year"] == PPY
    assert m["sharpe"] == pytest.approx(0.02 / math.sqrt(0.028 / 4) * math.sqrt(PPY), rel=1e-9)
    # downside deviation sqrt(0.1^2 / 5)
    assert m["sortino"] == pytest.approx(0.02 / math.sqrt(0.01 / 5) * math.sqrt(PPY), rel=1e-9)
    assert m["total_pnl"] == pytest.approx(8.9)
    assert m["pnl_per_day"] == pytest.approx(8.9 / (4 / 86400))
    assert m["max_drawdown"] == pytest.approx(11.0)
    assert m["max_drawdown_pct"] == pytest.approx(0.1)
    assert m["max_drawdown_pct_qs"] == pytest.approx(0.1)  # QuantStats agrees with the curve
    assert m["max_drawdown_duration_s"] == pytest.approx(3.0)  # peak at 1 s, never regained
    assert m["win_rate_interval"] == pytest.approx(2 / 3)  # +10, -11, +9.9 (0 ignored)


def test_drawdown_duration_ends_at_recovery():
    eq = _equity([100.0, 90.0, 95.0, 101.0, 100.0])["equity"]
    dd = drawdown_stats(eq)
    assert dd["max_drawdown"] == pytest.approx(10.0)
    assert dd["max_drawdown_duration_s"] == pytest.approx(3.0)  # 0 s peak -> regained at 3 s


def test_fifo_round_trips_with_fees():
    trips = round_trips_fifo(_fills())
    # sell 2.5@103 closes 2@100 and 0.5@101; sell 1@99 closes the other 0.5@101 (rebate leg)
    assert trips["qty"].tolist() == [2.0, 0.5, 0.5]
    assert trips["pnl"].tolist() == pytest.approx([6 - 0.4, 1 - 0.1, -1 - 0.0])
    m = compute_metrics(
        _equity([100.0] * 5, positions=[0, 2, 3, 0.5, -0.5]),
        _fills(),
        config=MetricsConfig(interval_s=1.0, max_inventory=3.0),
        orders_submitted=8,
        orders_filled=4,
        mid_changes=_mids(),
    )
    assert m["round_trips"] == 3
    assert m["win_rate_round_trip"] == pytest.approx(2 / 3)
    assert m["round_trip_pnl"] == pytest.approx(5.5)
    assert m["fills"] == 4
    assert m["fill_ratio"] == pytest.approx(0.5)
    assert m["maker_share_fills"] == pytest.approx(0.75)
    assert m["maker_share_qty"] == pytest.approx(4 / 6.5)
    assert m["fees_paid"] == pytest.approx(0.55)
    assert m["rebates_received"] == pytest.approx(0.1)
    assert m["fees_net"] == pytest.approx(0.45)
    assert m["turnover_notional"] == pytest.approx(200 + 101 + 257.5 + 99)
    assert m["inventory_mean_abs"] == pytest.approx(1.2)
    assert m["inventory_max_abs"] == pytest.approx(3.0)
    assert m["time_at_inventory_limit"] == pytest.approx(0.2)
    assert m["inventory_quantiles"]["q50"] == pytest.approx(0.5)


def test_markouts_hand_values():
    mo = markouts(_fills(), _mids(), horizons_s=(1.0, 10.0))
    # spread s*(m0-p): +0.5 x2, -0.5 x1, +1 x2.5, -5 x1 -> total -2 over 6.5 units
    assert mo["spread_captured_total"] == pytest.approx(-2.0)
    assert mo["spread_captured_per_unit"] == pytest.approx(-2.0 / 6.5)
    h1 = mo["horizons"]["1s"]
    # mid moves after 1 s, signed: 0, +1.5, -2, 0
    assert h1["fills"] == 4
    assert h1["mid_move_total"] == pytest.approx(1.5 - 5.0)
    assert h1["markout_total"] == pytest.approx(-2.0 + 1.5 - 5.0)
    assert h1["markout_per_unit"] == pytest.approx(-5.5 / 6.5)
    assert mo["horizons"]["10s"]["fills"] == 0  # runs past the last mid


def test_fills_from_nautilus_report_columns():
    report = pd.DataFrame(
        {
            "client_order_id": ["O-1", "O-2"],
            "order_side": ["BUY", "SELL"],
            "last_qty": ["0.010", "0.020"],
            "last_px": ["50000.0", "50001.0"],
            "commission": ["0.10000000 USDT", "-0.02000000 USDT"],
            "liquidity_side": ["MAKER", "TAKER"],
            "ts_event": pd.to_datetime([2 * S, 1 * S], unit="ns", utc=True),
        },
    ).set_index("client_order_id")
    f = fills_from_report(report)
    assert f["ts_ns"].tolist() == [1 * S, 2 * S]  # sorted by time
    assert f["side"].tolist() == [-1, 1]
    assert f["fee"].tolist() == pytest.approx([-0.02, 0.1])
    assert f["qty"].tolist() == pytest.approx([0.02, 0.01])


def test_interval_convention_changes_annualisation():
    eq = _equity([100.0, 110.0, 99.0, 108.9, 108.9])
    m1 = compute_metrics(eq, _fills().iloc[0:0], config=MetricsConfig(interval_s=1.0))
    m10 = compute_metrics(eq, _fills().iloc[0:0], config=MetricsConfig(interval_s=10.0))
    assert m10["periods_per_year"] == PPY / 10
    assert m1["sharpe"] / m10["sharpe"] == pytest.approx(math.sqrt(10))


def test_sharpe_per_hour_on_one_minute_returns_not_annualised():
    # two hours of 1 s equity: +1 every second for the first hour, then alternating -3/+4 minutes
    n = 2 * 3600 + 1
    values = [1_000.0]
    for i in range(1, n):
        minute = (i - 1) // 60
        step = 1.0 if i <= 3600 else (-3.0 / 60 if minute % 2 == 0 else 4.0 / 60)
        values.append(values[-1] + step)
    eq = _equity(values)
    m = compute_metrics(eq, _fills().iloc[0:0], config=MetricsConfig(interval_s=1.0))
    assert m["sharpe_grid_s"] == 60.0
    minute = pd.Series(values[::60])
    r = pd.concat([pd.Series([0.0]), minute.pct_change().iloc[1:]], ignore_index=True)
    expected = r.mean() / r.std(ddof=1) * math.sqrt(60.0)
    assert m["sharpe_per_hour"] == pytest.approx(expected, rel=1e-9)
    # the annualised 1 s Sharpe of the same curve is a different, far larger number
    assert m["sharpe"] > 50 * m["sharpe_per_hour"]


def test_sharpe_per_hour_short_run_uses_a_finer_grid():
    eq = _equity([100.0 + (i % 3) for i in range(301)])  # five minutes at 1 s
    m = compute_metrics(eq, _fills().iloc[0:0], config=MetricsConfig(interval_s=1.0))
    assert m["sharpe_grid_s"] == 10.0  # the longest grid with 30 returns in 300 s

