"""Quote formulas of Avellaneda-Stoikov (2008) and GLFT / Guéant (2017) against hand arithmetic."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from nautilus_trader.model.identifiers import InstrumentId

from catalog.features import FeatureVector
from strategies import (
    AvellanedaStoikovMarketMakerConfig,
    AvellanedaStoikovMarketMaker,
    GLFTMarketMakerConfig,
    GLFTMarketMaker,
    glft_coefficients,
    glft_depths,
    optimal_spread,
    reservation_price,
)
from strategies.avellaneda_stoikov import as_quotes

IID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")


def _features(mid: float, ts_ns: int = 0) -> FeatureVector:
    nan = float("nan")
    return FeatureVector(ts_ns, mid, nan, 1.0, 0.0, nan, 0.0, nan, 0.0, 0.0, 0)


# -- Avellaneda-Stoikov ---------------------------------------------------------------------------


def test_as_reservation_price_and_spread_match_hand_computation() -> None:
    # s = 50000, q = 2 lots, gamma = 0.1, sigma = 2, T - t = 30 s, k = 1.5
    # r = s - q gamma sigma^2 (T-t) = 50000 - 2 * 0.1 * 4 * 30 = 50000 - 24 = 49976
    assert reservation_price(50_000.0, 2.0, 0.1, 2.0, 30.0) == pytest.approx(49_976.0, abs=1e-9)
    # spread = gamma sigma^2 (T-t) + (2/gamma) ln(1 + gamma/k)
    #        = 0.1 * 4 * 30 + 20 * ln(1 + 0.1/1.5) = 12 + 20 * ln(16/15)
    #        = 12 + 20 * 0.0645385211375712 = 13.290770422751423
    assert optimal_spread(0.1, 2.0, 30.0, 1.5) == pytest.approx(13.290770422751423, rel=1e-12)
    bid, ask = as_quotes(50_000.0, 2.0, 0.1, 2.0, 1.5, 30.0)
    # bid/ask = r -/+ spread/2 = 49976 -/+ 6.6453852113757
    assert bid == pytest.approx(49_969.354614788624, rel=1e-12)
    assert ask == pytest.approx(49_982.645385211376, rel=1e-12)


def test_as_short_inventory_moves_reservation_up_symmetrically() -> None:
    # q = -2 mirrors q = +2 around s: r = 50000 + 24
    assert reservation_price(50_000.0, -2.0, 0.1, 2.0, 30.0) == pytest.approx(50_024.0)
    assert reservation_price(50_000.0, 0.0, 0.1, 2.0, 30.0) == 50_000.0


def test_as_small_gamma_tends_to_risk_neutral_spread() -> None:
    # gamma -> 0: gamma sigma^2 (T-t) -> 0 and (2/gamma) ln(1 + gamma/k) -> 2/k = 1.3333...
    # gamma = 1e-9: risk term 1e-9 * 4 * 30 = 1.2e-7; series 2/k - gamma/k^2 = 1.3333 - 4.4e-10
    expected = 2.0 / 1.5 + 1.2e-7 - 1e-9 / 1.5**2
    assert optimal_spread(1e-9, 2.0, 30.0, 1.5) == pytest.approx(expected, abs=1e-14)
    assert optimal_spread(0.0, 2.0, 30.0, 1.5) == 2.0 / 1.5
    # and the reservation price no longer depends on inventory
    assert reservation_price(100.0, 5.0, 1e-12, 2.0, 30.0) == pytest.approx(100.0, abs=1e-9)


def test_as_spread_clamped() -> None:
    bid, ask = as_quotes(100.0, 0.0, 0.1, 2.0, 1.5, 30.0, min_spread=1.0, max_spread=4.0)
    assert ask - bid == pytest.approx(4.0)
    bid, ask = as_quotes(100.0, 0.0, 1e-9, 0.0, 100.0, 30.0, min_spread=1.0, max_spread=4.0)
    assert ask - bid == pytest.approx(1.0)  # 2/k = 0.02 < 1 tick floor


def _as_strategy(**overrides) -> AvellanedaStoikovMarketMaker:
    params = dict(
        instrument_id=IID,
        order_qty=Decimal("0.01"),
        max_inventory=Decimal("0.05"),
        gamma=0.1,
        sigma_ticks=2.0,
        k_per_tick=1.5,
        a_per_s=1.0,
        horizon_s=30.0,
        min_spread_ticks=0.0001,
    )
    params.update(overrides)
    s = AvellanedaStoikovMarketMaker(AvellanedaStoikovMarketMakerConfig(**params))
    s._tick = 0.1  # set by on_start from the instrument
    return s


def test_as_strategy_works_in_ticks_and_lots() -> None:
    s = _as_strategy()
    # mid 5000.0 = 50000 ticks of 0.1; inventory 0.02 BTC = 2 lots of 0.01 -> the hand-computed
    # case above in ticks: bid 49969.3546... ticks = 4996.93546... in price
    quotes = s.compute_quotes(_features(5_000.0), 0.02)
    assert quotes.bid_price == pytest.approx(4_996.9354614788624, rel=1e-12)
    assert quotes.ask_price == pytest.approx(4_998.2645385211376, rel=1e-12)
    assert quotes.bid_qty == quotes.ask_qty == pytest.approx(0.01)


def test_as_session_horizon_shrinks_to_the_close() -> None:
    s = _as_strategy(horizon="session", horizon_s=60.0)
    # ts = 15 s into a 60 s session: T - t = 45 s
    assert s.time_to_horizon_s(15_000_000_000) == pytest.approx(45.0)
    assert s.time_to_horizon_s(60_000_000_000 + 15_000_000_000) == pytest.approx(45.0)
    early = s.compute_quotes(_features(5_000.0, 1_000_000_000), 0.02)
    late = s.compute_quotes(_features(5_000.0, 59_900_000_000), 0.02)
    # both the inventory shift and the spread shrink as T - t -> 0
    assert (late.ask_price - late.bid_price) < (early.ask_price - early.bid_price)
    assert abs(late.bid_price + late.ask_price - 10_000.0) < abs(
        early.bid_price + early.ask_price - 10_000.0,
    )
    # at 0.1 s before the close: r = 50000 - 2 * 0.1 * 4 * 0.1 = 49999.92 ticks,
    # spread = 0.1 * 4 * 0.1 + 20 ln(16/15) = 0.04 + 1.290770422751423
    half = (0.04 + 1.290770422751423) / 2
    assert late.bid_price == pytest.approx((49_999.92 - half) * 0.1, rel=1e-12)


def test_as_does_not_quote_before_calibration() -> None:
    s = _as_strategy(sigma_ticks=None)  # sigma from the features, which are NaN here
    quotes = s.compute_quotes(_features(5_000.0), 0.0)
    assert quotes.bid_price is None and quotes.ask_price is None


# -- GLFT -----------------------------------------------------------------------------------------


def test_glft_coefficients_match_hand_computation() -> None:
    # gamma = xi = 0.05, A = 2 /s, k = 0.5 /tick, Delta = 1
    # c1 = ln(1 + xi Delta / k) / (xi Delta) = ln(1.1) / 0.05 = 1.9062035960864987
    # c2 = sqrt(gamma / (2 A Delta k) * (1 + xi Delta/k)^(k/(xi Delta) + 1))
    #    = sqrt(0.05 / 2 * 1.1^11) = sqrt(0.025 * 2.8531167061100025) = 0.26707286955576387
    c1, c2 = glft_coefficients(0.05, 0.05, 2.0, 0.5)
    assert c1 == pytest.approx(1.9062035960864987, rel=1e-12)
    assert c2 == pytest.approx(0.26707286955576387, rel=1e-12)
    # sigma = 3 ticks/sqrt(s): half-spread = c1 + Delta/2 sigma c2 = 2.3068129004201445,
    # skew = sigma c2 = 0.8012186086672917 per lot; q = 2 lots:
    # bid depth = 2.30681 + 2 * 0.80122 = 3.909250117754728
    # ask depth = 2.30681 - 2 * 0.80122 = 0.7043756830855612
    bid_depth, ask_depth = glft_depths(2.0, 3.0, c1, c2)
    assert bid_depth == pytest.approx(3.909250117754728, rel=1e-12)
    assert ask_depth == pytest.approx(0.7043756830855612, rel=1e-12)
    assert glft_depths(0.0, 3.0, c1, c2) == pytest.approx((2.3068129004201445,) * 2, rel=1e-12)


def test_glft_xi_zero_variant() -> None:
    # xi = 0: c1 = 1/k = 2, c2 = sqrt(gamma / (2 A Delta k) * e) = sqrt(0.025 e) = 0.260685722...
    c1, c2 = glft_coefficients(0.05, 0.0, 2.0, 0.5)
    assert c1 == 2.0
    assert c2 == pytest.approx(0.26068572210897195, rel=1e-12)
    # continuity: a tiny xi gives the same coefficients
    c1_small, c2_small = glft_coefficients(0.05, 1e-9, 2.0, 0.5)
    assert c1_small == pytest.approx(c1, rel=1e-8)
    assert c2_small == pytest.approx(c2, rel=1e-8)


def test_glft_small_gamma_is_symmetric_risk_neutral() -> None:
    # gamma = xi -> 0: c1 -> 1/k, c2 = sqrt(gamma e / (2 A k)) -> 0, so no skew and depth 1/k
    c1, c2 = glft_coefficients(1e-10, 1e-10, 2.0, 0.5)
    assert c1 == pytest.approx(2.0, rel=1e-9)
    assert c2 == pytest.approx(math.sqrt(1e-10 * math.e / 2.0), rel=1e-6)
    bid_depth, ask_depth = glft_depths(3.0, 3.0, c1, c2)
    assert bid_depth == pytest.approx(2.0, abs=1e-3)
    assert ask_depth == pytest.approx(2.0, abs=1e-3)


def _glft_strategy(**overrides) -> GLFTMarketMaker:
    params = dict(
        instrument_id=IID,
        order_qty=Decimal("0.01"),
        max_inventory=Decimal("0.03"),  # Q = 3 lots
        gamma=0.05,
        sigma_ticks=3.0,
        k_per_tick=0.5,
        a_per_s=2.0,
        min_spread_ticks=0.0001,
    )
    params.update(overrides)
    s = GLFTMarketMaker(GLFTMarketMakerConfig(**params))
    s._tick = 0.1
    return s


def test_glft_strategy_quotes_in_ticks_and_lots() -> None:
    s = _glft_strategy()
    quotes = s.compute_quotes(_features(5_000.0), 0.02)  # q = 2 lots
    # bid = 50000 - 3.909250117754728 ticks, ask = 50000 + 0.7043756830855612 ticks
    assert quotes.bid_price == pytest.approx((50_000 - 3.909250117754728) * 0.1, rel=1e-12)
    assert quotes.ask_price == pytest.approx((50_000 + 0.7043756830855612) * 0.1, rel=1e-12)


def test_glft_stops_quoting_the_side_at_the_inventory_bound() -> None:
    s = _glft_strategy()
    at_long_bound = s.compute_quotes(_features(5_000.0), 0.03)  # q = Q = 3
    assert at_long_bound.bid_price is None and at_long_bound.ask_price is not None
    at_short_bound = s.compute_quotes(_features(5_000.0), -0.03)
    assert at_short_bound.ask_price is None and at_short_bound.bid_price is not None
    inside = s.compute_quotes(_features(5_000.0), 0.02)
    assert inside.bid_price is not None and inside.ask_price is not None


def test_glft_spread_clamp_keeps_the_skew() -> None:
    s = _glft_strategy(min_spread_ticks=10.0)
    quotes = s.compute_quotes(_features(5_000.0), 0.02)
    # total spread 2 * 2.30681 = 4.61 < 10 -> each depth widened by (10 - 4.61) / 2, skew kept
    widen = (10.0 - 2 * 2.3068129004201445) / 2
    assert quotes.ask_price - quotes.bid_price == pytest.approx(1.0, rel=1e-9)  # 10 ticks
    assert quotes.bid_price == pytest.approx((50_000 - 3.909250117754728 - widen) * 0.1)


def test_glft_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="k"):
        glft_coefficients(0.1, 0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="gamma"):
        GLFTMarketMakerConfig(
            instrument_id=IID,
            order_qty=Decimal("0.01"),
            max_inventory=Decimal("0.03"),
            gamma=-1.0,
        )
