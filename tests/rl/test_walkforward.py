"""Walk-forward hygiene on the real USD-M capture: the test window never reaches training.

* the shipped run configs (``rl/configs/usdm_btcusdt_*.yml``) split the capture into ordered,
  disjoint train / validation / test windows of about 60 / 15 / 25 %;
* training (train env, EvalCallback env, final validation) only ever loads data before the test
  window: every ``load_window`` call of the env is recorded, bounds and returned timestamps;
* ``amm evaluate`` refuses windows that overlap the training or validation window.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.window import data_span
from rl.train import RunConfig, load_run_config
from tests.helpers import amm

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "rl" / "configs").glob("usdm_btcusdt_*.yml"))
INSTRUMENT = "BTCUSDT-PERP.BINANCE"


def test_configs_are_shipped() -> None:
    assert {p.stem for p in CONFIGS} >= {"usdm_btcusdt_ppo", "usdm_btcusdt_dqn"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_windows_are_ordered_disjoint_and_cover_the_capture(path: Path, usdm_catalog: Path) -> None:
    cfg = load_run_config(path, catalog=usdm_catalog)
    w = {k: v.ns() for k, v in cfg.windows().items()}
    (ts, te), (vs, ve), (xs, xe) = w["train"], w["validation"], w["test"]
    assert ts < te < vs <= ve < xs <= xe  # ordered in time, disjoint
    first, last = data_span(usdm_catalog, INSTRUMENT)
    assert ts <= first and xe >= last  # together they use the whole capture
    span = last - first
    fractions = [(te - first) / span, (ve - vs) / span, (last - xs) / span]
    assert fractions == pytest.approx([0.60, 0.15, 0.25], abs=0.02)
    # one validation episode (warm-up + horizon) fits the validation window
    agent = cfg.env_config().agent
    episode_ns = (agent.warmup_ms + agent.horizon_steps * agent.decision_interval_ms) * 1_000_000
    assert episode_ns <= ve - vs
    venue = cfg.env_config().venue
    assert venue.fee_model == "fixed_rates" and float(venue.maker_fee) < 0  # the labelled rebate tier


def test_run_config_refuses_validation_overlapping_test(usdm_catalog: Path) -> None:
    cfg = load_run_config(CONFIGS[0], catalog=usdm_catalog)
    data = cfg.to_dict()
    data["validation"] = {"start": cfg.validation.start, "end": cfg.test.start}
    with pytest.raises(ValueError, match="overlap"):
        RunConfig.from_dict(data)


def test_training_and_model_selection_never_load_the_test_window(usdm_catalog: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import rl.env
    from rl.train import train

    calls: list[tuple[int | None, int | None, int, int]] = []
    real = rl.env.load_window

    def recording(catalog_path, instrument_id, start, end, book_type):
        window = real(catalog_path, instrument_id, start, end, book_type)
        calls.append((start, end, window.data[0].ts_init, window.data[-1].ts_init))
        return window

    monkeypatch.setattr(rl.env, "load_window", recording)
    path = next(p for p in CONFIGS if p.stem.endswith("ppo"))
    cfg = load_run_config(path, catalog=usdm_catalog, overrides={
        "total_timesteps": 64, "eval_freq_steps": 32, "eval_episodes": 1, "checkpoint_freq_steps": 64,
        "hyperparams_overrides": {"kwargs": {"n_steps": 32, "batch_size": 32, "n_epochs": 1}},
    })
    result = train(cfg, out_dir=tmp_path, progress_bar=False)
    assert (result.run_dir / "eval" / "evaluations.npz").exists()  # the EvalCallback ran
    test_start, _ = cfg.test.ns()
    (train_start, train_end), (val_start, val_end) = cfg.windows()["train"].ns(), cfg.validation.ns()
    assert len(calls) >= 2
    loaded = {(s, e) for s, e, _, _ in calls}
    assert (train_start, train_end) in loaded and (val_start, val_end) in loaded
    for start, end, first_ts, last_ts in calls:
        assert end is not None and end < test_start
        assert last_ts < test_start, "training loaded an event of the test window"


def _fake_run(usdm_catalog: Path, tmp_path: Path) -> Path:
    """A run directory with a verifiable (dummy) model: enough for the window checks."""
    from rl.manifest import write_manifest

    cfg = load_run_config(CONFIGS[0], catalog=usdm_catalog)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    (run / "model.zip").write_bytes(b"not a model; the window check comes first")
    write_manifest(run / "model.zip", algorithm=cfg.algorithm, seed=cfg.seed, config=cfg.to_dict(),
                   windows={}, metrics={}, config_path=run / "config.yml")
    return run


@pytest.mark.parametrize(
    ("start", "end", "which"),
    [
        ("2024-08-08T23:55:00Z", "2024-08-08T23:56:00Z", "train"),  # inside training
        ("2024-08-08T23:58:00Z", "2024-08-08T23:59:30Z", "validation"),  # straddles validation/test
        ("2024-08-08T23:57:00Z", None, "train"),  # open end, starts in training
        (None, "2024-08-08T23:59:59Z", "train"),  # open start: reads from the first event
    ],
)
def test_amm_evaluate_refuses_overlapping_windows(usdm_catalog: Path, tmp_path: Path, capsys, start, end, which) -> None:
    run = _fake_run(usdm_catalog, tmp_path)
    args = ["evaluate", "--model", str(run)]
    if start:
        args += ["--start", start]
    if end:
        args += ["--end", end]
    code, _, err = amm(capsys, *args)
    assert code == 1
    assert f"overlaps the run's {which} window" in err


def test_amm_evaluate_venue_flag_reaches_the_request(monkeypatch, tmp_path: Path, capsys) -> None:
    import rl.evaluate

    seen = []
    monkeypatch.setattr(rl.evaluate, "evaluate", lambda request: seen.append(request) or {"runs": []})
    monkeypatch.setattr(rl.evaluate, "render_table", lambda report: None)
    args = ["evaluate", "--model", str(tmp_path), "--venue", "fee_model=fixed_rates",
            "--venue", "maker_fee=-0.00005", "--venue", "taker_fee=0.00025"]
    code, _, err = amm(capsys, *args)
    assert code == 0, err
    assert seen[0].venue_overrides == {"fee_model": "fixed_rates", "maker_fee": "-0.00005",
                                       "taker_fee": "0.00025"}

    code, _, err = amm(capsys, "evaluate", "--model", str(tmp_path), "--venue", "fees=0")
    assert code == 1
    assert err.startswith("error: --venue: unknown venue field 'fees'")
    assert len(seen) == 1
