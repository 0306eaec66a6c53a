"""Raw NautilusTrader engine speed, no strategy: the floor under every figure of this project.

Why: the env, the backtests and training all run inside ``BacktestEngine.run``; when an upgrade
of NautilusTrader changes the engine's cost per event, every one of their figures moves with it.
This script imports nothing of the project, so the same file runs under any NautilusTrader
version (and its Python): run it in two venvs to compare versions on one machine, in one sitting.

Data: synthetic, deterministic. 80,000 quote ticks of BTCUSDT-PERP (Nautilus' test instrument)
5 ms apart, the bid walking over 50 ticks, and a seller-initiated trade at the bid every 4th quote
(100,000 events); an L1_MBP margin venue, default fill model, logging bypassed. Reported: the
best of ``--repeats`` runs of ``engine.run()``, in events per second.

    python benchmarks/engine_raw.py                      # the project's venv (NautilusTrader 1.231)
    /path/to/venv-1.221/bin/python benchmarks/engine_raw.py  # e.g. NautilusTrader 1.221 on 3.11
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from decimal import Decimal


def make_data(n_quotes: int) -> tuple[object, list]:
    from nautilus_trader.model.data import QuoteTick, TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    iid = instrument.id
    data: list = []
    for i in range(n_quotes):
        t = 1_700_000_000_000_000_000 + i * 5_000_000
        bid = 50_000.0 + (i % 50) * 0.1
        data.append(QuoteTick(iid, Price(bid, 1), Price(bid + 0.1, 1), Quantity(1.0, 3), Quantity(1.0, 3), t, t))
        if i % 4 == 0:
            data.append(TradeTick(iid, Price(bid, 1), Quantity(0.01, 3), AggressorSide.SELLER, TradeId(str(i)), t + 1, t + 1))
    return instrument, data


def run_once(instrument, data: list) -> float:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.backtest.models import FillModel
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False))
    try:
        engine.add_venue(
            venue=Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
            starting_balances=[Money(100_000, USDT)], base_currency=USDT, default_leverage=Decimal(5),
            fill_model=FillModel(), book_type=BookType.L1_MBP,
        )
        engine.add_instrument(instrument)
        engine.add_data(data, sort=True, validate=False)
        t0 = time.perf_counter()
        engine.run()
        return time.perf_counter() - t0
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=80_000, help="quote ticks (plus a trade every 4th)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import warnings

    import nautilus_trader

    warnings.filterwarnings("ignore", message=r"Timestamp\.utcnow is deprecated")
    instrument, data = make_data(args.quotes)
    seconds = min(run_once(instrument, data) for _ in range(args.repeats))
    rate = len(data) / seconds
    print(f"NautilusTrader {nautilus_trader.__version__} on Python {platform.python_version()}: "
          f"{len(data):,} events in {seconds:.3f} s = {rate:,.0f} events/s (best of {args.repeats})")
    print(json.dumps({
        "benchmark": "engine_raw",
        "nautilus_trader": nautilus_trader.__version__,
        "python": platform.python_version(),
        "events": len(data),
        "best_run_s": round(seconds, 4),
        "events_per_s": round(rate),
    }))


if __name__ == "__main__":
    main()
