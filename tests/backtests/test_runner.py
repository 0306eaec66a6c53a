"""End-to-end ``amm backtest`` runs on the Binance BTCUSDT fixture catalog (46 s of real data)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from backtests.config import load_run_config, parse_run_config, to_toml
from backtests.runner import run_backtest
from backtests.tearsheet import load_run_dirs, write_reports
from catalog.config_io import ConfigError
from tests.helpers import CHROMIUM, USDM_VENUE, amm, assert_config_error, fixed_spread_entry

from .conftest import INSTRUMENT_ID, RUN_FILE

TOY = {
    "strategy_path": "tests.backtests.toy_mm:ToyQuoter",
    "config_path": "tests.backtests.toy_mm:ToyQuoterConfig",
}
REPORTS = ("orders.csv", "fills.csv", "order_fills.csv", "positions.csv", "account.csv")


def _config(catalog: Path, out: Path, *, book_type="L1_MBP", use_book=False, **venue) -> dict:
    return {
        "run": {"name": "toy", "catalog": str(catalog), "instrument_id": INSTRUMENT_ID, "out_dir": str(out)},
        "venue": {"book_type": book_type, **venue},
        "strategies": [
            {"name": "tight", **TOY, "config": {"order_qty": "0.01", "max_inventory": "0.03", "use_book": use_book}},
            {"name": "wide", **TOY, "config": {"order_qty": "0.01", "half_spread_ticks": 200, "use_book": use_book}},
        ],
    }


@pytest.fixture(scope="module")
def l1_run(l1_catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    spec = parse_run_config(_config(l1_catalog, out), source="test")
    return run_backtest(spec, progress=False)


def test_run_directory_layout(l1_run):
    rd = l1_run.run_dir
    assert rd.name.startswith("toy__seed42__")
    for f in ("config.resolved.toml", "config.resolved.json", "comparison.md", "comparison.html",
              "comparison.json", "equity_comparison.png", "complete.json"):
        assert (rd / f).is_file(), f
    for name in ("tight", "wide"):
        for f in (*REPORTS, "equity.parquet", "mid_changes.parquet", "metrics.json", "equity.png",
                  "inventory.png", "quotes.png", "tearsheet.html"):
            assert (rd / name / f).is_file(), f"{name}/{f}"
            assert (rd / name / f).stat().st_size > 0


def test_resolved_config_reruns_identically(l1_run):
    spec = load_run_config(l1_run.run_dir / "config.resolved.toml")
    assert spec.strategies == l1_run.spec.strategies
    assert spec.venue == l1_run.spec.venue
    assert spec.strategies[0].config["instrument_id"] == INSTRUMENT_ID  # filled in from [run]
    assert to_toml(spec) == (l1_run.run_dir / "config.resolved.toml").read_text()


def test_resolved_toml_keeps_a_multi_currency_account_and_drops_null_strategy_fields(l1_catalog, tmp_path):
    """TOML has no null: base_currency None is written as "" and a None strategy field left out."""
    raw = _config(l1_catalog, tmp_path, account_type="CASH", default_leverage=1.0, base_currency=None,
                  starting_balances=["1 BTC", "100000 USDT"])
    raw["strategies"][0]["config"]["order_id_tag"] = None
    spec = parse_run_config(raw, source="test")
    text = to_toml(spec)
    assert 'base_currency = ""' in text and "None" not in text
    (tmp_path / "resolved.toml").write_text(text)
    back = load_run_config(tmp_path / "resolved.toml")
    assert back.venue == spec.venue and back.venue.base_currency is None
    assert "order_id_tag" not in back.strategies[0].config
    assert to_toml(back) == text


def test_metrics_agree_with_reports(l1_run):
    rd = l1_run.run_dir
    for s in l1_run.strategies:
        m = json.loads((rd / s.name / "metrics.json").read_text())
        fills = pd.read_csv(rd / s.name / "fills.csv")
        orders = pd.read_csv(rd / s.name / "orders.csv")
        eq = pd.read_parquet(rd / s.name / "equity.parquet")
        assert m["fills"] == len(fills) > 0
        assert m["orders_submitted"] == len(orders)
        assert m["starting_equity"] == pytest.approx(100_000, abs=50)
        assert m["total_pnl"] == pytest.approx(eq["equity"].iloc[-1] - eq["equity"].iloc[0])
        # fees from the fills report, all maker on post-only quotes
        fees = fills["commission"].str.split().str[0].astype(float).sum()
        assert m["fees_net"] == pytest.approx(fees)
        assert m["maker_share_fills"] == 1.0
        assert 40 <= m["samples"] <= 48  # 46 s of data sampled every second
    tight = json.loads((rd / "tight" / "metrics.json").read_text())
    assert tight["inventory_max_abs"] <= 0.03 + 0.01 + 1e-9  # limit + one clip in flight
    assert tight["time_at_inventory_limit"] is not None


def test_strategies_differ_and_comparison_lists_both(l1_run):
    t, w = (s.metrics for s in l1_run.strategies)
    assert t["fills"] != w["fills"] or t["total_pnl"] != w["total_pnl"]
    md = (l1_run.run_dir / "comparison.md").read_text()
    assert "| tight |" in md and "| wide |" in md


def _stat(html: str, label: str) -> str:
    m = re.search(rf"<td>{re.escape(label)}</td><td>([^<]*)</td>", html)
    assert m, f"tearsheet row {label!r} missing"
    return m.group(1).replace(",", "")


def test_tearsheet_offline_intraday_grid_and_figures_matching(l1_run):
    """A 46 s run: 1 s returns (one-minute returns would be one number), the annualisation stated,
    the figures those of metrics.json, and none of QuantStats' calendar sections."""
    rd = l1_run.run_dir
    html = (rd / "tight" / "tearsheet.html").read_text()
    tight = json.loads((rd / "tight" / "metrics.json").read_text())
    assert _stat(html, "Returns").startswith("1 s")
    assert _stat(html, "Periods a year (annualisation)") == "31536000"  # 24/7 crypto, 1 s
    assert float(_stat(html, "Sharpe (annualised)")) == pytest.approx(tight["sharpe"], rel=0.02, abs=0.02)
    dd = _stat(html, "Max drawdown")
    assert -float(dd.rstrip("%")) == pytest.approx(tight["max_drawdown_pct"] * 100, rel=0.01, abs=1e-4)
    per_hour = float(_stat(html, "Sharpe per hour of trading"))
    assert per_hour == pytest.approx(tight["sharpe"] / (365 * 24) ** 0.5, rel=0.02, abs=0.02)
    for calendar in ("EOY", "Monthly", "CAGR", "Daily Returns", "Worst 5 Drawdown"):
        assert calendar not in html, calendar
    assert "yfinance" not in html.lower() and "<script src=" not in html


