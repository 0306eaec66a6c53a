"""Training and agent configs: an unknown key, a wrong type or an out-of-range value fails with one
line naming the file and the field path, in a training run file and in a backtest file that runs
a policy (the agent's settings nested in the strategy config)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from backtests.config import load_run_config as load_backtest_config
from catalog.settings import REPO_ROOT
from rl.train import load_run_config

RUN_FILE = REPO_ROOT / "rl" / "configs" / "usdm_btcusdt_ppo.yml"


def _mutated(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(RUN_FILE.read_text())
    edit(raw)
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("edit,field", [
    (lambda r: r["env"]["agent"].update(max_loos=1.0), "env.agent.max_loos"),
    (lambda r: r["env"]["reward"].update(eta="half"), "env.reward.eta"),
    (lambda r: r["env"]["reward"].update(eta=1.5), "env.reward.eta"),
    (lambda r: r["env"]["agent"].update(decision_interval_ms=10), "env.agent.decision_interval_ms"),
    (lambda r: r["env"]["agent"]["action"].update(kind="both"), "env.agent.action.kind"),
    (lambda r: r["env"]["venue"].update(latency_ms=-1), "env.venue"),
    (lambda r: r.update(total_timesteps=0), "total_timesteps"),
    (lambda r: r.update(n_envs="two"), "n_envs"),
    (lambda r: r.update(evaluation_freq=5), "evaluation_freq"),
    (lambda r: r["validation"].update(start=r["env"]["window_start"]), "validation"),
])
def test_a_bad_training_file_fails_with_one_line_naming_file_and_field(tmp_path, edit, field) -> None:
    path = _mutated(tmp_path, edit)
    with pytest.raises(ValueError) as e:
        load_run_config(path, catalog=tmp_path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}"), message


def test_the_shipped_training_files_load() -> None:
    for path in sorted((REPO_ROOT / "rl" / "configs").glob("*.yml")):
        cfg = load_run_config(path, catalog="catalogs/demo")
        assert cfg.env.reward.dampening == "asymmetric"


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


@pytest.mark.parametrize("extra,agent,field", [
    ("", "horizon_stepz = 10", "strategies[0].config.agent.horizon_stepz"),
    ("", "horizon_steps = 0", "strategies[0].config.agent.horizon_steps"),
    ("", 'episode_clock = "sometimes"', "strategies[0].config.agent.episode_clock"),
    ("max_loos = 5.0", "", "strategies[0].config.max_loos"),
    ('max_loss = "a lot"', "", "strategies[0].config.max_loss"),
    ('order_qty = "0.5"', "", "strategies[0].config.order_qty"),  # the policy runs as trained
])
def test_a_bad_policy_strategy_config_fails_with_one_line(tmp_path, extra, agent, field) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_RUN.format(extra=extra, agent=agent))
    with pytest.raises(ValueError) as e:
        load_backtest_config(path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}"), message


def test_a_policy_strategy_config_with_risk_controls_loads(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY_RUN.format(extra="max_loss = 5.0\nmax_drawdown = 2.0", agent="horizon_steps = 300"))
    spec = load_backtest_config(path)
    assert spec.strategies[0].config["max_loss"] == 5.0
    assert copy.deepcopy(spec.strategies[0].config["agent"])["horizon_steps"] == 300
