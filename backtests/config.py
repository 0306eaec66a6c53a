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
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backtests.data import to_ns
from backtests.venue import VenueModelConfig

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_RUN_KEYS = {
    "name",
    "catalog",
    "instrument_id",
    "start",
    "end",
    "equity_interval_ms",
    "benchmark",
    "out_dir",
    "log_level",
}
_STRATEGY_KEYS = {"name", "strategy_path", "config_path", "config"}


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of a run, as an importable Nautilus strategy config."""

    name: str
    strategy_path: str
    config_path: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def importable(self):
        from nautilus_trader.config import ImportableStrategyConfig

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
        venue = {k: v for k, v in self.venue.to_dict().items() if v is not None}
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


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read config: {e}") from e
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as e:  # noqa: BLE001 - TOML and YAML raise different types
        raise ValueError(f"{path}: invalid {path.suffix.lstrip('.').upper()}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table at the top level")
    return data


def _config_fields(config_path: str) -> set[str] | None:
    from nautilus_trader.common.config import resolve_config_path

    try:
        cls = resolve_config_path(config_path)
    except Exception:  # noqa: BLE001 - reported when the run builds the strategy
        return None
    return set(getattr(cls, "__struct_fields__", ()))


def parse_run_config(data: Mapping[str, Any], *, source: str = "<config>") -> RunSpec:
    """Validate a parsed config; errors name ``source`` and the offending table/field."""
    unknown_top = sorted(set(data) - {"run", "venue", "strategies"})
    if unknown_top:
        raise ValueError(f"{source}: unknown top-level table(s) {unknown_top}")
    run = data.get("run")
    if not isinstance(run, Mapping):
        raise ValueError(f"{source}: missing [run] table")
    unknown = sorted(set(run) - _RUN_KEYS)
    if unknown:
        raise ValueError(f"{source}: [run] unknown field(s) {unknown}; known: {sorted(_RUN_KEYS)}")
    for key in ("name", "catalog", "instrument_id"):
        if not run.get(key):
            raise ValueError(f"{source}: [run] missing field '{key}'")
    name = str(run["name"])
    if not _NAME_RE.match(name):
        raise ValueError(f"{source}: [run] name {name!r} may only use letters, digits, '_', '.', '-'")
    from nautilus_trader.model.identifiers import InstrumentId

    try:
        InstrumentId.from_str(str(run["instrument_id"]))
    except ValueError as e:
        raise ValueError(f"{source}: [run] instrument_id {run['instrument_id']!r} is not SYMBOL.VENUE") from e
    for key in ("start", "end"):
        if run.get(key) is not None:
            to_ns(run[key], name=f"{source}: [run] {key}")
    interval = run.get("equity_interval_ms", 1000)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
        raise ValueError(f"{source}: [run] equity_interval_ms must be a positive integer, got {interval!r}")

    venue = VenueModelConfig.from_dict(data.get("venue") or {}, where=f"{source}: [venue]")

    raw_strategies = data.get("strategies")
    if not isinstance(raw_strategies, list) or not raw_strategies:
        raise ValueError(f"{source}: needs at least one [[strategies]] entry")
    strategies: list[StrategySpec] = []
    seen: set[str] = set()
    for i, s in enumerate(raw_strategies):
        where = f"{source}: [[strategies]] #{i + 1}"
        if not isinstance(s, Mapping):
            raise ValueError(f"{where}: expected a table")
        unknown = sorted(set(s) - _STRATEGY_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(_STRATEGY_KEYS)}")
        for key in ("strategy_path", "config_path"):
            if not s.get(key) or ":" not in str(s[key]):
                raise ValueError(f"{where}: field '{key}' must be 'package.module:Name'")
        sname = str(s.get("name") or str(s["strategy_path"]).rsplit(":", 1)[1])
        if not _NAME_RE.match(sname):
            raise ValueError(f"{where}: name {sname!r} may only use letters, digits, '_', '.', '-'")
        if sname in seen:
            raise ValueError(f"{where}: duplicate strategy name {sname!r} (names must be unique)")
        seen.add(sname)
        cfg = dict(s.get("config") or {})
        fields_ = _config_fields(str(s["config_path"]))
        if "instrument_id" not in cfg and (fields_ is None or "instrument_id" in fields_):
            cfg["instrument_id"] = str(run["instrument_id"])
        if "book_type" not in cfg and fields_ is not None and "book_type" in fields_:
            cfg["book_type"] = venue.book_type  # subscribe to the data the venue matches on
        strategies.append(StrategySpec(sname, str(s["strategy_path"]), str(s["config_path"]), cfg))

    benchmark = run.get("benchmark")
    if benchmark is not None and benchmark not in seen:
        raise ValueError(f"{source}: [run] benchmark {benchmark!r} is not one of the strategies {sorted(seen)}")
    return RunSpec(
        name=name,
        catalog=Path(str(run["catalog"])).expanduser(),
        instrument_id=str(run["instrument_id"]),
        venue=venue,
        strategies=tuple(strategies),
        start=run.get("start"),
        end=run.get("end"),
        equity_interval_ms=int(interval),
        benchmark=benchmark,
        out_dir=Path(str(run.get("out_dir", "runs"))).expanduser(),
        log_level=str(run.get("log_level", "ERROR")).upper(),
        source=source,
    )


def load_run_config(path: str | Path) -> RunSpec:
    """Read and validate a TOML/YAML run config."""
    path = Path(path)
    return parse_run_config(_read(path), source=str(path))


# -- writing --------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v))


def to_toml(spec: RunSpec) -> str:
    """Serialise a resolved run config to TOML (it loads back with :func:`load_run_config`)."""
    d = spec.to_dict()
    lines = ["# Resolved by `amm backtest`: the exact config of this run.", "", "[run]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["run"].items()]
    lines += ["", "[venue]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["venue"].items() if not isinstance(v, Mapping)]
    for k, v in d["venue"].items():
        if isinstance(v, Mapping) and v:
            lines.append(f"{k} = {_toml_value(v)}")
    for s in d["strategies"]:
        lines += ["", "[[strategies]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in s.items() if k != "config"]
        lines.append("[strategies.config]")
        # TOML has no null: a None value is left out, so the field reads back as its default.
        lines += [f"{k} = {_toml_value(v)}" for k, v in s["config"].items() if v is not None]
    return "\n".join(lines) + "\n"
