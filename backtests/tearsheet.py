"""QuantStats tearsheets and the strategy comparison table of one or more run directories.

The tearsheet of a strategy uses *another strategy's* returns as its benchmark (a local Series).
QuantStats treats a string benchmark as a ticker and downloads it from Yahoo: never pass one.
Returns follow ``backtests.metrics`` (per-interval simple returns of the sampled equity,
``periods_per_year = 365 * 86400 / interval_s``), so the tearsheet's Sharpe, Sortino and max drawdown
are the figures in ``metrics.json``.
"""

from __future__ import annotations

import html
import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.metrics import SUMMARY_FIELDS, flatten_summary, format_value

COMPLETE = "complete.json"
"""Written by ``amm backtest`` once every strategy of the run has its results (the strategies'
names and the time): a run directory without it was killed or failed part-way, and reports refuse
it unless told to show what it holds."""


def check_complete(run_dir: Path) -> list[str] | None:
    """The strategies a complete run holds, or ``None`` if ``run_dir`` has no completion mark."""
    try:
        return list(json.loads((Path(run_dir) / COMPLETE).read_text())["strategies"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class LoadedStrategy:
    """One strategy's artefacts read back from a run directory."""

    label: str
    name: str
    run_dir: Path
    directory: Path
    equity: pd.DataFrame
    metrics: dict[str, Any]

    @property
    def interval_s(self) -> float:
        return float(self.metrics.get("interval_s") or 1.0)


def load_run_dirs(run_dirs: Sequence[Path], *, allow_incomplete: bool = False) -> list[LoadedStrategy]:
    """Read every ``<run_dir>/<strategy>/`` holding ``equity.parquet`` and ``metrics.json``.

    Labels are strategy names, prefixed with the run directory name when two runs share a name. A
    run without its :data:`COMPLETE` mark is refused (one line naming it and the strategies it
    holds); with ``allow_incomplete`` its strategies are read and labelled ``(incomplete)``.
    """
    found: list[tuple[Path, Path]] = []
    unique: list[Path] = []
    for rd in run_dirs:
        if Path(rd).resolve() not in [u.resolve() for u in unique]:
            unique.append(Path(rd))
    for rd in unique:
        if not rd.is_dir():
            raise ValueError(f"{rd}: not a directory")
        subs = sorted(p.parent for p in rd.glob("*/metrics.json") if (p.parent / "equity.parquet").exists())
        listed = check_complete(rd)
        if not subs and listed is None:
            raise ValueError(f"{rd}: no strategy results (expected <strategy>/metrics.json and equity.parquet)")
        if listed is None and not allow_incomplete:
            held = ", ".join(s.name for s in subs) or "none"
            raise ValueError(f"{rd}: incomplete run (no {COMPLETE}: killed or failed before its end; strategies with "
                             f"results: {held}); re-run it, or pass --allow-incomplete to report what it holds")
        missing = sorted(set(listed or ()) - {s.name for s in subs})
        if missing:
            raise ValueError(f"{rd}: strategies {missing} of the complete run have no results (files removed?)")
        if not subs:
            raise ValueError(f"{rd}: no strategy results (expected <strategy>/metrics.json and equity.parquet)")
        found += [(rd, s) for s in subs]
    names = [s.name for _, s in found]
    out = []
    for rd, s in found:
        label = s.name if names.count(s.name) == 1 else f"{rd.name}/{s.name}"
        if check_complete(rd) is None:
            label += " (incomplete)"
        try:
            metrics = json.loads((s / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{s / 'metrics.json'}: cannot read: {e}") from e
        out.append(LoadedStrategy(label, s.name, rd, s, pd.read_parquet(s / "equity.parquet"), metrics))
    return out


def returns_series(equity: pd.DataFrame, name: str) -> pd.Series:
    """``backtests.metrics.equity_returns`` with a tz-naive UTC index (QuantStats cannot mix tz)."""
    from backtests.metrics import equity_returns

    e = equity["equity"].astype(float)
    idx = e.index.tz_convert("UTC").tz_localize(None) if e.index.tz is not None else e.index
    return equity_returns(pd.Series(e.to_numpy(), index=idx)).rename(name)


def _aligned_benchmark(strategy: LoadedStrategy, bench: LoadedStrategy) -> pd.Series:
    s = strategy.equity["equity"]
    b = bench.equity["equity"].astype(float)
    b = b.reindex(b.index.union(s.index)).ffill().bfill().reindex(s.index)
    frame = pd.DataFrame({"equity": b.to_numpy()}, index=s.index)
    return returns_series(frame, bench.label)


def write_tearsheet(
    strategy: LoadedStrategy,
    path: Path,
    *,
    benchmark: LoadedStrategy | None = None,
) -> Path:
    """Write the QuantStats HTML tearsheet of ``strategy`` (offline: benchmark is a Series)."""
    import quantstats as qs

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    returns = returns_series(strategy.equity, strategy.label)
    if len(returns) < 3:
        raise ValueError(f"{strategy.label}: too few equity samples for a tearsheet ({len(returns)})")
    bench = _aligned_benchmark(strategy, benchmark) if benchmark is not None else None
    ppy = int(round(365 * 86_400 / strategy.interval_s))
    title = f"{strategy.label} ({strategy.metrics.get('instrument_id', '')}, {strategy.interval_s:g} s returns, 24/7)"
    def render(bench_returns: pd.Series | None, title_: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qs.reports.html(
                returns,
                benchmark=bench_returns,
                rf=0.0,
                output=str(path),
                title=title_,
                benchmark_title=benchmark.label if bench_returns is not None else None,
                periods_per_year=ppy,
                match_dates=False,
            )

    try:
        render(bench, title)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as e:
        # QuantStats' distribution plots (a KDE) fail on degenerate inputs, e.g. a benchmark
        # identical to the strategy or a flat curve: fall back to no benchmark, then give up.
        if bench is None:
            raise ValueError(f"{strategy.label}: QuantStats cannot render this curve: {e}") from e
        try:
            render(None, title + f" [benchmark {benchmark.label} dropped: degenerate]")
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as e2:
            raise ValueError(f"{strategy.label}: QuantStats cannot render this curve: {e2}") from e2
    return path


# -- comparison -----------------------------------------------------------------------------------


def comparison_frame(strategies: Sequence[LoadedStrategy]) -> pd.DataFrame:
    """One row per strategy with the headline metrics (raw numbers)."""
    rows = {s.label: flatten_summary(s.metrics) for s in strategies}
    return pd.DataFrame.from_dict(rows, orient="index")[[k for k, _, _ in SUMMARY_FIELDS]]


def _formatted(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    headers = ["strategy"] + [label for _, label, _ in SUMMARY_FIELDS]
    body = []
    for name, row in df.iterrows():
        body.append([str(name)] + [format_value(row[k], fmt) for k, _, fmt in SUMMARY_FIELDS])
    return headers, body


def to_markdown(df: pd.DataFrame) -> str:
    headers, body = _formatted(df)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def to_html(df: pd.DataFrame, *, title: str = "Strategy comparison", links: dict[str, str] | None = None) -> str:
    headers, body = _formatted(df)
    links = links or {}
    th = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = []
    for r in body:
        name = html.escape(r[0])
        if r[0] in links:
            name = f'<a href="{html.escape(links[r[0]])}">{name}</a>'
        rows.append("<tr><td>" + name + "</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in r[1:]) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child"
        "{text-align:left}th{background:#f3f3f3}</style></head><body>"
        f"<h2>{html.escape(title)}</h2><table><tr>{th}</tr>{''.join(rows)}</table>"
        "<p>Returns: per-interval simple returns of the sampled equity; Sharpe/Sortino annualised "
        "with 365*86400/interval_s periods (24/7). MO = fill mark-out (mid move after the fill "
        "plus spread captured), bps of mid.</p></body></html>\n"
    )


def rich_table(df: pd.DataFrame, *, title: str = "Strategy comparison"):
    """Terminal table, one column per strategy (metrics as rows fit narrow terminals)."""
    from rich.table import Table

    headers, body = _formatted(df)
    table = Table(title=title)
    table.add_column("metric", justify="left", no_wrap=True)
    for r in body:
        table.add_column(r[0], justify="right")
    for i, label in enumerate(headers[1:], start=1):
        table.add_row(label, *(r[i] for r in body))
    return table


@dataclass
class ReportResult:
    out_dir: Path
    table: pd.DataFrame
    tearsheets: dict[str, Path]
    strategies: list[LoadedStrategy]


def pick_benchmark(strategies: Sequence[LoadedStrategy], label: str | None) -> LoadedStrategy | None:
    if label is None:
        return strategies[0] if len(strategies) > 1 else None
    for s in strategies:
        if label in (s.label, s.name):
            return s
    raise ValueError(f"--benchmark {label!r} is not one of {[s.label for s in strategies]}")


def write_reports(
    run_dirs: Sequence[Path],
    *,
    out_dir: Path,
    benchmark: str | None = None,
    tearsheets: bool = True,
    allow_incomplete: bool = False,
) -> ReportResult:
    """Comparison table (Markdown, HTML, JSON), PnL comparison plot and one tearsheet per strategy.

    The benchmark of every tearsheet is ``benchmark`` (a strategy label), or the first strategy;
    the benchmark strategy's own tearsheet is benchmarked against the next strategy.
    """
    from backtests.plots import plot_equity_comparison

    strategies = load_run_dirs(run_dirs, allow_incomplete=allow_incomplete)
    bench = pick_benchmark(strategies, benchmark)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    single = len({s.run_dir for s in strategies}) == 1 and strategies[0].run_dir.resolve() == out_dir.resolve()
    sheets: dict[str, Path] = {}
    if tearsheets:
        for s in strategies:
            b = bench
            if b is s:
                others = [o for o in strategies if o is not s]
                b = others[0] if others else None
            target_dir = s.directory if single else out_dir / s.label.replace("/", "__")
            target_dir.mkdir(parents=True, exist_ok=True)
            sheets[s.label] = write_tearsheet(s, target_dir / "tearsheet.html", benchmark=b)
    df = comparison_frame(strategies)
    (out_dir / "comparison.md").write_text(to_markdown(df))
    links = {k: str(v.relative_to(out_dir)) for k, v in sheets.items()}
    (out_dir / "comparison.html").write_text(to_html(df, links=links))
    (out_dir / "comparison.json").write_text(
        json.dumps({s.label: s.metrics for s in strategies}, indent=2, sort_keys=True) + "\n",
    )
    plot_equity_comparison({s.label: s.equity["equity"] for s in strategies}, out_dir / "equity_comparison.png")
    return ReportResult(out_dir, df, sheets, strategies)
