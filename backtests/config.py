"""The run config of ``amm backtest``: data, window, venue model and the strategies to compare.

A TOML (or YAML) file::

    [run]
    name = "usdm_btcusdt_baselines"
    catalog = "catalogs/binance"          # relative paths: to the current directory
    instrument_id = "BTCUSDT-PERP.BINANCE"
    start = "2024-08-08T23:55:00Z"        # optional (ISO-8601 or UNIX ns); default: data start
    end = "2024-08-08T23:59:59Z"          # optional; default: data end
    equity_interval_ms = 1000             # equity sampling (annualisation uses it)
    benchmark = "fixed_spread"            # tearsheet benchmark: another strategy of this run
    out_dir = "runs"

    [venue]                               # backtests.venue.VenueModelConfig fields
    book_type = "L1_MBP"
    latency_base_ns = 10_000_000

    [[strategies]]                        # one engine per strategy, same data and venue
    name = "fixed_spread"
    strategy_path = "strategies.fixed_spread:FixedSpreadMarketMaker"
    config_path = "strategies.fixed_spread:FixedSpreadMarketMakerConfig"
    [strategies.config]
    order_qty = "0.002"                   # instrument_id (from [run]) and book_type (from
                                          # [venue]) are filled in when the config has them

The strategy entries are NautilusTrader ``ImportableStrategyConfig`` (``strategy_path``,
``config_path``, ``config``), so the same strategy config runs in ``TradingNode`` live.

The file decodes into frozen msgspec structs (:class:`RunFile`: :class:`RunTable`,
:class:`~backtests.venue.VenueModelConfig`, :class:`StrategyTable`) through
:mod:`catalog.config_io`, and each ``[strategies.config]`` table into its strategy's own config
class, so an unknown key, a wrong type or a value out of range anywhere fails at load with one
line: ``file: strategies[0].config.max_loss: ...``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from nautilus_trader.common.config import msgspec_decoding_hook, resolve_config_path
from nautilus_trader.config import PositiveInt
from nautilus_trader.model.identifiers import InstrumentId

from catalog.window import to_ns
from backtests.venue import VenueModelConfig
from catalog.config_io import ConfigError, FieldError, decode, read_mapping, to_builtins
from catalog.importables import ImportRefused, check_importable

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$")]
ImportPath = Annotated[str, msgspec.Meta(pattern=r"^[\w.]+:\w+$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]


# -- the file --------------------------------------------------------------------------------------


class RunTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[run]``: what data, which window, where the results go (see the module docstring)."""

    name: Name
    catalog: Text
    instrument_id: Text
    start: str | int | None = None
    end: str | int | None = None
    equity_interval_ms: PositiveInt = 1000
    benchmark: str | None = None
    out_dir: Text = "runs"
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "OFF"] = "ERROR"

    def __post_init__(self) -> None:
        try:
            InstrumentId.from_str(self.instrument_id)
        except ValueError:
            raise FieldError("RunTable", "instrument_id", f"{self.instrument_id!r} is not SYMBOL.VENUE") from None
        for name in ("start", "end"):
            try:
                to_ns(getattr(self, name), name=name)
            except ValueError as e:
                raise FieldError("RunTable", name, str(e).split(": ", 1)[-1]) from None


class StrategyTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[strategies]]`` entry: a Nautilus ``ImportableStrategyConfig`` plus a name."""

    strategy_path: ImportPath
    config_path: ImportPath
    name: Name | None = None
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        for name in ("strategy_path", "config_path"):  # text only: refused before any import
            try:
                check_importable(getattr(self, name), name)
            except ImportRefused as e:
                raise FieldError("StrategyTable", name, str(e)) from None


class RunFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole ``amm backtest`` file: ``[run]``, ``[venue]`` and one or more ``[[strategies]]``."""

    run: RunTable
    strategies: Annotated[list[StrategyTable], msgspec.Meta(min_length=1)]
    venue: VenueModelConfig = msgspec.field(default_factory=VenueModelConfig)


# -- the resolved run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of a run, as an importable Nautilus strategy config."""

    name: str
    strategy_path: str
    config_path: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def importable(self):
        """The ``ImportableStrategyConfig`` (its paths checked against the registry first: a spec
        built in Python, not read from a file, must not bypass it)."""
        from nautilus_trader.config import ImportableStrategyConfig

        check_importable(self.strategy_path, "strategy_path")
        check_importable(self.config_path, "config_path")
        return ImportableStrategyConfig(
            strategy_path=self.strategy_path,
            config_path=self.config_path,
            config=dict(self.config),
        )


@dataclass(frozen=True)
class RunSpec:
    """A resolved ``amm backtest`` config (see module docstring)."""

    name: str
    catalog: Path
    instrument_id: str
    venue: VenueModelConfig
    strategies: tuple[StrategySpec, ...]
    start: str | int | None = None
    end: str | int | None = None
    equity_interval_ms: int = 1000
    benchmark: str | None = None
    out_dir: Path = Path("runs")
    log_level: str = "ERROR"
    source: str | None = None

    def with_overrides(
        self,
        *,
        catalog: Path | None = None,
        start: str | int | None = None,
        end: str | int | None = None,
        out_dir: Path | None = None,
    ) -> RunSpec:
        """Apply command-line overrides (None = keep)."""
        changes: dict[str, Any] = {}
        if catalog is not None:
            changes["catalog"] = Path(catalog)
        if start is not None:
            to_ns(start, name="--start")
            changes["start"] = start
        if end is not None:
            to_ns(end, name="--end")
            changes["end"] = end
        if out_dir is not None:
            changes["out_dir"] = Path(out_dir)
        return replace(self, **changes)

    def _venue_dict(self) -> dict[str, Any]:
        # None fields read back as their default, except base_currency (default "USDT"): TOML
        # has no null, so a multi-currency account is written as the "" that reads back as None.
        venue = to_builtins(self.venue, omit_none=True)
        if self.venue.base_currency is None:
            venue["base_currency"] = ""
        return venue

    def to_dict(self) -> dict[str, Any]:
        """Plain data: what ``config.resolved.toml`` / ``.json`` contain."""
        run: dict[str, Any] = {
            "name": self.name,
            "catalog": str(self.catalog),
            "instrument_id": self.instrument_id,
            "equity_interval_ms": self.equity_interval_ms,
            "out_dir": str(self.out_dir),
            "log_level": self.log_level,
        }
        for k in ("start", "end", "benchmark"):
            if getattr(self, k) is not None:
                run[k] = getattr(self, k)
        return {
            "run": run,
            "venue": self._venue_dict(),
            "strategies": [
                {
                    "name": s.name,
                    "strategy_path": s.strategy_path,
                    "config_path": s.config_path,
                    "config": dict(s.config),
                }
                for s in self.strategies
            ],
        }


