"""Training and agent configs: an unknown key, a wrong type or an out-of-range value fails with one
line naming the file and the field path, in a training run file and in a backtest file that runs
a policy (the agent's settings nested in the strategy config)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from backtests.config import load_run_config as load_backtest_config
from catalog.settings import REPO_ROOT
from rl.train import load_run_config
from tests.helpers import assert_config_error

RUN_FILE = REPO_ROOT / "rl" / "configs" / "usdm_btcusdt_ppo.yml"


def _mutated(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(RUN_FILE.read_text())
    edit(raw)
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("edit,field,message", [
    (lambda r: r["env"]["agent"].update(max_loos=1.0), "env.agent.max_loos", "unknown field"),
    (lambda r: r["env"]["reward"].update(eta="half"), "env.reward.eta", "Expected `float`, got `str`"),
    (lambda r: r["env"]["reward"].update(eta=1.5), "env.reward.eta", "Expected `float` <= 1.0"),
    (lambda r: r["env"]["agent"].update(decision_interval_ms=10), "env.agent.decision_interval_ms",
     "Expected `int` >= 100"),
    (lambda r: r["env"]["agent"]["action"].update(kind="both"), "env.agent.action.kind",
     "expected one of: continuous, discrete"),
    (lambda r: r["env"]["venue"].update(latency_base_ns=-1), "env.venue.latency_base_ns", "Expected `int` >= 0"),
    (lambda r: r.update(total_timesteps=0), "total_timesteps", "Expected `int` >= 1"),
    (lambda r: r.update(n_envs="two"), "n_envs", "Expected `int`, got `str`"),
    (lambda r: r.update(evaluation_freq=5), "evaluation_freq", "unknown field"),
    (lambda r: r["validation"].update(start=r["env"]["window_start"]), "validation",
     "the train and validation windows overlap"),
    # issue 17 item 14: SB3's TypeError came as a 40-line traceback after the run directory existed
    (lambda r: r.setdefault("hyperparams_overrides", {}).setdefault("kwargs", {}).update(learning_rat=1e-4),
     "hyperparams.kwargs.learning_rat", "not a parameter of PPO; expected one of: batch_size, clip_range"),
    (lambda r: r.setdefault("hyperparams_overrides", {}).setdefault("kwargs", {}).update(seed=3),
     "hyperparams.kwargs.seed", "is set by amm train"),
])
def test_a_bad_training_file_fails_with_one_line_naming_file_and_field(tmp_path, edit, field, message) -> None:
    path = _mutated(tmp_path, edit)
    assert_config_error(lambda p: load_run_config(p, catalog=tmp_path), path, field, message)


def test_the_shipped_training_files_load() -> None:
    for path in sorted((REPO_ROOT / "rl" / "configs").glob("*.yml")):
        cfg = load_run_config(path, catalog="catalogs/demo")
        assert cfg.env.reward.dampening in ("asymmetric", "symmetric")  # every shipped recipe damps q dS


def test_a_run_file_on_a_base_changes_only_what_it_names(tmp_path) -> None:
    """``base:``: the variant's keys over the base's; ``hyperparams_overrides`` replaced, not
    merged (PPO's n_steps must not reach DQN); a cycle or a missing base is one line."""
    base = load_run_config(REPO_ROOT / "rl" / "configs" / "lobster_goog_ppo.yml", catalog=tmp_path)
    amzn = load_run_config(REPO_ROOT / "rl" / "configs" / "lobster_amzn_ppo.yml", catalog=tmp_path)
    assert amzn.env.agent.instrument_id == "AMZN.XNAS" and amzn.exp == "lobster_amzn_ppo"
    assert amzn.env.agent.to_dict() == {**base.env.agent.to_dict(), "instrument_id": "AMZN.XNAS"}
    assert (amzn.env.reward, amzn.env.venue, amzn.hyperparams) == (base.env.reward, base.env.venue, base.hyperparams)
    assert amzn.windows() == base.windows()
    # the first recipe: the current one without the skew, with the running penalty (nested keys merge)
    first = load_run_config(REPO_ROOT / "rl" / "configs" / "lobster_goog_ppo_first.yml", catalog=tmp_path)
    plain = msgspec.to_builtins
    assert plain(first.env.agent.action) == {**plain(base.env.agent.action), "inventory_skew_ticks_per_lot": 0.0}
    assert plain(first.env.agent) == {**plain(base.env.agent), "action": plain(first.env.agent.action)}
    assert plain(first.env.reward) == {**plain(base.env.reward), "running_inventory_penalty": 5.0}
    assert base.env.agent.action.inventory_skew_ticks_per_lot > 0
    dqn = load_run_config(REPO_ROOT / "rl" / "configs" / "lobster_goog_dqn.yml", catalog=tmp_path)
    assert dqn.algorithm == "dqn" and "n_steps" not in dqn.hyperparams["kwargs"]
    assert dqn.hyperparams["kwargs"]["target_update_interval"] == 1800
    assert dqn.env.agent == first.env.agent and dqn.env.reward == first.env.reward
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    a.write_text("base: b.yml\n")
    b.write_text("base: a.yml\n")
    with pytest.raises(ValueError, match="'base' makes a cycle"):
        load_run_config(a, catalog=tmp_path)
    b.write_text("base: missing.yml\n")
    with pytest.raises(ValueError, match=r"field 'base': .*missing.yml not found"):
        load_run_config(b, catalog=tmp_path)


POLICY_RUN = """
[run]
name = "policy"
catalog = "catalogs/demo"
instrument_id = "BTCUSDT-PERP.BINANCE"

[venue]

[[strategies]]
name = "agent"
strategy_path = "strategies.policy:PolicyMarketMaker"
config_path = "strategies.policy:PolicyMarketMakerConfig"
[strategies.config]
model_path = "runs/x/model.zip"
{extra}
[strategies.config.agent]
order_qty = 0.002
max_inventory = 0.01
{agent}
"""


@pytest.mark.parametrize("extra,agent,field,message", [
    ("", "horizon_stepz = 10", "strategies[0].config.agent.horizon_stepz", "unknown field"),
    ("", "horizon_steps = 0", "strategies[0].config.agent.horizon_steps", "Expected `int` >= 1"),
    ("", 'episode_clock = "sometimes"', "strategies[0].config.agent.episode_clock",
     "expected one of: cyclic, off"),
    ("max_loos = 5.0", "", "strategies[0].config.max_loos", "unknown field"),
    ('max_loss = "a lot"', "", "strategies[0].config.max_loss", "got `str`"),
    ('order_qty = "0.5"', "", "strategies[0].config.order_qty", "the policy must run as it was trained"),
])
def test_a_bad_policy_strategy_config_fails_with_one_line(tmp_path, extra, agent, field, message) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_RUN.format(extra=extra, agent=agent))
    assert_config_error(load_backtest_config, path, field, message)


