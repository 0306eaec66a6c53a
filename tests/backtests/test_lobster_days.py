"""The four baselines on a NASDAQ day (LOBSTER GOOG and AMZN, 2012-06-21), as shipped.

``backtests/configs/lobster_{goog,amzn}_baselines.toml`` on the queue-aware L2 venue: every
strategy trades through the session, pays NASDAQ's per-share schedule (rebate when it adds
liquidity, fee when it takes), quotes nothing after 15:59:00 ET and ends the day flat. GOOG runs
the whole day (the data-at-scale check, with tearsheets); AMZN runs its last 90 minutes, enough
for the close-out and the fee schedule at half the CI time of a second full day.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from backtests.config import load_run_config
from strategies.session import TradingSession

CONFIGS = Path(__file__).resolve().parents[2] / "backtests" / "configs"
FLAT_BY_UTC = pd.Timestamp("2012-06-21 19:59:00", tz="UTC")  # 15:59:00 EDT
OPEN_UTC = pd.Timestamp("2012-06-21 13:30:00", tz="UTC")


def test_session_bounds_follow_new_york_time_through_daylight_saving():
    session = TradingSession("America/New_York", "09:30", "16:00", 60)
    edt_open = int(pd.Timestamp("2012-06-21 13:30:00", tz="UTC").value)  # EDT: UTC-4
    est_open = int(pd.Timestamp("2012-12-21 14:30:00", tz="UTC").value)  # EST: UTC-5
    for open_ns in (edt_open, est_open):
        assert not session.quoting_allowed(open_ns - 1)
        assert session.quoting_allowed(open_ns)
        flat_ns = open_ns + (6 * 3600 + 29 * 60) * 10**9  # 15:59 local
        assert session.quoting_allowed(flat_ns - 1) and not session.quoting_allowed(flat_ns)
    with pytest.raises(ValueError, match="session_close"):
        TradingSession("America/New_York", "16:00", "09:30")
    with pytest.raises(ValueError, match="unknown time zone"):
        TradingSession("Mars/Olympus")


@pytest.mark.slow
@pytest.mark.parametrize(("config", "start", "max_inventory"), [
    ("lobster_goog_baselines.toml", None, 500),  # the whole day
    ("lobster_amzn_baselines.toml", "2012-06-21T18:30:00Z", 500),  # 14:30 ET to the close
])
def test_baselines_trade_the_day_and_go_home_flat(lobster_catalog, tmp_path, config, start, max_inventory):
    from backtests.runner import run_backtest

    spec = load_run_config(CONFIGS / config).with_overrides(catalog=lobster_catalog, out_dir=tmp_path, start=start)
    assert spec.venue.fee_model == "per_share" and spec.venue.queue_position
    whole_day = start is None
    result = run_backtest(spec, progress=False, tearsheets=whole_day)
    assert [s.name for s in result.strategies] == ["fixed_spread", "avellaneda_stoikov", "glft", "glft_alpha"]
    for s in result.strategies:
        fills = pd.read_csv(s.directory / "fills.csv")
        fills = fills.iloc[pd.to_datetime(fills["ts_event"], utc=True).argsort(kind="stable")].reset_index(drop=True)
        ts = pd.to_datetime(fills["ts_event"], utc=True)
        assert len(fills) > (100 if whole_day else 20), s.name
        first = OPEN_UTC if whole_day else pd.Timestamp(start)
        assert ts.min() >= first and ts.max() - ts.min() > (pd.Timedelta(hours=5) if whole_day else pd.Timedelta(hours=1)), s.name
        late = fills[ts >= FLAT_BY_UTC]
        assert set(late["liquidity_side"]) <= {"TAKER"}, s.name  # only the closing order after 15:59
        signed = (fills["last_qty"] * fills["order_side"].map({"BUY": 1, "SELL": -1})).cumsum()
        assert signed.iloc[-1] == 0, f"{s.name}: holds {signed.iloc[-1]} shares overnight"
        assert signed.abs().max() <= max_inventory
        assert s.metrics["inventory_max_abs"] <= max_inventory
        per_share = fills["liquidity_side"].map({"MAKER": -0.0020, "TAKER": 0.0030})
        charged = fills["commission"].str.split().str[0].astype(float)
        assert charged.sum() == pytest.approx((fills["last_qty"] * per_share).sum(), abs=0.005 * len(fills) + 0.01)  # Money rounds each fill to the cent
        if whole_day:
            assert (s.directory / "tearsheet.html").stat().st_size > 100_000
