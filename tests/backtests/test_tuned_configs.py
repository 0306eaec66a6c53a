"""The tuned baselines (issue 13, for issue 14) are what their sweeps tuned, on the held-out window.

``backtests/configs/tuned/*.toml`` are ordinary ``amm backtest`` run files holding the three
baselines with the parameters their sweeps (``backtests/sweeps/tuned/``) found on the TRAINING
window; each runs on the VALIDATION window, and the test window stays unseen for issue 14. The
sweep outputs (``runs/``) are not shipped, so these checks are structural and run no backtest:

- every sweep file loads (:func:`backtests.sweep.load_sweep`) and scores its trials on the
  training window, which overlaps neither the validation nor the test window;
- every tuned config loads (:func:`backtests.config.load_run_config`), its window is the
  validation window and does not overlap the sweep's test window, and its header names the sweep
  of each strategy;
- each tuned strategy config differs from the sweep's base run file only in the sweep's ``[space]``
  fields, and the venue, data and instrument are the base's (the tuned run is the base run with
  tuned parameters, nothing else).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backtests.config import load_run_config
from backtests.sweep import load_sweep
from catalog.window import TimeWindow

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = ("fixed_spread", "avellaneda_stoikov", "glft")

LOBSTER_VALIDATION = TimeWindow(start="2012-06-21T16:30:00Z", end="2012-06-21T17:59:59.999Z")
USDM_VALIDATION = TimeWindow(start="2024-08-08T23:57:42.000Z", end="2024-08-08T23:58:33.999Z")
BITSTAMP_VALIDATION = TimeWindow(start="2015-05-01T03:00:00Z", end="2015-05-01T03:59:59.999Z")

TUNED = {
    # tuned config -> (validation window, sweep file prefix)
    "lobster_goog_tuned.toml": (LOBSTER_VALIDATION, "goog"),
    "lobster_amzn_tuned.toml": (LOBSTER_VALIDATION, "amzn"),
    "usdm_btcusdt_tuned.toml": (USDM_VALIDATION, "usdm"),
    "bitstamp_btcusd_tuned.toml": (BITSTAMP_VALIDATION, "bitstamp"),
}
# The LOBSTER and Bitstamp configs also hold the alpha-skewed GLFT (issue 14), tuned on top of the
# tuned GLFT.
STRATEGIES_OF = {config: STRATEGIES + (("glft_alpha",) if not config.startswith("usdm") else ()) for config in TUNED}
CASES = [(config, strategy) for config in TUNED for strategy in STRATEGIES_OF[config]]


def _tuned_path(config: str) -> Path:
    return ROOT / "backtests" / "configs" / "tuned" / config


def _sweep_path(config: str, strategy: str) -> Path:
    return ROOT / "backtests" / "sweeps" / "tuned" / f"{TUNED[config][1]}_{strategy}.toml"


@pytest.fixture(scope="module")
def sweeps():
    """Every sweep file, loaded once (each load reads and checks its base run file)."""
    return {(c, s): load_sweep(_sweep_path(c, s)) for c, s in CASES}


def test_every_sweep_file_is_a_tuned_baseline():
    shipped = {p.name for p in (ROOT / "backtests" / "sweeps" / "tuned").glob("*.toml")}
    assert shipped == {_sweep_path(c, s).name for c, s in CASES}
    assert {p.name for p in (ROOT / "backtests" / "configs" / "tuned").glob("*.toml")} == set(TUNED)


@pytest.mark.parametrize(("config", "strategy"), CASES, ids=lambda v: v.removesuffix(".toml"))
def test_sweep_trains_apart_from_validation_and_test(sweeps, config, strategy):
    sweep = sweeps[config, strategy]
    validation = TUNED[config][0]
    t = sweep.table
    assert t.strategy == strategy
    assert t.metric in ("sharpe", "sharpe_per_hour") and t.mode == "max"
    assert t.test is not None
    assert not t.window.overlaps(validation), "the training window must not see the validation window"
    assert not t.window.overlaps(t.test)
    assert not validation.overlaps(t.test)
    (_, train_end), (val_start, _), (test_start, _) = t.window.ns(), validation.ns(), t.test.ns()
    assert train_end < val_start < test_start  # walk forward: train, then validation, then test
    assert t.constraints["fills"].min > 0  # "never trade" is excluded, not only unscored


@pytest.mark.parametrize(("config", "strategy"), CASES, ids=lambda v: v.removesuffix(".toml"))
def test_tuned_config_is_base_plus_tuned_space(sweeps, config, strategy):
    sweep = sweeps[config, strategy]
    tuned = load_run_config(_tuned_path(config))
    base = sweep.base
    assert (tuned.catalog, tuned.instrument_id, tuned.venue) == (base.catalog, base.instrument_id, base.venue)
    assert [s.name for s in tuned.strategies] == [s.name for s in base.strategies] == list(STRATEGIES_OF[config])
    ours = next(s for s in tuned.strategies if s.name == strategy)
    theirs = next(s for s in base.strategies if s.name == strategy)
    assert (ours.strategy_path, ours.config_path) == (theirs.strategy_path, theirs.config_path)
    changed = {k for k in ours.config.keys() | theirs.config.keys() if ours.config.get(k) != theirs.config.get(k)}
    assert changed <= set(sweep.file.space), f"{strategy}: fields outside the sweep's space differ: {changed - set(sweep.file.space)}"
    kept_start = f"{strategy}: backtests/sweeps/tuned/" in _tuned_path(config).read_text() and "so the alpha terms stay 0" in _tuned_path(config).read_text()
    # a second-stage sweep whose trials all lost to its starting point keeps the start, and says so
    assert changed or (strategy == "glft_alpha" and kept_start), f"{strategy}: no tuned parameter differs from the base file"


@pytest.mark.parametrize("config", list(TUNED))
def test_tuned_config_runs_on_the_validation_window(sweeps, config):
    tuned = load_run_config(_tuned_path(config))
    window = TimeWindow(start=tuned.start, end=tuned.end)
    validation = TUNED[config][0]
    assert window.ns() == validation.ns()
    for strategy in STRATEGIES_OF[config]:
        assert not window.overlaps(sweeps[config, strategy].table.test), "the test window is issue 14's"
    header = [line for line in _tuned_path(config).read_text().splitlines() if line.startswith("#")]
    for strategy in STRATEGIES_OF[config]:
        name = str(_sweep_path(config, strategy).relative_to(ROOT))
        assert any(name in line for line in header), f"the header does not name {name}"


@pytest.mark.parametrize("config", [c for c in TUNED if "glft_alpha" in STRATEGIES_OF[c]])
def test_alpha_glft_is_tuned_on_top_of_the_tuned_glft(sweeps, config):
    """Two stages: the alpha GLFT's GLFT parameters are the tuned GLFT's, in the base run file its
    sweep starts from and in the tuned config; only the alpha terms are its own sweep's."""
    tuned = {s.name: s.config for s in load_run_config(_tuned_path(config)).strategies}
    base = {s.name: s.config for s in sweeps[config, "glft_alpha"].base.strategies}
    for field in tuned["glft"]:  # every GLFT setting, the tuned ones and the run's sizes and session
        assert base["glft_alpha"].get(field) == tuned["glft_alpha"].get(field) == tuned["glft"][field], field
    assert {"gamma", "xi", "min_spread_ticks"} <= set(tuned["glft"])
    assert set(sweeps[config, "glft_alpha"].file.space) == {"alpha_imbalance_ticks", "alpha_flow_ticks", "alpha_halflife_s"}
