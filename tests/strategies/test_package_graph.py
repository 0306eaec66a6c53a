"""The package graph points one way: ``strategies`` runs a trained policy without ``rl``.

Everything a live node needs to run an agent (observation, action mapping, agent settings, model
verification and loading, the runtime) lives in ``strategies``; ``rl`` is the training harness on
top. A subprocess makes ``rl`` unimportable, imports every ``strategies``, ``backtests`` and
``live`` module and backtests a ``PolicyMarketMaker`` on the recorded USD-M capture.
"""

from __future__ import annotations

from tests.helpers import run_with_imports_blocked

SCRIPT = """
    import sys
    names = import_all("strategies")
    import_all("backtests")  # and the layers beside rl: the backtests and the live node
    import_all("live")

    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from backtests.venue import VenueModelConfig
    from catalog.window import load_window
    from strategies.agent import AgentConfig
    from strategies.policy import PolicyMarketMaker, PolicyMarketMakerConfig

    class Alternate:
        def __init__(self):
            self.n = 0
        def predict(self, obs, deterministic=True):
            self.n += 1
            return self.n % 2, None

    catalog, = sys.argv[1:]
    agent = AgentConfig(warmup_ms=2_000, max_inventory=0.005)
    window = load_window(catalog, agent.instrument_id, "2024-08-08T23:56:00Z", "2024-08-08T23:57:00Z", "L1_MBP")
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    VenueModelConfig(seed=1).add_to_engine(engine, [window.instrument])
    window.add_to_engine(engine)
    policy = Alternate()
    strategy = PolicyMarketMaker(PolicyMarketMakerConfig(agent=agent, max_loss=1_000.0), policy=policy)
    engine.add_strategy(strategy)
    engine.run()
    assert policy.n > 100, policy.n
    assert strategy.ledger.fill_count > 0
    assert not any(m == "rl" or m.startswith("rl.") for m in sys.modules)
    print(len(names), policy.n, strategy.ledger.fill_count)
"""


def test_strategies_import_and_run_a_policy_without_rl(usdm_catalog) -> None:
    done = run_with_imports_blocked({"rl"}, SCRIPT, str(usdm_catalog))
    assert done.returncode == 0, done.stderr[-2000:]
    modules, decisions, fills = (int(x) for x in done.stdout.split()[-3:])
    assert modules >= 10 and decisions > 100 and fills > 0
