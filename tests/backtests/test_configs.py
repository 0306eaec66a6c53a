"""The shipped baseline configs parse, name importable strategies, and run on the real captures."""

from __future__ import annotations

from pathlib import Path

import pytest
from nautilus_trader.common.config import resolve_config_path, resolve_path

from backtests.config import load_run_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "backtests" / "configs").glob("*.toml"))


def test_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {"spot_btcusdt_baselines.toml", "usdm_btcusdt_baselines.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_parses_and_builds_strategy_configs(path):
    spec = load_run_config(path)
    # the LOBSTER and Bitstamp files also hold the alpha-skewed GLFT (issue 14), on the tuned GLFT's parameters
    alpha = ["glft_alpha"] if path.name.startswith(("lobster_", "bitstamp_")) else []
    assert [s.name for s in spec.strategies] == ["fixed_spread", "avellaneda_stoikov", "glft", *alpha]
    for s in spec.strategies:
        assert resolve_path(s.strategy_path) is not None
        cfg = resolve_config_path(s.config_path).parse(__import__("json").dumps(dict(s.config)))
        assert str(cfg.instrument_id) == spec.instrument_id
        assert cfg.book_type == spec.venue.book_type
    # the realistic 1.231 setting where the data has depth (both captures have depth streams)
    venue = spec.venue
    assert (venue.book_type, venue.trade_execution, venue.queue_position, venue.liquidity_consumption) == (
        "L2_MBP", True, True, True,
    )


@pytest.mark.slow
def test_usdm_baselines_on_real_capture(tmp_path):
    """binance_ws/usdm/btcusdt_20240808.gz (6 min, L2 + queue): all three baselines trade."""
    from catalog.ingest import ingest_files
    from catalog.settings import data_file

    from backtests.runner import run_backtest

    catalog = tmp_path / "catalog"
    ingest_files("binance-ws", [data_file("binance_ws/usdm/btcusdt_20240808.gz")], catalog)
    spec = load_run_config(CONFIGS[[p.name for p in CONFIGS].index("usdm_btcusdt_baselines.toml")])
    spec = spec.with_overrides(catalog=catalog, out_dir=tmp_path / "runs")
    res = run_backtest(spec, progress=False, tearsheets=True)
    from catalog.window import load_window

    window = load_window(catalog, spec.instrument_id, None, None, spec.venue.book_type)
    for s in res.strategies:
        assert s.events == len(window.data)  # delta batches + trades + quotes of the capture
        assert s.metrics["fills"] > 0, s.name
        assert s.metrics["samples"] > 300
        assert s.metrics["inventory_max_abs"] <= 0.010 + 1e-9
        assert (s.directory / "tearsheet.html").stat().st_size > 100_000


SHIPPED_RUNS = sorted((Path(__file__).resolve().parents[2] / "backtests" / "configs").rglob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED_RUNS, ids=lambda p: p.name)
def test_every_shipped_run_file_round_trips_through_the_resolved_toml(path, tmp_path):
    """What ``amm backtest`` writes (config.resolved.toml) loads back to the same run."""
    from backtests.config import load_run_config, to_toml

    spec = load_run_config(path)
    written = tmp_path / "config.resolved.toml"
    written.write_text(to_toml(spec))
    again = load_run_config(written)
    assert (again.venue, again.strategies, again.start, again.end) == (spec.venue, spec.strategies, spec.start, spec.end)


def test_a_nested_none_is_left_out_never_written_as_text():
    """TOML has no null: None inside a table falls back to the default; inside a list it is refused."""
    import tomllib

    from backtests.config import _toml_value

    text = _toml_value({"a": 1, "b": None, "c": {"d": None, "e": "x"}})
    assert "None" not in text and tomllib.loads(f"v = {text}")["v"] == {"a": 1, "c": {"e": "x"}}
    with pytest.raises(ValueError, match="TOML has no null"):
        _toml_value([1, None])
