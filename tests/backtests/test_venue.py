"""VenueModelConfig: validation names the field; the matching rules reach the engine as stated."""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import FillModel, LatencyModel
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.enums import BookType, LiquiditySide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from backtests.venue import FixedRatesFeeModel, VenueModelConfig
from catalog.config_io import ConfigError
from tests.helpers import assert_config_error

from .conftest import RUN_FILE


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"oms_type": "NET"}, "oms_type"),
        ({"book_type": "L4"}, "book_type"),
        ({"starting_balances": ("lots of money",)}, "starting_balances"),
        ({"starting_balances": ("1 BTC",)}, "base_currency"),
        ({"latency_base_ns": -1}, "latency_base_ns"),
        ({"prob_fill_on_limit": 1.5}, "prob_fill_on_limit"),
        ({"fee_model": "fixed_rates"}, "maker_fee"),
        ({"maker_fee": "0.0001"}, "fee_model"),
        ({"fill_model_path": "nautilus_trader.backtest.models:LatencyModel"}, "fill_model_path"),
        ({"fill_model_kwargs": {"nope": 1}}, "fill_model_kwargs"),
        ({"account_type": "CASH", "base_currency": None, "starting_balances": ("1 BTC", "10 USDT")}, "default_leverage"),
        ({"queue_position": True, "trade_execution": False}, "queue_position"),
        ({"book_type": "L1_MBP", "liquidity_consumption": True}, "liquidity_consumption"),
        ({"prob_fill_on_limit": 0.5}, "prob_fill_on_limit"),
        ({"queue_position": "yes"}, "queue_position"),
    ],
)
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"VenueModelConfig\.{field}"):
        VenueModelConfig(**kwargs)


def test_keyword_only_with_perp_defaults():
    with pytest.raises(TypeError):
        VenueModelConfig("BINANCE")  # type: ignore[misc]
    v = VenueModelConfig()
    assert (v.venue, v.oms_type, v.account_type, v.book_type) == ("BINANCE", "NETTING", "MARGIN", "L1_MBP")
    assert v.starting_balances == ("100000 USDT",)
    # the realistic 1.231 matching rules by default; liquidity consumption resolved per book type
    assert (v.trade_execution, v.queue_position, v.liquidity_consumption) == (True, True, False)
    assert VenueModelConfig(book_type="L2_MBP").liquidity_consumption is True
    assert VenueModelConfig(book_type="L1_MBP", queue_position=False, liquidity_consumption=True).liquidity_consumption


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"^venue: latency_ms: unknown field; expected one of: account_type, "):
        VenueModelConfig.from_dict({"latency_ms": 3})


@pytest.mark.parametrize(
    ("venue", "field", "message"),
    [
        ("latency_ms = 3", "venue.latency_ms", "unknown field; expected one of: "),
        ('latency_base_ns = "10ms"', "venue.latency_base_ns", "Expected `int`, got `str`"),
        ("latency_base_ns = -1", "venue.latency_base_ns", "Expected `int` >= 0"),
        ("prob_slippage = 1.5", "venue.prob_slippage", "Expected `float` <= 1.0"),
        ('book_type = "L4"', "venue.book_type", "expected one of: L1_MBP, L2_MBP, L3_MBO"),
        ("leverages = { X = 0 }", "venue.leverages[...]", "Expected `float` > 0.0"),
        ('fee_model = "fixed_rates"', "venue.maker_fee", "fee_model='fixed_rates' needs a decimal amount"),
        ('starting_balances = ["lots"]', "venue.starting_balances", "'lots' is not '<amount> <CURRENCY>'"),
    ],
)
def test_a_bad_venue_table_fails_naming_the_file_and_field(tmp_path, venue, field, message):
    """The [venue] of a run file: unknown key, wrong type, out of range, cross-field check."""
    from backtests.config import load_run_config

    path = tmp_path / "run.toml"
    path.write_text(RUN_FILE.format(venue=venue))
    assert_config_error(load_run_config, path, field, message)


class _RecordingEngine:
    """Stands in for ``BacktestEngine``: keeps what ``add_venue`` was given."""

    def __init__(self) -> None:
        self.venue_kwargs: dict = {}
        self.instruments: list = []

    def add_venue(self, **kwargs) -> None:
        self.venue_kwargs = kwargs

    def add_instrument(self, instrument) -> None:
        self.instruments.append(instrument)


def test_add_to_engine_passes_every_matching_rule_and_model():
    v = VenueModelConfig(
        book_type="L2_MBP",
        latency_base_ns=2_000_000,
        latency_cancel_ns=500_000,
        prob_slippage=0.1,
        seed=7,
        fee_model="fixed_rates",
        maker_fee="-0.0001",
        taker_fee="0.0004",
    )
    engine = _RecordingEngine()
    v.add_to_engine(engine, [TestInstrumentProvider.btcusdt_perp_binance()])
    kw = engine.venue_kwargs
    assert (kw["trade_execution"], kw["queue_position"], kw["liquidity_consumption"]) == (True, True, True)
    assert kw["book_type"] == BookType.L2_MBP and kw["bar_execution"] is False
    assert type(kw["fill_model"]) is FillModel
    assert (kw["fill_model"].prob_fill_on_limit, kw["fill_model"].prob_slippage) == (1.0, 0.1)
    lat = kw["latency_model"]
    assert isinstance(lat, LatencyModel)
    assert lat.base_latency_nanos == 2_000_000
    assert lat.cancel_latency_nanos == 2_500_000  # base + specific
    assert isinstance(kw["fee_model"], FixedRatesFeeModel)
    assert len(engine.instruments) == 1