def strategy_config_class(config_path: str, *, source: str | Path, where: str) -> type[msgspec.Struct]:
    """The config class ``config_path`` names, as ``StrategyFactory`` resolves it; errors name
    ``source`` and ``where`` (the ``config_path`` field)."""
    from nautilus_trader.config import StrategyConfig

    try:
        check_importable(config_path, "config_path")
    except ImportRefused as e:
        raise ConfigError(source, where, str(e)) from None
    try:
        cls = resolve_config_path(config_path)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(source, where, f"cannot import {config_path!r}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, StrategyConfig)):
        raise ConfigError(source, where, f"{config_path!r} is not a nautilus_trader StrategyConfig")
    return cls


def check_strategy_config(cls: type[msgspec.Struct], config: Mapping[str, Any], *, source: str | Path, where: str) -> None:
    """Decode a ``[strategies.config]`` table into its class now, so a typo, a wrong type or a
    value out of range fails at load naming ``where.field``, not when the engine builds it."""
    decode(dict(config), cls, source=source, path=where, dec_hook=msgspec_decoding_hook)


def parse_run_config(data: Mapping[str, Any], *, source: str = "<config>") -> RunSpec:
    """Decode and validate a parsed config: the file's structs, then every strategy's config in
    its own class (``instrument_id`` and ``book_type`` filled in from ``[run]`` / ``[venue]``).

    Raises
    ------
    catalog.config_io.ConfigError
        One line naming ``source`` and the field (``strategies[1].config.max_loss``).
    """
    f = decode(data, RunFile, source=source)
    strategies: list[StrategySpec] = []
    for i, s in enumerate(f.strategies):
        where = f"strategies[{i}]"
        name = s.name or s.strategy_path.rsplit(":", 1)[1]
        if name in {t.name for t in strategies}:
            raise ConfigError(source, f"{where}.name", f"duplicate strategy name {name!r} (names must be unique)")
        cls = strategy_config_class(s.config_path, source=source, where=f"{where}.config_path")
        cfg = dict(s.config)
        fields_ = set(cls.__struct_fields__)
        if "instrument_id" not in cfg and "instrument_id" in fields_:
            cfg["instrument_id"] = f.run.instrument_id
        if "book_type" not in cfg and "book_type" in fields_:
            cfg["book_type"] = f.venue.book_type  # subscribe to the data the venue matches on
        check_strategy_config(cls, cfg, source=source, where=f"{where}.config")
        strategies.append(StrategySpec(name, s.strategy_path, s.config_path, cfg))
    names = [s.name for s in strategies]
    if f.run.benchmark is not None and f.run.benchmark not in names:
        raise ConfigError(source, "run.benchmark", f"{f.run.benchmark!r} is not one of the strategies {sorted(names)}")
    return RunSpec(
        name=f.run.name,
        catalog=Path(f.run.catalog).expanduser(),
        instrument_id=f.run.instrument_id,
        venue=f.venue,
        strategies=tuple(strategies),
        start=f.run.start,
        end=f.run.end,
        equity_interval_ms=f.run.equity_interval_ms,
        benchmark=f.run.benchmark,
        out_dir=Path(f.run.out_dir).expanduser(),
        log_level=f.run.log_level,
        source=source,
    )


def load_run_config(path: str | Path) -> RunSpec:
    """Read and validate a TOML/YAML run config (:func:`parse_run_config`)."""
    return parse_run_config(read_mapping(path), source=str(path))


# -- writing --------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    """``v`` as a TOML value. TOML has no null: a None in a table is left out (it reads back as
    the field's default, which is None for every optional field), and a None in a list, which
    has no default to fall back on, is refused rather than written as the text "None"."""
    if v is None:
        raise ValueError("TOML has no null: a None inside a list cannot be written")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    return json.dumps(str(v))


def to_toml(spec: RunSpec) -> str:
    """Serialise a resolved run config to TOML (it loads back with :func:`load_run_config`)."""
    d = spec.to_dict()
    lines = ["# Resolved by `amm backtest`: the exact config of this run.", "", "[run]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["run"].items() if v is not None]
    lines += ["", "[venue]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["venue"].items() if v is not None and not isinstance(v, Mapping)]
    for k, v in d["venue"].items():
        if isinstance(v, Mapping) and v:
            lines.append(f"{k} = {_toml_value(v)}")
    for s in d["strategies"]:
        lines += ["", "[[strategies]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in s.items() if k != "config" and v is not None]
        lines.append("[strategies.config]")
        # TOML has no null: a None value is left out, so the field reads back as its default.
        lines += [f"{k} = {_toml_value(v)}" for k, v in s["config"].items() if v is not None]
    return "\n".join(lines) + "\n"
