"""A recurrent policy (SB3-contrib's ``RecurrentPPO``) runs unchanged as a strategy: the deployed
wrapper (:class:`strategies.policy.RecurrentPolicy`) carries the LSTM state from one decision to
the next exactly as an evaluation loop threads it through ``predict``.

A tiny model is trained on the synthetic market; its deterministic actions over one validation
episode, with the state threaded by hand, must be what the backtest of the deployed strategy
sends (the same actions, recorded inside the engine, and the same orders), and must differ from the actions of the same model with its state
dropped at every step, so a wrapper that forgot the state could not pass.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml

from backtests.config import RunSpec
from backtests.runner import run_backtest
from rl.env import MarketMakingEnv
from tests.rl import conftest as rl_helpers
from rl.evaluate import load_trained_policy
from rl.synth import ASModelConfig, synth_run_config, write_as_model
from rl.train import load_run_config, train
from strategies.model_store import load_verified_policy
from strategies.policy import NormalizedPolicy, RecurrentPolicy

HORIZON = 60
ORDER_COLS = ["side", "type", "quantity", "price", "ts_init"]


@pytest.fixture(scope="module")
def recurrent_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("recurrent")
    model = ASModelConfig(duration_s=900, seed=1)
    write_as_model(model, root / "cat")
    rc = synth_run_config(model, root / "cat", algorithm="recurrent_ppo", exp="tiny-recurrent",
                          total_timesteps=256, horizon_steps=HORIZON)
    rc.update(eval_freq_steps=128, eval_episodes=1, checkpoint_freq_steps=256, hyperparams_overrides={
        "kwargs": {"n_steps": 64, "batch_size": 32, "n_epochs": 2,
                   "policy_kwargs": {"net_arch": [16], "lstm_hidden_size": 16}}})
    (root / "run.yml").write_text(yaml.safe_dump(rc))
    cfg = load_run_config(root / "run.yml")
    return cfg, train(cfg, out_dir=root / "runs", progress_bar=False).run_dir


def test_a_recurrent_model_deploys_wrapped_so_it_keeps_its_state(recurrent_run) -> None:
    _, run_dir = recurrent_run
    policy = load_verified_policy(str(run_dir / "model.zip"))
    assert isinstance(policy, NormalizedPolicy) and isinstance(policy.model, RecurrentPolicy)
    obs = np.zeros(policy.model.model.observation_space.shape, dtype=np.float32)
    _, first = policy.predict(obs, deterministic=True)
    _, second = policy.predict(obs, deterministic=True)
    assert not np.allclose(first[0], 0) and not np.allclose(first[0], second[0])  # the state moved on
    policy.model.reset()
    _, again = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(again[0], first[0])  # a reset starts the episode over


def test_the_backtest_sends_what_the_threaded_evaluation_decides(recurrent_run, tmp_path) -> None:
    cfg, run_dir = recurrent_run
    env = MarketMakingEnv(cfg.env_config(cfg.validation, random_start=False, seed_policy="venue"))
    deployed = load_verified_policy(str(run_dir / "model.zip"))
    model, stats = deployed.model.model, deployed.vec_normalize
    try:
        obs, info = env.reset(seed=0)
        first_ns = info["ts_ns"]
        state, start = None, np.ones((1,), dtype=bool)
        threaded, stateless = [], []
        for _ in range(HORIZON):
            x = stats.normalize_obs(obs)
            action, state = model.predict(x, state=state, episode_start=start, deterministic=True)
            start = np.zeros((1,), dtype=bool)
            alone, _ = model.predict(x, state=None, episode_start=np.ones((1,), bool), deterministic=True)
            stateless.append(tuple(np.asarray(alone, dtype=float).ravel().round(4)))
            threaded.append(tuple(np.asarray(action, dtype=float).ravel().round(4)))
            obs, _, term, trunc, info = env.step(action)
            if term or trunc:
                break
        env_orders = env.engine.trader.generate_orders_report()
        last_ns = info["ts_ns"]
        run_start = env._run_start(first_ns)
    finally:
        env.close()
    assert threaded != stateless, "this episode should not be decided without the state"

    trained = load_trained_policy(run_dir)
    strategy = trained.strategy(config={"max_decisions": len(threaded)})
    strategy = replace(strategy, config={**strategy.config, "policy_loader": "tests.rl.conftest:recording_loader"})
    spec = RunSpec(
        name="recurrent", catalog=trained.catalog, instrument_id=trained.agent.instrument_id, venue=trained.venue,
        strategies=(strategy,), start=run_start, end=last_ns,
        equity_interval_ms=trained.agent.decision_interval_ms, out_dir=tmp_path,
    )
    run = run_backtest(spec, progress=False, run_dir=tmp_path / "run", tearsheets=False).strategies[0]
    deployed_actions = [tuple(np.asarray(a, dtype=float).ravel().round(4)) for a in rl_helpers.RECORDED[-1].actions]
    assert deployed_actions == threaded
    bt = pd.read_csv(run.directory / "orders.csv", dtype=str)[ORDER_COLS].sort_values(["ts_init", "side"])
    env_orders.to_csv(tmp_path / "env_orders.csv")
    ours = pd.read_csv(tmp_path / "env_orders.csv", dtype=str)[ORDER_COLS].sort_values(["ts_init", "side"])
    assert len(ours) > 2
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), bt.reset_index(drop=True))
