"""Format name -> loader class, for ``amm ingest <format>``.

Every loader constructor takes keyword options only; the common ones are

* ``instrument_id: str | None`` - the CLI's ``--instrument`` (a Nautilus id, e.g.
  ``BTCUSDT-PERP.BINANCE``); overrides the id the data implies;
* ``spec_file: Path | None`` - the CLI's ``--instrument-spec`` (a TOML like
  ``catalog/instruments.toml``) holding contract terms (tick, lot, fees...).

Format-specific options: ``ticks-csv`` ``timestamp_unit`` (s/ms/us/ns, default detected);
``databento`` ``use_exchange_as_venue`` (bool); all tabular formats ``check`` (a
``catalog.loaders.tabular.CheckConfig``: chunk size and validation thresholds). See each loader's
module docstring for its file kinds, instrument rules and what it drops.

Loaders are imported lazily: ``amm --help`` does not pay for Nautilus' adapters.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry stays import-light: `amm --help` reads FORMATS from it
    from catalog.loaders.base import Loader

_PATHS: dict[str, str] = {
    "binance-ws": "catalog.loaders.binance_ws:BinanceWsLoader",
    "binance-csv": "catalog.loaders.binance_csv:BinanceCsvLoader",
    "tardis": "catalog.loaders.tardis:TardisLoader",
    "databento": "catalog.loaders.databento:DatabentoLoader",
    "ticks-csv": "catalog.loaders.ticks_csv:TicksCsvLoader",
    "lobster": "catalog.loaders.lobster:LobsterLoader",
    "bitstamp": "catalog.loaders.bitstamp:BitstampLoader",
}

FORMATS: tuple[str, ...] = tuple(_PATHS)
"""Valid ``amm ingest`` format names."""


def _import(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class _LazyLoaders(Mapping[str, type]):
    """``LOADERS[fmt]`` imports the loader's module on first access."""

    def __getitem__(self, fmt: str) -> type:
        if fmt not in _PATHS:
            raise KeyError(fmt)
        return _import(_PATHS[fmt])

    def __iter__(self):
        return iter(_PATHS)

    def __len__(self) -> int:
        return len(_PATHS)


LOADERS: Mapping[str, type] = _LazyLoaders()
"""Format name -> loader class (imported on access)."""


def make_loader(fmt: str, **options: Any) -> Loader:
    """Construct the loader for ``fmt`` with keyword ``options``.

    Raises
    ------
    ValueError
        If ``fmt`` is not a known format (the message lists the valid ones), or an option is not
        accepted by that loader.
    """
    if fmt not in _PATHS:
        raise ValueError(f"unknown ingest format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    cls = LOADERS[fmt]
    try:
        return cls(**options)
    except TypeError as e:
        raise ValueError(f"format {fmt!r}: {e}") from e
