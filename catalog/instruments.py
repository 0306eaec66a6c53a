"""Instrument definitions from a small spec file.

Market data files carry prices, not contract terms: tick size, lot size, multiplier and fees come
from a spec (``catalog/instruments.toml`` ships the Binance instruments of the bundled data; users
pass their own file with ``--instrument-spec``). The spec is documented in that file's header.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Price, Quantity

DEFAULT_SPEC_FILE = Path(__file__).with_name("instruments.toml")

_KINDS = ("currency_pair", "crypto_perpetual", "equity")


@dataclass(frozen=True)
class InstrumentSpec:
    """Contract terms of one instrument (see ``instruments.toml`` for the field meanings)."""

    instrument_id: str
    kind: str
    raw_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    settlement: str | None = None
    is_inverse: bool = False
    min_quantity: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    margin_init: Decimal = Decimal(0)
    margin_maint: Decimal = Decimal(0)
    price_decimals: int | None = None
    """Decimals of prices when finer than the tick's (an equity quotes in cents but trades at
    half-cents against hidden midpoint orders); None: the tick's decimals."""

    @property
    def price_precision(self) -> int:
        return _precision(self.tick_size) if self.price_decimals is None else self.price_decimals

    @property
    def size_precision(self) -> int:
        return _precision(self.lot_size)


def _precision(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def load_specs(path: Path | None = None) -> dict[str, InstrumentSpec]:
    """Read a spec file; raise ``ValueError`` naming the file, instrument and field on bad input."""
    path = path or DEFAULT_SPEC_FILE
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot read instrument spec: {e}") from e
    specs: dict[str, InstrumentSpec] = {}
    for iid, table in raw.items():
        specs[iid] = _parse_spec(path, iid, table)
    return specs


def _parse_spec(path: Path, iid: str, table: dict) -> InstrumentSpec:
    def need(name: str) -> str:
        if name not in table:
            raise ValueError(f"{path}: [{iid}] missing field '{name}'")
        return str(table[name])

    def dec(name: str, default: str | None = None) -> Decimal | None:
        value = table.get(name, default)
        if value is None:
            return None
        try:
            out = Decimal(str(value))
        except ArithmeticError as e:
            raise ValueError(f"{path}: [{iid}] field '{name}' is not a number: {value!r}") from e
        if out < 0:
            raise ValueError(f"{path}: [{iid}] field '{name}' must be >= 0, got {value!r}")
        return out

    kind = need("kind")
    if kind not in _KINDS:
        raise ValueError(f"{path}: [{iid}] field 'kind' must be one of {_KINDS}, got {kind!r}")
    try:
        InstrumentId.from_str(iid)
    except ValueError as e:
        raise ValueError(f"{path}: [{iid}] is not a valid instrument id (SYMBOL.VENUE)") from e
    tick, lot = dec("tick_size"), dec("lot_size")
    for name, value in (("tick_size", tick), ("lot_size", lot)):
        if value is None or value <= 0:
            raise ValueError(f"{path}: [{iid}] field '{name}' must be > 0")
    if kind == "crypto_perpetual" and "settlement" not in table:
        raise ValueError(f"{path}: [{iid}] missing field 'settlement'")
    return InstrumentSpec(
        instrument_id=iid,
        kind=kind,
        raw_symbol=need("raw_symbol"),
        base=str(table.get("base", "")) if kind == "equity" else need("base"),
        quote=need("quote"),
        tick_size=tick,
        lot_size=lot,
        maker_fee=dec("maker_fee", "0"),
        taker_fee=dec("taker_fee", "0"),
        settlement=table.get("settlement"),
        is_inverse=bool(table.get("is_inverse", False)),
        min_quantity=dec("min_quantity"),
        multiplier=dec("multiplier", "1"),
        margin_init=dec("margin_init", "0"),
        margin_maint=dec("margin_maint", "0"),
        price_decimals=_price_decimals(path, iid, table, tick),
    )


def _price_decimals(path: Path, iid: str, table: dict, tick: Decimal) -> int | None:
    if "price_precision" not in table:
        return None
    value = table["price_precision"]
    if not isinstance(value, int) or isinstance(value, bool) or not _precision(tick) <= value <= 9:
        raise ValueError(
            f"{path}: [{iid}] field 'price_precision' must be an integer from the tick's "
            f"{_precision(tick)} decimals to 9, got {value!r}",
        )
    return value


def get_spec(instrument_id: str, spec_file: Path | None = None) -> InstrumentSpec:
    """Return the spec of ``instrument_id`` from ``spec_file`` or the shipped defaults."""
    specs = load_specs(spec_file) if spec_file else {}
    if instrument_id not in specs:
        specs = {**load_specs(DEFAULT_SPEC_FILE), **specs}
    if instrument_id not in specs:
        where = f"{spec_file} or {DEFAULT_SPEC_FILE}" if spec_file else str(DEFAULT_SPEC_FILE)
        raise ValueError(
            f"no instrument spec for {instrument_id!r} in {where}; "
            f"add one (see the header of {DEFAULT_SPEC_FILE.name}) and pass --instrument-spec",
        )
    return specs[instrument_id]


def _currency(code: str) -> Currency:
    try:
        return Currency.from_str(code)
    except Exception as e:  # noqa: BLE001 - Nautilus raises several types for unknown codes
        raise ValueError(f"unknown currency code {code!r}") from e


def build_instrument(spec: InstrumentSpec, ts_init: int = 0) -> Instrument:
    """Build the Nautilus instrument for ``spec`` (``CurrencyPair``, ``CryptoPerpetual`` or ``Equity``)."""
    size_inc = Quantity(spec.lot_size, spec.size_precision)
    shared = dict(  # what every instrument type takes
        instrument_id=InstrumentId.from_str(spec.instrument_id),
        raw_symbol=Symbol(spec.raw_symbol),
        price_precision=spec.price_precision,
        price_increment=Price(spec.tick_size, spec.price_precision),
        ts_event=ts_init,
        ts_init=ts_init,
        min_quantity=Quantity(spec.min_quantity, spec.size_precision) if spec.min_quantity is not None else None,
        maker_fee=spec.maker_fee,
        taker_fee=spec.taker_fee,
    )
    if spec.kind == "equity":
        # An Equity trades in whole lots of ``lot_size`` shares; fees per share live in the venue
        # model (``backtests.venue`` fee_model="per_share"), not in the instrument's rates.
        return Equity(currency=_currency(spec.quote), lot_size=size_inc, **shared)
    crypto = dict(
        quote_currency=_currency(spec.quote),
        base_currency=_currency(spec.base),
        size_precision=spec.size_precision,
        size_increment=size_inc,
        margin_init=spec.margin_init,
        margin_maint=spec.margin_maint,
    )
    if spec.kind == "currency_pair":
        return CurrencyPair(lot_size=None, **shared, **crypto)
    return CryptoPerpetual(
        settlement_currency=_currency(spec.settlement or spec.quote),
        is_inverse=spec.is_inverse,
        multiplier=Quantity.from_str(str(spec.multiplier)),
        lot_size=Quantity.from_int(1),
        **shared,
        **crypto,
    )