def test_percent_axis_shows_the_digits_and_is_restored():
    from quantstats._plotting import core

    from backtests.tearsheet import _percent, _quantstats_percent_axes

    assert core.format_pct_axis(0.00012, None) == "0%"  # QuantStats' own: why we replace it
    assert [_percent(x) for x in (0.0, 0.00012, -0.0035, 0.0412, 2.5)] == ["0%", "0.012%", "-0.35%", "4.12%", "250%"]
    original = core.format_pct_axis
    with _quantstats_percent_axes():
        assert core.format_pct_axis is _percent
    assert core.format_pct_axis is original


def test_return_grid_is_one_minute_unless_the_run_is_short():
    from backtests.metrics import return_grid_s

    def equity(seconds: int, step_s: float = 1.0) -> pd.DataFrame:
        idx = pd.date_range("2024-01-01", periods=int(seconds / step_s) + 1, freq=f"{step_s}s", tz="UTC")
        return pd.DataFrame({"equity": 1.0}, index=idx)

    assert return_grid_s(equity(3 * 3600), 1.0) == 60.0
    assert return_grid_s(equity(360), 1.0) == 10.0  # six minutes: 36 ten-second returns
    assert return_grid_s(equity(46), 1.0) == 1.0
    assert return_grid_s(equity(46, 5.0), 5.0) == 5.0  # never finer than the samples


