"""Is this data the instrument it is labelled as? Checks run by every ingest before it commits.

``amm ingest --instrument ID`` relabels data, and a wrong label was silently accepted: BTC data
labelled ``ETHUSDT-PERP.BINANCE`` was merged into the ETH series, and ``BTCUSD-PERP`` (an inverse
contract) turned 213.37 BTC of trades into 3,042 contracts. Two checks refuse that, unless the
user forces the label (``--force-instrument``):

* **the label against the data.** A loader that can tell which instrument its data names (a
  stream's symbol and market, a file name's ticker: ``native_instrument_ids()``) has the
  override's symbol compared with it, and, where the data names its market (Binance WebSocket
  streams), its perpetual or spot kind too. The venue part is free: venue names are a deployment
  choice.
* **the price scale against the catalog.** When the catalog already holds trades or quotes of
  the instrument, the median price of the new data must be within a factor of
  :data:`MAX_PRICE_RATIO` of the existing series' nearest stretch: another instrument's data
  (ETH at 2,600 into BTC at 60,000) is refused, a market that moved over months is not.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.quality import DataQualityError

MAX_PRICE_RATIO = 3.0
"""New and existing median prices of one instrument may differ by at most this factor."""

SAMPLE_SIZE = 2_000
"""Prices sampled per instrument from the start of an ingest's stream."""

_FORCE_HINT = "pass --force-instrument if the label is right"


def _core(instrument_id: str) -> tuple[str, bool]:
    """``(symbol without its perpetual suffix, is_perpetual)``, upper case, separators dropped."""
    symbol = InstrumentId.from_str(instrument_id).symbol.value.upper()
    perpetual = bool(re.search(r"[-_]PERP$", symbol))
    core = re.sub(r"[-_]PERP$", "", symbol)
    return re.sub(r"[^A-Z0-9]", "", core), perpetual


def check_label(instrument_id: str, native_ids: list[str], *, market_known: bool, source: str) -> None:
    """Refuse an ``--instrument`` label whose symbol (or market) contradicts what the data names."""
    if not native_ids:
        return
    label_core, label_perp = _core(instrument_id)
    for native in native_ids:
        core, perp = _core(native)
        if core == label_core and (not market_known or perp == label_perp):
            return
    what = "market" if any(_core(n)[0] == label_core for n in native_ids) else "symbol"
    raise DataQualityError(
        f"{source}: --instrument {instrument_id} contradicts the data's {what}: the data is "
        f"{', '.join(native_ids)}; {_FORCE_HINT}",
    )


@dataclass
class PriceSampler:
    """The first :data:`SAMPLE_SIZE` prices (trades, else quote mids) of each instrument of a stream."""

    trades: dict[str, list[float]] = field(default_factory=dict)
    mids: dict[str, list[float]] = field(default_factory=dict)
    first_ts: dict[str, int] = field(default_factory=dict)

    def add(self, obj: Data) -> None:
        if isinstance(obj, TradeTick):
            prices, price = self.trades.setdefault(obj.instrument_id.value, []), obj.price.as_double()
        elif isinstance(obj, QuoteTick):
            prices = self.mids.setdefault(obj.instrument_id.value, [])
            price = (obj.bid_price.as_double() + obj.ask_price.as_double()) / 2
        else:
            return
        if len(prices) < SAMPLE_SIZE and price > 0:
            prices.append(price)
            self.first_ts.setdefault(obj.instrument_id.value, obj.ts_init)

    def median(self, instrument_id: str) -> tuple[type, float] | None:
        for cls, table in ((TradeTick, self.trades), (QuoteTick, self.mids)):
            if table.get(instrument_id):
                return cls, statistics.median(table[instrument_id])
        return None


def check_price_scale(catalog_path: Path, sampler: PriceSampler, *, source: str) -> None:
    """Refuse data whose prices are not those of the series it would join (see module docstring)."""
    if not (Path(catalog_path) / "data").is_dir():
        return
    catalog = ParquetDataCatalog(str(catalog_path))
    for iid, start in sampler.first_ts.items():
        sampled = sampler.median(iid)
        if sampled is None:
            continue
        cls, new = sampled
        old = _existing_median(catalog, cls, iid, start)
        if old is None or old <= 0:
            continue
        ratio = new / old
        if ratio > MAX_PRICE_RATIO or ratio < 1 / MAX_PRICE_RATIO:
            raise DataQualityError(
                f"{source}: its {iid} prices (median {new:,.6g}) are {ratio:.3g}x those of the {iid} "
                f"series already in {catalog_path} (median {old:,.6g}): this is another instrument's data, "
                f"not merged; check --instrument, or {_FORCE_HINT}",
            )


def _existing_median(catalog: ParquetDataCatalog, cls: type, iid: str, near_ns: int) -> float | None:
    """Median price of the existing file nearest in time to ``near_ns`` (its first rows)."""
    spans = catalog.get_intervals(cls, iid)
    if not spans:
        return None
    lo, hi = min(spans, key=lambda s: 0 if s[0] <= near_ns <= s[1] else min(abs(s[0] - near_ns), abs(s[1] - near_ns)))
    rows = catalog.query(cls, identifiers=[iid], start=lo, end=min(hi, lo + 60_000_000_000))[:SAMPLE_SIZE]
    if cls is TradeTick:
        prices = [t.price.as_double() for t in rows]
    else:
        prices = [(q.bid_price.as_double() + q.ask_price.as_double()) / 2 for q in rows]
    return statistics.median(prices) if prices else None
