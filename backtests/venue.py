"""Every market assumption of a backtest, stated once, in one frozen object.

A market-making backtest is only as good as its exchange model: how orders get filled, how fast they
arrive, what they cost. hftbacktest makes these assumptions explicit in one builder (latency model,
queue model, fee model); NautilusTrader spreads them over ``add_venue`` arguments and importable
model configs. :class:`VenueModelConfig` gathers them, and its one way into Nautilus,
:meth:`VenueModelConfig.add_to_engine`, builds the venue of the RL environment, the backtests and
``amm evaluate`` alike (and :meth:`~VenueModelConfig.matching_rules` that of the paper sandbox):
training and evaluation cannot silently differ.

How a resting post-only quote fills in NautilusTrader 1.231.0 (measured, ``NOTES.md`` §8; the
matching engine is ``backtest/engine.pyx`` ``OrderMatchingEngine``):

``queue_position`` (on by default)
    When our order is accepted, the displayed size at its price is the queue ahead of it. Trades
    at our price on the opposite aggressor side eat that queue first; only the part of a trade
    beyond it fills us. A level delete (the level left the book) or a price moving through our
    order sets the queue to zero. Cancels ahead of us do not advance us: this is hftbacktest's
    ``RiskAverseQueueModel``, the conservative end of the queue models (Nautilus has no
    probabilistic one). Needs ``trade_execution``.
``trade_execution`` (on by default)
    Trades move the matching engine's market and fill resting orders, on both aggressor sides.
``liquidity_consumption`` (on for L2/L3, off for L1 by default)
    Our fills consume the displayed size at a level until fresh data arrives there, so one level
    cannot fill us twice. On L1 it cannot be combined with ``queue_position`` in 1.231: a later
    trade of the same price and size does not fill (nautechsystems/nautilus_trader#5017), so the
    combination is refused.
``book_type``
    ``L2_MBP``/``L3_MBO`` match against the book rebuilt from ``OrderBookDelta`` batches plus
    trades; ``L1_MBP`` against quotes plus trades (a trade overwrites the top of book with its
    price and size until the next quote). Prefer L2 where the data has depth: on the Binance
    USD-M capture L2 with the queue lands within ~10% of hftbacktest's fills
    (``benchmarks/peer_hftbacktest.py``). On L3 (per-order) feeds any DELETE at our price zeroes
    our queue in 1.231 (nautechsystems/nautilus_trader#4370): optimistic, so L3 venues warn.
``prob_fill_on_limit``
    No longer the queue proxy: it is a probability applied on top of the queue when the market
    touches our price, so with ``queue_position`` it must stay 1.0 (double counting otherwise).

Latency delays order insert/modify/cancel messages on their way to the matching engine (base + the
specific latency); market data is not delayed. Fees default to the instrument's maker/taker rates;
a negative maker fee is a rebate.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect
import yaml
from nautilus_trader.backtest.config import FeeModelConfig
from nautilus_trader.backtest.models import FeeModel, FillModel, LatencyModel
from nautilus_trader.config import PositiveFloat
from nautilus_trader.model.enums import (
    AccountType,
    BookType,
    LiquiditySide,
    OmsType,
)
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money

from catalog.config_io import FieldError, decode, to_builtins, validate_constraints
from catalog.importables import ImportRefused, check_importable

OmsTypeName = Literal["NETTING", "HEDGING"]
AccountTypeName = Literal["MARGIN", "CASH"]
BookTypeName = Literal["L1_MBP", "L2_MBP", "L3_MBO"]
FeeModelName = Literal["maker_taker", "fixed_rates", "per_share"]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

MAX_LATENCY_NS = 10_000_000_000
"""Upper bound of each latency field and of each message's total delay (base + specific): 10 s.