def test_market_making_report_splits_the_pnl_and_opens_offline(l1_run):
    from backtests.mm_report import REPORT_NAME, load_book
    from backtests.tearsheet import load_run_dirs

    rd = l1_run.run_dir
    page = (rd / REPORT_NAME).read_text()
    assert "<script src=" not in page and "Plotly" in page  # plotly.js inline
    for anchor in ("pnl", "inventory", "quotes", "markouts", "queue"):
        assert f'id="fig-{anchor}"' in page
    for s in load_run_dirs([rd]):
        book = load_book(s)
        last = book.pnl.iloc[-1]
        assert last["total"] == pytest.approx(s.metrics["total_pnl"])
        assert last["fees"] == pytest.approx(-s.metrics["fees_net"])
        assert last["spread"] == pytest.approx(s.metrics["markouts"]["spread_captured_total"])
        # equity is marked to the mid, so the three parts add up to it
        assert abs(last["residual"]) <= 1e-6 * max(1.0, abs(last["total"])), book.pnl.tail()
        assert f"<th>{s.label}</th>" in page


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt install chromium, or set AMM_CHROMIUM)")
def test_reports_render_offline_in_headless_chromium(l1_run, tmp_path):
    """Both pages open from disk with no network and no script error; every chart is drawn."""
    from playwright.sync_api import sync_playwright

    rd = l1_run.run_dir
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors, requests = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((rd / "mm_report.html").as_uri())
        page.wait_for_selector("#fig-queue .main-svg", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == 5
        assert page.locator("td", has_text="spread capture").count() == 1
        page.screenshot(path=str(tmp_path / "mm_report.png"), full_page=True)
        page.goto((rd / "tight" / "tearsheet.html").as_uri())
        assert page.locator("svg").count() >= 3 and page.locator("td", has_text="Sharpe per hour").count() == 1
        browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests


def test_same_config_and_seed_gives_identical_reports(l1_catalog, tmp_path):
    # a fill probability (queue off) makes the reports depend on the seeded fill model
    cfg = _config(l1_catalog, tmp_path, prob_fill_on_limit=0.5, queue_position=False, seed=11)
    spec = parse_run_config(cfg, source="test")
    a = run_backtest(spec, progress=False, tearsheets=False)
    b = run_backtest(spec, progress=False, tearsheets=False)
    assert a.run_dir != b.run_dir
    assert not (a.run_dir / "mm_report.html").exists()  # no HTML pages when none are asked for
    for name in ("tight", "wide"):
        for f in (*REPORTS, "metrics.json"):
            assert (a.run_dir / name / f).read_bytes() == (b.run_dir / name / f).read_bytes(), f"{name}/{f}"
        pd.testing.assert_frame_equal(
            pd.read_parquet(a.run_dir / name / "equity.parquet"),
            pd.read_parquet(b.run_dir / name / "equity.parquet"),
        )
    # the seed matters when the fill model is random
    c = run_backtest(replace(spec, venue=spec.venue.replace(seed=12)), progress=False, tearsheets=False)
    assert (c.run_dir / "tight" / "fills.csv").read_bytes() != (a.run_dir / "tight" / "fills.csv").read_bytes()


def test_l2_venue_runs_on_deltas(l2_catalog, tmp_path):
    cfg = _config(l2_catalog, tmp_path, book_type="L2_MBP", use_book=True)
    cfg["strategies"] = cfg["strategies"][:1]
    res = run_backtest(parse_run_config(cfg, source="test"), progress=False, tearsheets=False)
    m = res.strategies[0].metrics
    assert m["samples"] > 40
    assert m["fills"] > 0
    assert res.strategies[0].events > 451 * 3  # every delta is an engine event


def test_report_on_two_runs_with_benchmark(l1_run, tmp_path):
    other = tmp_path / "other_run"
    shutil.copytree(l1_run.run_dir, other)
    res = write_reports([l1_run.run_dir, other, other], out_dir=tmp_path / "rep", benchmark=None)
    labels = list(res.table.index)
    assert len(labels) == 4 and all("/" in label for label in labels)  # same names: prefixed by run
    assert len(res.tearsheets) == 4
    assert all(p.is_file() and p.parent.parent == tmp_path / "rep" for p in res.tearsheets.values())
    with pytest.raises(ValueError, match="--benchmark 'nope' is not one of"):
        write_reports([l1_run.run_dir], out_dir=tmp_path, benchmark="nope")
    assert [s.name for s in load_run_dirs([l1_run.run_dir])] == ["tight", "wide"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["run"].pop("catalog"), r"^cfg.toml: run.catalog: missing required field$"),
        (lambda c: c["run"].update(bogus=1), r"^cfg.toml: run.bogus: unknown field; expected one of: benchmark, catalog, "),
        (lambda c: c["venue"].update(latency=1), r"^cfg.toml: venue.latency: unknown field"),
        (lambda c: c["venue"].update(oms_type="X"), r"^cfg.toml: venue.oms_type: .*expected one of: HEDGING, NETTING$"),
        (lambda c: c["strategies"][1].update(name="tight"), r"^cfg.toml: strategies\[1\].name: duplicate strategy name 'tight'"),
        (lambda c: c["strategies"][0].update(strategy_path="nocolon"), r"^cfg.toml: strategies\[0\].strategy_path: Expected `str` matching"),
        (lambda c: c["strategies"][0].update(config_path="tests.nope:Config"), r"^cfg.toml: strategies\[0\].config_path: cannot import"),
        (lambda c: c["strategies"][0]["config"].update(max_loos=1.0), r"^cfg.toml: strategies\[0\].config.max_loos: unknown field; expected one of: "),
        (lambda c: c["strategies"][1]["config"].update(half_spread_ticks="2"), r"^cfg.toml: strategies\[1\].config.half_spread_ticks: Expected `int`, got `str`$"),
        (lambda c: c["run"].update(benchmark="x"), r"^cfg.toml: run.benchmark: 'x' is not one of the strategies"),
        (lambda c: c["run"].update(start="not a time"), r"^cfg.toml: run.start: cannot parse"),
        (lambda c: c["run"].update(equity_interval_ms=0), r"^cfg.toml: run.equity_interval_ms: Expected `int` >= 1$"),
        (lambda c: c.update(strategies=[]), r"^cfg.toml: strategies: Expected `array` of length >= 1"),
    ],
)
def test_config_errors_name_the_field(tmp_path, mutate, message):
    cfg = _config(tmp_path, tmp_path)
    mutate(cfg)
    with pytest.raises(ConfigError, match=message) as info:
        parse_run_config(cfg, source="cfg.toml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("max_loos = 1.0", "strategies[0].config.max_loos", "unknown field; expected one of: "),
        ("quote_interval_ms = 1.5", "strategies[0].config.quote_interval_ms", "Expected `int`, got `float`"),
        ("vol_window = 0", "strategies[0].config.vol_window", "Expected `int` >= 1"),
    ],
)
def test_a_bad_strategy_config_fails_at_load_naming_the_file_and_field(tmp_path, line, field, message):
    """A typo, a wrong type or a value out of range in [strategies.config] fails before any run."""
    path = tmp_path / "run.toml"
    path.write_text(RUN_FILE.format(venue="") + line + "\n")
    assert_config_error(load_run_config, path, field, message)


