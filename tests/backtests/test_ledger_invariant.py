"""Every backtest checks the strategy's one ledger against the venue account (``backtests.runner``).

The ledger is what the kill switch, the agent's reward and observation and the live report read;
the account is what the simulated exchange booked. The runner compares them at the end of every
strategy's run and fails the run on a gap; the reported PnL (the equity curve) agrees too. Run on
the recorded USD-M capture (binance_ws/usdm/btcusdt_20240808.gz), L1 and L2, for the three
baselines and a policy.
"""

from __future__ import annotations

import pytest

from backtests.config import RunSpec, StrategySpec
from backtests.runner import run_backtest
from backtests.venue import VenueModelConfig
from rl.evaluate import baseline_specs
from strategies.agent import AgentConfig
from strategies.ledger import FillLedger

WINDOW = ("2024-08-08T23:56:00Z", "2024-08-08T23:57:30Z")


def _spec(catalog, tmp_path, book_type: str) -> RunSpec:
    agent = AgentConfig(book_type=book_type, warmup_ms=2_000, order_qty=0.002, max_inventory=0.01)
    policy = StrategySpec(
        "agent", "strategies.policy:PolicyMarketMaker", "strategies.policy:PolicyMarketMakerConfig",
        {"agent": agent.to_dict(), "policy_loader": "tests.rl.conftest:replay_loader",
         "policy_kwargs": {"actions": [0, 7, 14, 35] * 300}},
    )
    return RunSpec(
        name=f"ledger-{book_type}", catalog=catalog, instrument_id=agent.instrument_id,
        venue=VenueModelConfig(book_type=book_type, seed=5), strategies=(policy, *baseline_specs(agent)),
        start=WINDOW[0], end=WINDOW[1], equity_interval_ms=1000, out_dir=tmp_path,
    )


@pytest.mark.parametrize("book_type", ["L1_MBP", "L2_MBP"])
def test_ledger_equals_the_account_and_the_report(usdm_catalog, tmp_path, book_type) -> None:
    result = run_backtest(_spec(usdm_catalog, tmp_path, book_type), progress=False,
                          run_dir=tmp_path / "run", tearsheets=False)
    assert {s.name for s in result.strategies} == {"agent", "fixed_spread", "avellaneda_stoikov", "glft"}
    traded = 0
    for run in result.strategies:
        m = run.metrics
        assert m["ledger_pnl"] == pytest.approx(m["account_pnl"], abs=1e-6), run.name
        assert m["total_pnl"] == pytest.approx(m["ledger_pnl"], abs=1e-6), run.name
        traded += m["fills"] > 0
    assert traded >= 3, "most strategies should trade in 90 s"


def test_a_ledger_that_drops_fees_fails_the_run(usdm_catalog, tmp_path, monkeypatch) -> None:
    original = FillLedger.apply

    def without_fees(self, *, is_buy, qty, price, fee=0.0):
        original(self, is_buy=is_buy, qty=qty, price=price, fee=0.0)

    monkeypatch.setattr(FillLedger, "apply", without_fees)
    spec = _spec(usdm_catalog, tmp_path, "L1_MBP")
    with pytest.raises(RuntimeError, match="ledger PnL .* differs from the account's"):
        run_backtest(spec, progress=False, run_dir=tmp_path / "bad", tearsheets=False)
