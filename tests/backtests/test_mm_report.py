"""The market-making report's PnL split on hand-made fills whose split is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.mm_report import pnl_decomposition, quoting_stats, time_to_first_fill_s

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _equity(times_s, equity) -> pd.DataFrame:
    ts = np.array([T0 + int(t * S) for t in times_s], dtype="int64")
    return pd.DataFrame({"ts_ns": ts, "equity": equity}, index=pd.to_datetime(ts, unit="ns", utc=True))


def _fills(rows) -> pd.DataFrame:
    """rows: (t_s, side, qty, px, fee)"""
    return pd.DataFrame({
        "ts_ns": [T0 + int(t * S) for t, *_ in rows], "side": [r[1] for r in rows], "qty": [r[2] for r in rows],
        "px": [r[3] for r in rows], "fee": [r[4] for r in rows], "liquidity": "MAKER", "order_id": "o",
    })


def _mids(rows) -> pd.DataFrame:
    return pd.DataFrame({"ts_ns": [T0 + int(t * S) for t, _ in rows], "mid": [m for _, m in rows]})


def test_linear_split_is_spread_plus_inventory_plus_fees():
    # buy 2 @ 99 with the mid at 100 (spread +2), the mid goes to 103 (inventory +6), sell 2 @ 104 with
    # the mid at 103 (spread +2); fees 0.1 and a 0.05 rebate
    mids = _mids([(0, 100.0), (2, 103.0)])
    fills = _fills([(1, 1, 2.0, 99.0, 0.1), (3, -1, 2.0, 104.0, -0.05)])
    cash_pnl = 2 * (104 - 99) - 0.1 + 0.05
    eq = _equity([0, 1, 2, 3, 4], [1000, 1000 + 2 - 0.1, 1000 + 2 - 0.1 + 6, 1000 + cash_pnl, 1000 + cash_pnl])
    pnl = pnl_decomposition(eq, fills, mids)
    last = pnl.iloc[-1]
    assert last["spread"] == pytest.approx(4.0)
    assert last["inventory"] == pytest.approx(6.0)
    assert last["fees"] == pytest.approx(-0.05)
    assert last["total"] == pytest.approx(cash_pnl) and last["residual"] == pytest.approx(0.0, abs=1e-9)
    assert pnl["inventory"].tolist() == pytest.approx([0, 0, 6, 6, 6])  # earned when the mid moved


def test_inverse_split_is_linear_in_minus_one_over_price():
    # an inverse contract (multiplier 100 USD, PnL in BTC): long 1 bought at 49,000 with the mid
    # at 50,000, then the mid goes to 51,000: PnL = 100 * (1/49,000 - 1/51,000) BTC
    mids = _mids([(0, 50_000.0), (2, 51_000.0)])
    fills = _fills([(1, 1, 1.0, 49_000.0, 0.0)])
    total = 100 * (1 / 49_000 - 1 / 51_000)
    eq = _equity([0, 1, 3], [1.0, 1.0 + 100 * (1 / 49_000 - 1 / 50_000), 1.0 + total])
    last = pnl_decomposition(eq, fills, mids, multiplier=100.0, inverse=True).iloc[-1]
    assert last["spread"] == pytest.approx(100 * (1 / 49_000 - 1 / 50_000))
    assert last["inventory"] == pytest.approx(100 * (1 / 50_000 - 1 / 51_000))
    assert last["residual"] == pytest.approx(0.0, abs=1e-12)


def test_no_fills_is_all_zero_but_the_total():
    eq = _equity([0, 1], [100.0, 100.0])
    pnl = pnl_decomposition(eq, _fills([]), _mids([(0, 10.0), (1, 11.0)]))
    assert pnl.iloc[-1][["spread", "inventory", "fees", "total", "residual"]].tolist() == [0, 0, 0, 0, 0]


def test_quoting_and_queue_statistics():
    eq = _equity([0, 1, 2, 3], [0, 0, 0, 0]).assign(
        bid=[99.0, 99.0, 99.0, 99.0], ask=[101.0, 101.0, 101.0, 101.0],
        quote_bid_px=[99.0, 98.0, np.nan, 99.0], quote_ask_px=[101.0, 101.0, 101.0, 102.0])
    q = quoting_stats(eq)
    assert q["two_sided"] == pytest.approx(0.75)
    assert q["bid_at_touch"] == pytest.approx(2 / 3) and q["ask_at_touch"] == pytest.approx(0.75)
    orders = pd.DataFrame({"order_id": ["a", "b", "c"], "ts_init_ns": [T0, T0 + S, T0 + 2 * S]})
    fills = _fills([(0.5, 1, 1.0, 99.0, 0.0), (4.0, -1, 1.0, 101.0, 0.0)]).assign(order_id=["a", "b"])
    assert time_to_first_fill_s(orders, fills).tolist() == pytest.approx([0.5, 3.0])


def test_a_damaged_report_csv_is_one_error_naming_the_file(tmp_path):
    from backtests.mm_report import read_fills, read_orders

    assert read_fills(tmp_path).empty and read_orders(tmp_path).empty  # no reports: no fills, no orders
    (tmp_path / "fills.csv").write_text("client_order_id,order_side\nO-1,BUY\n")  # ts_event, last_px... gone
    with pytest.raises(ValueError, match=r"fills\.csv: cannot read: KeyError"):
        read_fills(tmp_path)
    (tmp_path / "orders.csv").write_text("client_order_id,side,ts_init,status,filled_qty\nO-1,BUY,soon,FILLED,1\n")
    with pytest.raises(ValueError, match=r"orders\.csv: cannot read: ValueError"):
        read_orders(tmp_path)