def test_zero_latency_means_no_latency_model():
    assert VenueModelConfig(latency_base_ns=0).latency_config() is None
    assert VenueModelConfig(latency_base_ns=0).build_latency_model() is None


def test_fixed_rates_fee_model_rebate():
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    fee = VenueModelConfig(fee_model="fixed_rates", maker_fee="-0.0001", taker_fee="0.0004").build_fee_model()

    class _Order:
        liquidity_side = LiquiditySide.MAKER

    money = fee.get_commission(_Order(), Quantity.from_str("0.010"), Price.from_str("50000.0"), inst)
    assert money.as_double() == pytest.approx(-0.05)  # 500 USDT notional x -1 bp
    _Order.liquidity_side = LiquiditySide.TAKER
    money = fee.get_commission(_Order(), Quantity.from_str("0.010"), Price.from_str("50000.0"), inst)
    assert money.as_double() == pytest.approx(0.2)
    assert money.currency.code == "USDT"


def test_per_share_fee_model_charges_takers_and_pays_makers_per_share():
    from catalog.instruments import build_instrument, get_spec

    goog = build_instrument(get_spec("GOOG.XNAS"))
    fee = VenueModelConfig(fee_model="per_share", maker_fee="-0.0020", taker_fee="0.0030").build_fee_model()

    class _Order:
        liquidity_side = LiquiditySide.MAKER

    # 300 shares: the same at any price (a per-share schedule ignores notional)
    for px in ("580.0000", "20.0000"):
        money = fee.get_commission(_Order(), Quantity.from_int(300), Price.from_str(px), goog)
        assert money.as_double() == pytest.approx(-0.60) and money.currency.code == "USD"
    _Order.liquidity_side = LiquiditySide.TAKER
    assert fee.get_commission(_Order(), Quantity.from_int(300), Price.from_str("580.0000"), goog).as_double() == pytest.approx(0.90)
    with pytest.raises(ValueError, match="fee_model='per_share' needs a decimal amount"):
        VenueModelConfig(fee_model="per_share", maker_fee="-0.002")


def test_add_to_engine_sets_up_account_and_instrument():
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    try:
        VenueModelConfig(leverages={str(inst.id): 3.0}).add_to_engine(engine, [inst])
        assert engine.cache.instrument(inst.id) is not None
        exchange = engine.list_venues()
        assert Venue("BINANCE") in exchange
    finally:
        engine.dispose()


def test_add_to_engine_rejects_instrument_of_other_venue():
    inst = TestInstrumentProvider.ethusdt_binance()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    try:
        with pytest.raises(ValueError, match="VenueModelConfig.venue"):
            VenueModelConfig(venue="BYBIT").add_to_engine(engine, [inst])
    finally:
        engine.dispose()


def test_to_dict_round_trips():
    v = VenueModelConfig(starting_balances=("5000 USDT",), default_leverage=2.0, seed=3)
    assert VenueModelConfig.from_dict(v.to_dict()) == v
    assert Decimal(str(v.default_leverage)) == Decimal("2.0")


def test_parse_overrides_reads_each_value_as_its_field_type():
    got = VenueModelConfig.parse_overrides([
        "fee_model=fixed_rates", "maker_fee=-0.00005", "taker_fee=0.00025",
        "latency_base_ns=5000000", "prob_fill_on_limit=0.7", "use_reduce_only=false",
        'starting_balances=["1000 USDT"]', "leverages={BTCUSDT-PERP.BINANCE: 3}",
        "queue_position=false", "liquidity_consumption=null",
    ])
    assert got == {
        "fee_model": "fixed_rates", "maker_fee": "-0.00005", "taker_fee": "0.00025",
        "latency_base_ns": 5_000_000, "prob_fill_on_limit": 0.7, "use_reduce_only": False,
        "starting_balances": ["1000 USDT"], "leverages": {"BTCUSDT-PERP.BINANCE": 3},
        "queue_position": False, "liquidity_consumption": None,
    }
    # fee rates stay exact decimal strings (a float would print -5e-05)
    venue = VenueModelConfig().with_overrides(got)
    assert venue.maker_fee == "-0.00005" and venue.latency_base_ns == 5_000_000
    assert venue.starting_balances == ("1000 USDT",)
    assert VenueModelConfig.parse_overrides(["base_currency=null"]) == {"base_currency": None}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["fees=1"], "unknown venue field 'fees'"),
        (["latency_base_ns=fast"], "latency_base_ns='fast' is not a valid int"),
        (["use_reduce_only=maybe"], "use_reduce_only='maybe' is not a valid bool"),
        (["maker_fee"], "'maker_fee' is not FIELD=VALUE"),
    ],
)
def test_parse_overrides_names_the_bad_item(items, message):
    with pytest.raises(ValueError, match=f"^--venue: {message}"):
        VenueModelConfig.parse_overrides(items)


def test_with_overrides_validates_the_whole_config():
    with pytest.raises(ConfigError, match="^run: maker_fee: fee_model='fixed_rates' needs a decimal amount"):
        VenueModelConfig().with_overrides({"fee_model": "fixed_rates"}, where="run")
    with pytest.raises(ConfigError, match="^venue: fees: unknown field"):
        VenueModelConfig().with_overrides({"fees": 1})


def test_replace_validates_like_construction():
    v = VenueModelConfig(book_type="L2_MBP")
    assert v.replace(seed=7) == VenueModelConfig(book_type="L2_MBP", seed=7)
    with pytest.raises(ValueError, match=r"^VenueModelConfig\.prob_fill_on_limit: must be 1\.0 with queue_position"):
        v.replace(prob_fill_on_limit=0.5)
