"""The alpha-skewed GLFT maker: standardised signals, the reference shift, and a real-data run."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.identifiers import InstrumentId

from catalog.features import FeatureVector
from strategies.glft import GLFTMarketMaker, GLFTMarketMakerConfig
from strategies.glft_alpha import AlphaGLFTMarketMaker, AlphaGLFTMarketMakerConfig, EwmStandardiser
from tests.strategies.conftest import MarketData, run_strategy

IID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
GLFT = dict(instrument_id=IID, order_qty=Decimal("0.01"), max_inventory=Decimal("0.03"), gamma=0.05,
            sigma_ticks=3.0, k_per_tick=0.5, a_per_s=2.0, min_spread_ticks=0.0001)


def _features(ts_s: float, imbalance: float, flow: float = 0.0, mid: float = 5_000.0) -> FeatureVector:
    nan = float("nan")
    return FeatureVector(int(ts_s * 1e9), mid, nan, 1.0, imbalance, nan, flow, nan, 0.0, 0.0, 0)


def _pair(**alpha) -> tuple[GLFTMarketMaker, AlphaGLFTMarketMaker]:
    plain = GLFTMarketMaker(GLFTMarketMakerConfig(**GLFT))
    skewed = AlphaGLFTMarketMaker(AlphaGLFTMarketMakerConfig(**GLFT, **alpha))
    plain._tick = skewed._tick = 0.1
    return plain, skewed


def test_standardiser_is_pandas_ewm_on_a_regular_grid() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.2, 0.5, 400)
    s = EwmStandardiser(halflife_s=5.0)
    means, variances = [], []
    for i, v in enumerate(x):  # one sample every 0.5 s: half-life = 10 samples
        s.update(float(v), int(i * 0.5e9))
        means.append(s.mean)
        variances.append(s.var)
    ewm = pd.Series(x).ewm(halflife=10.0, adjust=False)
    np.testing.assert_allclose(means, ewm.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(variances, ewm.var(bias=True).to_numpy(), rtol=1e-9, atol=1e-15)
    assert s.z(s.mean + 2 * math.sqrt(s.var), clip=3.0) == pytest.approx(2.0)
    assert s.z(s.mean + 10 * math.sqrt(s.var), clip=3.0) == 3.0
    assert s.z(float("nan"), clip=3.0) == 0.0


def test_zero_coefficients_quote_exactly_like_glft() -> None:
    plain, skewed = _pair()
    rng = np.random.default_rng(1)
    for i in range(100):
        f = _features(i * 0.1, float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        assert skewed.compute_quotes(f, 0.01) == plain.compute_quotes(f, 0.01)


def test_the_shift_is_the_coefficient_times_the_signal_scored_before_it() -> None:
    plain, skewed = _pair(alpha_imbalance_ticks=2.0, alpha_flow_ticks=-1.0, alpha_min_samples=10, alpha_halflife_s=60.0)
    rng = np.random.default_rng(2)
    reference = (EwmStandardiser(60.0), EwmStandardiser(60.0))
    for i in range(50):
        imb, flow = float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5))
        f = _features(i * 0.1, imb, flow)
        expected = 0.0
        if i >= 10:  # scored against the samples before this one
            expected = 2.0 * reference[0].z(imb, 3.0) - 1.0 * reference[1].z(flow, 3.0)
        reference[0].update(imb, f.ts_ns)
        reference[1].update(flow, f.ts_ns)
        got = skewed.compute_quotes(f, 0.0)
        base = plain.compute_quotes(f, 0.0)
        assert skewed.shift_ticks == pytest.approx(expected, abs=1e-12)
        assert got.bid_price == pytest.approx(base.bid_price + expected * 0.1, rel=1e-12)
        assert got.ask_price == pytest.approx(base.ask_price + expected * 0.1, rel=1e-12)
    # a bid-heavy book well above its recent mean raises both quotes by ~ 2 ticks a sigma
    up = skewed.compute_quotes(_features(6.0, 5.0), 0.0)
    base = plain.compute_quotes(_features(6.0, 5.0), 0.0)
    assert skewed.shift_ticks == pytest.approx(2.0 * 3.0 - reference[1].z(0.0, 3.0))  # imbalance clipped at 3 sigma
    assert up.bid_price > base.bid_price and up.ask_price > base.ask_price


def test_coefficients_are_bounded() -> None:
    with pytest.raises(ValueError, match="alpha_imbalance_ticks must be within"):
        AlphaGLFTMarketMakerConfig(**GLFT, alpha_imbalance_ticks=500.0)


def test_on_the_real_book_it_quotes_off_the_glft_prices(market: MarketData) -> None:
    """Binance USD-M capture (the strategies' shared market fixture): with an imbalance
    coefficient the quotes move away from GLFT's once the signal is scaled, and it still trades."""
    kwargs = dict(sigma_ticks=3.0, k_per_tick=0.5, a_per_s=2.0, gamma=0.05)
    plain = run_strategy(market, GLFTMarketMaker, **kwargs)
    skewed = run_strategy(market, AlphaGLFTMarketMaker, alpha_imbalance_ticks=3.0, alpha_min_samples=20, **kwargs)
    assert skewed.strategy.imbalance_z.count > 20 and skewed.strategy.imbalance_z.var > 0
    assert skewed.fills and skewed.fills != plain.fills
    for r in (plain, skewed):
        r.engine.dispose()
