"""The one ledger (``strategies.ledger.FillLedger``): cash flow and average cost agree, fees convert."""

from __future__ import annotations

import pytest

from catalog.instruments import build_instrument, get_spec
from strategies.ledger import FillLedger


def test_average_cost_flip_fees_and_rebates() -> None:
    ledger = FillLedger(build_instrument(get_spec("BTCUSDT-PERP.BINANCE")))
    ledger.apply(is_buy=True, qty=2, price=100, fee=0.1)
    ledger.apply(is_buy=True, qty=2, price=102, fee=0.1)
    assert ledger.position == 4 and ledger.avg_px == pytest.approx(101)
    ledger.apply(is_buy=False, qty=5, price=103, fee=-0.05)  # closes 4 (+8), opens -1 @103; rebate
    assert ledger.realised == pytest.approx(8) and ledger.position == pytest.approx(-1)
    assert ledger.avg_px == 103
    assert ledger.unrealised(104) == pytest.approx(-1)
    assert ledger.equity(104) == pytest.approx(8 - 1 - 0.15)
    # the two accountings agree at any mark
    for mark in (90.0, 103.0, 120.5):
        assert ledger.realised + ledger.unrealised(mark) - ledger.fees == pytest.approx(ledger.equity(mark))
    assert ledger.fill_count == 3 and ledger.traded_qty == 9


def test_inverse_contract_pnl_is_in_base_currency() -> None:
    instrument = build_instrument(get_spec("BTCUSD-PERP.BINANCE"))
    ledger = FillLedger(instrument)
    mult = float(instrument.multiplier)
    assert ledger.currency == instrument.get_base_currency() and ledger.is_inverse
    ledger.apply(is_buy=True, qty=10, price=50_000)
    expected = 10 * mult * (1 / 50_000 - 1 / 55_000)
    assert ledger.unrealised(55_000) == pytest.approx(expected)
    assert ledger.equity(55_000) == pytest.approx(expected)
    assert ledger.inventory_pnl(10, 50_000, 55_000) == pytest.approx(expected)