def test_a_policy_strategy_config_with_risk_controls_loads(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_RUN.format(extra="max_loss = 5.0\nmax_drawdown = 2.0", agent="horizon_steps = 300"))
    spec = load_backtest_config(path)
    assert spec.strategies[0].config["max_loss"] == 5.0
    assert spec.strategies[0].config["agent"]["horizon_steps"] == 300


@pytest.mark.parametrize("name", ["lobster_goog_ppo", "lobster_amzn_ppo", "lobster_pooled_ppo", "lobster_goog_ppo_first", "lobster_goog_dqn",
                                  "lobster_goog_sac"])
def test_lobster_recipes_train_mornings_validate_midday_test_afternoons(name, tmp_path) -> None:
    """Issue 14's split, in time order and disjoint, and a validation episode fits its window."""
    cfg = load_run_config(REPO_ROOT / "rl" / "configs" / f"{name}.yml", catalog=tmp_path)
    w = {k: v.ns() for k, v in cfg.windows().items()}
    (ts, te), (vs, ve), (xs, xe) = w["train"], w["validation"], w["test"]
    assert ts < te < vs <= ve < xs <= xe
    agent = cfg.env_config().agent
    assert (agent.decision_interval_ms, agent.horizon_steps) == (1000, 1800)  # 1 s, 30-minute episodes
    assert (agent.warmup_ms + agent.horizon_steps * agent.decision_interval_ms) * 1_000_000 <= ve - vs
    venue = cfg.env_config().venue
    assert venue.queue_position and venue.fee_model == "per_share"  # the baselines' venue


def test_the_shipped_training_sweeps_load_and_score_on_validation_only() -> None:
    """Every recipe-search stage of docs/results.md §12 loads as shipped (its run file, space and
    constraints), and is scored inside its run's validation window, on instruments of its venue."""
    from rl.sweep import load_training_sweep

    paths = sorted((REPO_ROOT / "rl" / "sweeps").glob("*.toml"))
    assert {p.stem for p in paths} >= {"lobster_goog_skew_target", "lobster_budget", "lobster_pooled"}
    for path in paths:
        sweep = load_training_sweep(path)
        assert sweep.window == sweep.base.validation
        venue = sweep.base.env.venue.venue
        assert all(iid.endswith(f".{venue}") for iid in sweep.table.instruments)