Order-entry latency is milliseconds (the shipped configs use 10 ms to Binance and 1 ms for a
co-located NASDAQ client), and reaches seconds only on an overloaded venue. A value beyond 10 s is
a unit mistake (a figure in ms or s written as ns: 1e15 ns is 11.6 days) that would silently
turn the market maker into one whose every order arrives after the market moved on.
"""
LatencyNs = Annotated[int, msgspec.Meta(ge=0, le=MAX_LATENCY_NS)]

DEFAULT_FILL_MODEL_PATH = "nautilus_trader.backtest.models:FillModel"

_KIND_NAMES = {
    msgspec.inspect.IntType: "int",
    msgspec.inspect.FloatType: "float",
    msgspec.inspect.BoolType: "bool",
    msgspec.inspect.StrType: "str",
}


def _resolve(path: str, what: str) -> Any:
    if ":" not in path:
        raise ValueError(f"{what}: expected 'package.module:Name', got {path!r}")
    try:  # text only: a path outside the registry is refused before it is imported
        check_importable(path, "fill_model_path")
    except ImportRefused as e:
        raise ValueError(f"{what}: {e}") from None
    module, name = path.rsplit(":", 1)
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{what}: cannot import {path!r}: {e}") from e


def _side_rate(order, maker: float, taker: float) -> float:  # noqa: ANN001 - a Nautilus Order
    """The maker or taker rate by the fill's liquidity side (Nautilus sets it before asking)."""
    if order.liquidity_side == LiquiditySide.MAKER:
        return maker
    if order.liquidity_side == LiquiditySide.TAKER:
        return taker
    raise ValueError(f"invalid liquidity side {order.liquidity_side!r}")


class FixedRatesFeeModelConfig(FeeModelConfig, frozen=True):
    """Importable config for :class:`FixedRatesFeeModel` (rates as decimal strings)."""

    maker_fee: str
    taker_fee: str


class FixedRatesFeeModel(FeeModel):
    """Maker/taker fee on notional at explicit rates, ignoring the instrument's own fees.

    Use it for a VIP tier, a BNB discount or a maker rebate (negative ``maker_fee``). The
    commission currency follows Nautilus' ``MakerTakerFeeModel``: quote currency for linear
    instruments, base currency for inverse ones.
    """

    def __init__(self, config: FixedRatesFeeModelConfig) -> None:
        self.maker_fee = float(Decimal(config.maker_fee))
        self.taker_fee = float(Decimal(config.taker_fee))

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:  # noqa: D401
        notional = instrument.notional_value(
            quantity=fill_qty,
            price=fill_px,
            use_quote_for_inverse=False,
        ).as_double()
        rate = _side_rate(order, self.maker_fee, self.taker_fee)
        currency = instrument.base_currency if instrument.is_inverse else instrument.quote_currency
        return Money(notional * rate, currency)


class PerShareFeeModelConfig(FeeModelConfig, frozen=True):
    """Importable config for :class:`PerShareFeeModel` (amounts per share as decimal strings)."""

    maker_fee: str
    taker_fee: str


class PerShareFeeModel(FeeModel):
    """A fee per share (or contract) filled, by liquidity side: how equity exchanges charge.

    NASDAQ charges a fee per share to remove liquidity and pays a rebate per share to add it, at
    any price (NASDAQ Rule 7018(a); the fee for removing is capped at $0.0030 a share by SEC Reg
    NMS Rule 610(c)). Nautilus' ``PerContractFeeModel`` has one non-negative rate for both sides,
    so it cannot express a maker rebate; this model takes one amount per side, negative = rebate,
    in the instrument's quote currency.
    """

    def __init__(self, config: PerShareFeeModelConfig) -> None:
        self.maker_fee = float(Decimal(config.maker_fee))
        self.taker_fee = float(Decimal(config.taker_fee))

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:  # noqa: D401
        rate = _side_rate(order, self.maker_fee, self.taker_fee)
        return Money(fill_qty.as_double() * float(instrument.multiplier) * rate, instrument.quote_currency)


# -- the venue model -----------------------------------------------------------------------------


class VenueModelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The simulated exchange: account, book, matching rules, latency, fees and fill model.

    Defaults describe the realistic setting of NautilusTrader 1.231 for ``BTCUSDT-PERP.BINANCE``
    (USD-M perpetual) with a 100,000 USDT margin account: queue position and trade execution on,
    liquidity consumption on where the book has depth. ``book_type`` stays ``L1_MBP`` so a
    catalog with only quotes and trades runs; the shipped configs choose ``L2_MBP`` where the
    data has depth.

    A frozen msgspec struct: a ``[venue]`` table decodes into it (:meth:`from_dict`, or as part
    of a whole run file through :mod:`catalog.config_io`), unknown fields are refused, and a
    config built in Python is checked the same way (``__post_init__``).

    Parameters
    ----------
    venue : str
        Venue name; must equal the venue of every instrument traded (``BINANCE``).
    oms_type : {"NETTING", "HEDGING"}
        NETTING keeps one position per instrument (Binance one-way mode); HEDGING one per order.
    account_type : {"MARGIN", "CASH"}
        MARGIN lets inventory go short (perpetuals, spot margin); CASH needs the asset you sell.
    base_currency : str or None
        Single-currency account in this currency (``USDT``); None for a multi-currency account
        (spot CASH accounts holding both BTC and USDT). TOML has no null: write ``""`` there.
    starting_balances : tuple of str
        ``"100000 USDT"``-style balances; every amount must be > 0 (a zero or negative starting
        equity makes returns, and every ratio built on them, meaningless: a losing strategy on
        a negative balance reports a positive Sharpe ratio).
    default_leverage : PositiveFloat
        Margin-account leverage for every instrument without an entry in ``leverages``.
    leverages : dict of str to PositiveFloat
        Per-instrument leverage overrides, keyed by instrument id.
    book_type : {"L1_MBP", "L2_MBP", "L3_MBO"}
        The book the matching engine keeps; it also decides which data ``catalog.window`` loads
        (L1: quotes + trades; L2/L3: delta batches + trades, starting from a full book).
    trade_execution : bool
        Trades move the matching engine's market and fill resting orders (both aggressor sides).
        Required by ``queue_position``.
    queue_position : bool
        A resting order fills only after the displayed size ahead of it at placement has traded
        (or its level was deleted); see the module docstring.
    liquidity_consumption : bool or None
        Our fills consume a level's displayed size until fresh data arrives there. None (the
        default) resolves to True for L2/L3 books and False for L1, where 1.231 cannot combine it
        with ``queue_position`` (refused).
    latency_base_ns, latency_insert_ns, latency_update_ns, latency_cancel_ns : int in [0, 10 s]
        One-way delay from strategy to matching engine. Insert/update/cancel delay = base +
        specific, at most :data:`MAX_LATENCY_NS` (10 s) each. All zero gives
        ``latency_model=None`` (orders act on the very next event).
    fee_model : {"maker_taker", "fixed_rates", "per_share"}
        ``maker_taker``: the instrument's ``maker_fee``/``taker_fee`` (``catalog/instruments.toml``).
        ``fixed_rates``: ``maker_fee``/``taker_fee`` below (fractions of notional, negative =
        rebate). ``per_share``: ``maker_fee``/``taker_fee`` below are amounts of the quote
        currency per share (contract) filled, negative = rebate: equity exchanges' pricing.
    maker_fee, taker_fee : str or None
        Rates for ``fee_model="fixed_rates"`` (``"-0.0001"``) or amounts per share for
        ``"per_share"`` (``"-0.0020"``), as decimal strings.
    fill_model_path : str
        ``module:Class`` of a Nautilus ``FillModel`` (subclass); default the plain FillModel.
        Only ``nautilus_trader.backtest.models`` classes, or a module listed in
        ``AMM_ALLOW_IMPORTS`` (:mod:`catalog.importables`).
    prob_fill_on_limit : float in [0, 1]
        Probability that a touch at our price fills us, applied by the fill model on top of the
        matching rules. Must be 1.0 with ``queue_position`` (the queue is the model of priority).
    prob_slippage : float in [0, 1]
        Probability that an aggressive fill slips one tick (L1 only).
    fill_model_kwargs : dict
        Extra keyword arguments for ``fill_model_path`` (e.g. ``liquidity_factor``).
    seed : int
        Fill-model random seed. FillModel reseeds Python's global ``random``; the same seed and
        config reproduce the same fills.
    bar_execution : bool
        Let bars move the market (off: market makers replay ticks, not bars).
    use_reduce_only, reject_stop_orders, support_gtd_orders : bool
        Venue rules, as in ``BacktestEngine.add_venue``.
    allow_cash_borrowing : bool
        Allow negative balances on CASH accounts.
    """

    venue: str = "BINANCE"
    oms_type: OmsTypeName = "NETTING"
    account_type: AccountTypeName = "MARGIN"
    base_currency: str | None = "USDT"
    starting_balances: tuple[str, ...] = ("100000 USDT",)
    default_leverage: PositiveFloat = 5.0
    leverages: dict[str, PositiveFloat] = {}
    book_type: BookTypeName = "L1_MBP"
    trade_execution: bool = True
    queue_position: bool = True
    liquidity_consumption: bool | None = None
    latency_base_ns: LatencyNs = 10_000_000
    latency_insert_ns: LatencyNs = 0
    latency_update_ns: LatencyNs = 0
    latency_cancel_ns: LatencyNs = 0
    fee_model: FeeModelName = "maker_taker"
    maker_fee: str | None = None
    taker_fee: str | None = None
    fill_model_path: str = DEFAULT_FILL_MODEL_PATH
    prob_fill_on_limit: Probability = 1.0
    prob_slippage: Probability = 0.0
    fill_model_kwargs: dict[str, Any] = {}
    seed: int = 42
    bar_execution: bool = False
    use_reduce_only: bool = True
    reject_stop_orders: bool = True
    support_gtd_orders: bool = True
    allow_cash_borrowing: bool = False

    def __post_init__(self) -> None:
        validate_constraints(self)

        def bad(name: str, why: str) -> FieldError:
            return FieldError("VenueModelConfig", name, f"{why} (got {getattr(self, name)!r})")

        if not self.venue or not self.venue.replace("_", "").isalnum():
            raise bad("venue", "must be a venue name like 'BINANCE'")
        if isinstance(self.starting_balances, str) or not self.starting_balances:
            raise bad("starting_balances", "must be a non-empty list like ['100000 USDT']")
        msgspec.structs.force_setattr(self, "starting_balances", tuple(self.starting_balances))
        for i, b in enumerate(self.starting_balances):
            try:
                money = Money.from_str(b)
            except Exception as e:  # noqa: BLE001 - Nautilus raises several types
                raise bad("starting_balances", f"{b!r} is not '<amount> <CURRENCY>': {e}") from e
            if not money.as_decimal() > 0:
                raise FieldError(
                    "VenueModelConfig", f"starting_balances[{i}]",
                    f"must be > 0, got {b!r} (returns and Sharpe ratios are meaningless on a "
                    "zero or negative starting equity)",
                )
        if self.base_currency == "":  # TOML has no null: "" is how a TOML file says None
            msgspec.structs.force_setattr(self, "base_currency", None)
        if self.base_currency is not None:
            codes = {b.split()[-1] for b in self.starting_balances}
            if codes != {self.base_currency}:
                raise bad(
                    "base_currency",
                    f"a single-currency account needs balances only in {self.base_currency}; "
                    f"set base_currency = \"\" (TOML) or null (YAML) for multi-currency balances {sorted(codes)}",
                )
        if self.account_type == "CASH" and (self.default_leverage != 1 or self.leverages):
            raise bad("default_leverage", "CASH accounts are unleveraged: set it to 1, no leverages")
        for iid, lev in dict(self.leverages).items():
            if not float(lev) > 0:
                raise FieldError("VenueModelConfig", f"leverages[{iid!r}]", f"must be > 0, got {lev!r}")
        if self.fee_model in ("fixed_rates", "per_share"):
            for name in ("maker_fee", "taker_fee"):
                value = getattr(self, name)
                try:
                    Decimal(str(value))
                except (InvalidOperation, TypeError) as e:  # None too: Decimal("None") is invalid
                    raise bad(name, f"fee_model={self.fee_model!r} needs a decimal amount") from e
        elif self.maker_fee is not None or self.taker_fee is not None:
            raise bad("fee_model", "maker_fee/taker_fee are only used with fee_model='fixed_rates' or 'per_share'")
        for name in ("latency_insert_ns", "latency_update_ns", "latency_cancel_ns"):
            total = self.latency_base_ns + getattr(self, name)
            if total > MAX_LATENCY_NS:
                raise bad(name, f"latency_base_ns + {name} = {total} ns exceeds {MAX_LATENCY_NS} ns (10 s) per message")
        if self.liquidity_consumption is None:
            msgspec.structs.force_setattr(self, "liquidity_consumption", self.book_type != "L1_MBP")
        if self.queue_position and not self.trade_execution:
            raise bad("queue_position", "needs trade_execution = true (queues advance on trades)")
        if self.book_type == "L1_MBP" and self.queue_position and self.liquidity_consumption:
            raise bad(
                "liquidity_consumption",
                "cannot be combined with queue_position on an L1_MBP book in NautilusTrader 1.231 "
                "(later same-size trades stop filling, nautilus_trader#5017); set it false",
            )
        if self.queue_position and float(self.prob_fill_on_limit) != 1.0:
            raise bad(
                "prob_fill_on_limit",
                "must be 1.0 with queue_position = true (the queue already decides who fills at "
                "our price; a probability on top counts it twice)",
            )
        try:
            cls = _resolve(self.fill_model_path, "VenueModelConfig.fill_model_path")
        except ValueError as e:
            raise bad("fill_model_path", str(e).split(": ", 1)[-1]) from e
        if not (isinstance(cls, type) and issubclass(cls, FillModel)):
            raise bad("fill_model_path", "must name a nautilus FillModel class")
        params = inspect.signature(cls.__init__).parameters
        for key in self.fill_model_kwargs:
            if key not in params:
                raise FieldError("VenueModelConfig", "fill_model_kwargs", f"{cls.__name__} takes no argument {key!r}")

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "venue") -> VenueModelConfig:
        """Decode a parsed TOML/YAML table; errors are one line naming ``where`` and the field.

        Raises
        ------
        catalog.config_io.ConfigError
            ``where: latency_ms: unknown field; ...``, a wrong type, a value out of range.
        """
        return decode(data, cls, source=where)

    def replace(self, **changes: Any) -> VenueModelConfig:
        """A copy with some fields changed, validated as a whole (``__post_init__`` runs again)."""
        return msgspec.structs.replace(self, **changes)

    def with_overrides(self, overrides: Mapping[str, Any], *, where: str = "venue") -> VenueModelConfig:
        """This config with fields replaced from plain data (CLI, fee tiers), decoded and
        validated as a whole; errors name ``where`` and the field."""
        return type(self).from_dict({**self.to_dict(), **dict(overrides)}, where=where)

    @classmethod
    def parse_overrides(cls, items: Sequence[str], *, where: str = "--venue") -> dict[str, Any]:
        """Parse ``FIELD=VALUE`` strings (command-line overrides) into typed field values.

        A value is read as its field's type: text for the text fields (so fee rates stay exact
        decimal strings, ``null`` = None where the field may be None), YAML for everything else
        (numbers, flags, ``starting_balances=["1000 USDT"]``, ``leverages={ID: 3}``), checked
        against the field's type here so a bad item is named before anything runs.
        """
        hints = typing.get_type_hints(cls, include_extras=True)
        out: dict[str, Any] = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name, raw = name.strip(), raw.strip()
            if not sep or not name:
                raise ValueError(f"{where}: {item!r} is not FIELD=VALUE")
            if name not in cls.__struct_fields__:
                raise ValueError(f"{where}: unknown venue field {name!r}; known: {sorted(cls.__struct_fields__)}")
            info = msgspec.inspect.type_info(hints[name])
            kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
            nullable = any(isinstance(k, msgspec.inspect.NoneType) for k in kinds)
            try:
                if any(isinstance(k, msgspec.inspect.StrType | msgspec.inspect.LiteralType) for k in kinds):
                    value: Any = None if nullable and raw.lower() in ("null", "none") else raw
                else:
                    value = yaml.safe_load(raw)
                out[name] = to_builtins(msgspec.convert(value, hints[name], strict=False))
            except (msgspec.ValidationError, yaml.YAMLError) as e:
                kind = next((_KIND_NAMES[type(k)] for k in kinds if type(k) in _KIND_NAMES), "value")
                raise ValueError(f"{where}: {name}={raw!r} is not a valid {kind}") from e
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-safe; None kept), what :meth:`from_dict` reads back."""
        return to_builtins(self)

    def latency_config(self) -> dict[str, int] | None:
        """``LatencyModelConfig`` fields, or None when every latency is zero."""
        cfg = {
            "base_latency_nanos": self.latency_base_ns,
            "insert_latency_nanos": self.latency_insert_ns,
            "update_latency_nanos": self.latency_update_ns,
            "cancel_latency_nanos": self.latency_cancel_ns,
        }
        return cfg if any(cfg.values()) else None

    def build_fill_model(self) -> FillModel:
        """The fill model, freshly built: ``FillModel.__init__`` reseeds Python's *global*
        ``random`` with ``seed``, so build it right before the run it belongs to."""
        cls = _resolve(self.fill_model_path, "VenueModelConfig.fill_model_path")
        return cls(
            prob_fill_on_limit=float(self.prob_fill_on_limit),
            prob_slippage=float(self.prob_slippage),
            random_seed=self.seed,
            **dict(self.fill_model_kwargs),
        )

    def build_latency_model(self) -> LatencyModel | None:
        cfg = self.latency_config()
        return None if cfg is None else LatencyModel(**cfg)

    def build_fee_model(self) -> FeeModel:
        if self.fee_model == "per_share":
            return PerShareFeeModel(
                PerShareFeeModelConfig(maker_fee=str(self.maker_fee), taker_fee=str(self.taker_fee)),
            )
        if self.fee_model == "fixed_rates":
            return FixedRatesFeeModel(
                FixedRatesFeeModelConfig(maker_fee=str(self.maker_fee), taker_fee=str(self.taker_fee)),
            )
        from nautilus_trader.backtest.models import MakerTakerFeeModel

        return MakerTakerFeeModel()

    # -- into Nautilus ----------------------------------------------------------------------------

    def matching_rules(self) -> dict[str, bool]:
        """The matching-engine switches, as ``add_venue`` / ``SimulatedExchange`` keywords."""
        return {
            "bar_execution": self.bar_execution,
            "trade_execution": self.trade_execution,
            "queue_position": self.queue_position,
            "liquidity_consumption": bool(self.liquidity_consumption),
            "use_reduce_only": self.use_reduce_only,
            "reject_stop_orders": self.reject_stop_orders,
            "support_gtd_orders": self.support_gtd_orders,
            "allow_cash_borrowing": self.allow_cash_borrowing,
        }

    def add_to_engine(self, engine: Any, instruments: Sequence[Instrument]) -> None:
        """Add this venue and ``instruments`` to a low-level ``BacktestEngine``.

        The RL environment calls exactly this, so an agent trains against the venue it is later
        evaluated on. Models are built fresh here (the fill model reseeds ``random``).
        """
        from nautilus_trader.model.currencies import Currency
        from nautilus_trader.model.identifiers import InstrumentId, Venue

        for instrument in instruments:
            if instrument.id.venue.value != self.venue:
                raise ValueError(
                    f"VenueModelConfig.venue: instrument {instrument.id} is not on venue "
                    f"{self.venue!r}",
                )
        engine.add_venue(
            venue=Venue(self.venue),
            oms_type=OmsType[self.oms_type],
            account_type=AccountType[self.account_type],
            starting_balances=[Money.from_str(b) for b in self.starting_balances],
            base_currency=Currency.from_str(self.base_currency) if self.base_currency else None,
            default_leverage=Decimal(str(self.default_leverage)),
            leverages={
                InstrumentId.from_str(k): Decimal(str(v)) for k, v in dict(self.leverages).items()
            }
            or None,
            fill_model=self.build_fill_model(),
            fee_model=self.build_fee_model(),
            latency_model=self.build_latency_model(),
            book_type=BookType[self.book_type],
            **self.matching_rules(),
        )
        for instrument in instruments:
            engine.add_instrument(instrument)