KILLED = """\
[run]
name = "killed"
catalog = "{catalog}"
instrument_id = "BTCUSDT-PERP.BINANCE"
start = "2024-08-08T23:55:00Z"
end = "2024-08-08T23:58:00Z"

""" + USDM_VENUE + fixed_spread_entry("first", 1.0) + fixed_spread_entry("second", 2.0)


def test_a_killed_backtest_is_refused_by_amm_report(usdm_catalog, tmp_path, capsys):
    """SIGKILL once the first of two strategies has its results: the run has no completion mark,
    ``amm report`` refuses it in one line naming what it holds, and shows it only when told to."""
    cfg = tmp_path / "killed.toml"
    cfg.write_text(KILLED.format(catalog=usdm_catalog))
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "amm.cli", "backtest", "--config", str(cfg), "--out", str(out),
                             "--no-progress", "--no-tearsheets"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*/first/metrics.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (run_dir,) = out.iterdir()
    assert (run_dir / "first" / "metrics.json").is_file() and not (run_dir / "second" / "metrics.json").exists()
    assert not (run_dir / "complete.json").exists()
    code, stdout, err = amm(capsys, "report", str(run_dir), "--no-tearsheets")
    assert code == 1 and stdout == ""
    assert err.strip().splitlines() == [f"error: {run_dir}: incomplete run (no complete.json: killed or failed before its "
                                        "end; strategies with results: first); re-run it, or pass --allow-incomplete "
                                        "to report what it holds"]
    code, stdout, _ = amm(capsys, "report", str(run_dir), "--allow-incomplete", "--no-tearsheets", "--json")
    assert code == 0 and list(json.loads(stdout)["strategies"]) == ["first (incomplete)"]
