"""QuantStats tearsheets and the strategy comparison table of one or more run directories.

The tearsheet of a strategy uses *another strategy's* returns as its benchmark (a local Series).
QuantStats treats a string benchmark as a ticker and downloads it from Yahoo: never pass one.
The tearsheet's returns are one-minute returns of the sampled equity, annualised with the
market's trading hours (24/7 for crypto, 252 sessions of 6.5 h for US equities), both stated on
the page; ``metrics.json`` keeps its per-sample figures. Beside it, ``backtests.mm_report`` writes
the market-making report of the run.
"""

from __future__ import annotations

import html
import json
import logging
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.metrics import (
    SUMMARY_FIELDS,
    flatten_summary,
    format_value,
    intraday_returns,
    return_grid_s,
    sharpe_per_hour,
)

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


HOURS_24_7 = 365 * 24
HOURS_EXCHANGE_SESSION = 252 * 6.5
"""Trading hours a year: a 24/7 crypto venue, or 252 regular US equity sessions of 6.5 h."""


def trading_hours_per_year(metrics: dict[str, Any]) -> float:
    """The market's trading hours a year, from ``metrics.json`` (``trading_hours_per_year``, written
    by the runner from the instrument's asset class), else 24/7."""
    return float(metrics.get("trading_hours_per_year") or HOURS_24_7)


def _percent(x: float, _pos: object = None) -> str:
    """Percent axis labels with the digits the figures need (QuantStats 0.0.86 prints ``"%1.0f%%"``,
    so every axis of a market maker's returns reads 0%)."""
    v = x * 100
    if v == 0:
        return "0%"
    return f"{v:,.0f}%" if abs(v) >= 100 else f"{v:.3g}%"


@contextmanager
def _quantstats_percent_axes():
    """Use :func:`_percent` for QuantStats' percent axes while a tearsheet renders.

    QuantStats has no option for its axis format; its plotting functions look the formatter up in
    their module when they run, so replacing it for the duration of one render (and restoring it)
    is the least intrusive fix."""
    from quantstats._plotting import core

    original = core.format_pct_axis
    core.format_pct_axis = _percent
    try:
        yield
    finally:
        core.format_pct_axis = original


TEMPLATE = Path(__file__).with_name("tearsheet_template.html")
"""Our QuantStats template: the return, drawdown and benchmark sections that mean something for a
run of minutes to days, and none of the calendar sections (monthly distributions, end-of-year
bars, daily returns, CAGR, drawdown periods counted in whole days) that QuantStats' own template
adds."""


def tearsheet_stats(returns: pd.Series, periods_per_year: float, grid_s: float) -> list[tuple[str, str]]:
    """The tearsheet's table: QuantStats' statistics (``qs.stats``) at the precision they need."""
    import quantstats as qs

    def pct(x: float) -> str:
        return "–" if x is None or not np.isfinite(x) else _percent(float(x))

    def num(x: float, spec: str = ".2f") -> str:
        return "–" if x is None or not np.isfinite(x) else format(float(x), spec)

    r = returns
    ppy = periods_per_year
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rows = [
            ("Returns", f"{grid_s:g} s, {len(r):,} periods"),
            ("Periods a year (annualisation)", f"{ppy:,.0f}"),
            ("Cumulative return", pct(qs.stats.comp(r))),
            ("Sharpe (annualised)", num(qs.stats.sharpe(r, periods=ppy))),
            ("Sharpe per hour of trading", num(sharpe_per_hour(r, grid_s))),
            ("Probabilistic Sharpe ratio", num(qs.stats.probabilistic_sharpe_ratio(r, periods=ppy))),
            ("Sortino (annualised)", num(qs.stats.sortino(r, periods=ppy))),
            ("Volatility (annualised)", pct(qs.stats.volatility(r, periods=ppy))),
            ("Max drawdown", pct(qs.stats.max_drawdown(r))),
            ("Ulcer index", num(qs.stats.ulcer_index(r), ".3g")),
            ("Time in market (non-zero returns)", pct(qs.stats.exposure(r))),
            ("Win rate (periods)", pct(qs.stats.win_rate(r))),
            ("Average win", pct(qs.stats.avg_win(r))),
            ("Average loss", pct(qs.stats.avg_loss(r))),
            ("Payoff ratio", num(qs.stats.payoff_ratio(r))),
            ("Profit factor", num(qs.stats.profit_factor(r))),
            ("Gain/pain ratio", num(qs.stats.gain_to_pain_ratio(r))),
            ("Tail ratio", num(qs.stats.tail_ratio(r))),
            ("Value at risk (95 %, one period)", pct(qs.stats.value_at_risk(r))),
            ("Expected shortfall (95 %, one period)", pct(qs.stats.cvar(r))),
            ("Skew", num(qs.stats.skew(r))),
            ("Kurtosis", num(qs.stats.kurtosis(r))),
            ("Max consecutive wins", num(qs.stats.consecutive_wins(r), ".0f")),
            ("Max consecutive losses", num(qs.stats.consecutive_losses(r), ".0f")),
        ]
    return rows


def write_tearsheet(
    strategy: LoadedStrategy,
    path: Path,
    *,
    benchmark: LoadedStrategy | None = None,
    grid_s: float | None = None,
) -> Path:
    """Write the QuantStats HTML tearsheet of ``strategy`` (offline: benchmark is a Series).

    Returns are one-minute returns of the sampled equity (``grid_s``, default
    :func:`return_grid_s`: finer for a run of minutes), annualised with the market's
    trading hours (:func:`trading_hours_per_year`); both are stated on the page. The metrics table
    is :func:`tearsheet_stats` (QuantStats rounds its own table to two decimals, which shows a
    market maker's returns as 0); the plots are QuantStats' with percent axes that show the figures.
    """
    import quantstats as qs

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    if grid_s is None:
        grid_s = return_grid_s(strategy.equity, strategy.interval_s)
    returns = intraday_returns(strategy.equity, grid_s, strategy.label)
    if len(returns) < 3:
        raise ValueError(f"{strategy.label}: too few {grid_s:g} s returns for a tearsheet ({len(returns)}); "
                         f"the run is {strategy.metrics.get('duration_s', 0):.0f} s long")
    bench = None
    if benchmark is not None:
        b = intraday_returns(benchmark.equity, grid_s, benchmark.label)
        bench = b.reindex(returns.index).fillna(0.0)
    hours = trading_hours_per_year(strategy.metrics)
    ppy = int(round(hours * 3600 / grid_s))
    calendar = "24/7" if hours == HOURS_24_7 else f"{hours:,.0f} trading hours a year"
    title = f"{strategy.label} ({strategy.metrics.get('instrument_id', '')}, {grid_s:g} s returns, {calendar})"
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in tearsheet_stats(returns, ppy, grid_s))
    note = (f"Returns: simple returns of the equity sampled every {grid_s:g} s; annualised with {ppy:,} periods a "
            f"year ({calendar}). QuantStats {qs.__version__}; rf = 0.")

    def render(bench_returns: pd.Series | None, title_: str) -> None:
        with warnings.catch_warnings(), _quantstats_percent_axes():
            warnings.simplefilter("ignore")
            qs.reports.html(
                returns,
                benchmark=bench_returns,
                rf=0.0,
                output=str(path),
                title=title_,
                benchmark_title=benchmark.label if bench_returns is not None else None,
                strategy_title=strategy.label,
                periods_per_year=ppy,
                match_dates=False,
                template_path=str(TEMPLATE),
            )
        page = path.read_text(encoding="utf-8")
        page = page.replace("<!--amm:stats-->", table).replace("<!--amm:note-->", html.escape(note))
        path.write_text(page, encoding="utf-8")

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


def to_html(df: pd.DataFrame, *, title: str = "Strategy comparison", links: dict[str, str] | None = None,
            report: str | None = None) -> str:
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
        "with 365*86400/interval_s periods (24/7), a ranking figure; Sharpe/h = Sharpe of one "
        "hour of trading on one-minute returns (x sqrt(60)), not annualised. MO = fill mark-out (mid move after the fill "
        "plus spread captured), bps of mid.</p>"
        + (f'<p>The market-making report (PnL split, inventory, quotes, mark-outs, queue): '
           f'<a href="{html.escape(report)}">{html.escape(report)}</a></p>' if report else "")
        + "</body></html>\n"
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
    mm_report: Path | None = None


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
    """Comparison table (Markdown, HTML, JSON), PnL comparison plot and, with ``tearsheets``, the
    market-making report of every strategy side by side (``mm_report.html``) and one tearsheet per
    strategy.

    The benchmark of every tearsheet is ``benchmark`` (a strategy label), or the first strategy;
    the benchmark strategy's own tearsheet is benchmarked against the next strategy.
    """
    from backtests.mm_report import REPORT_NAME as MM_REPORT_NAME
    from backtests.mm_report import write_mm_report
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
    (out_dir / "comparison.html").write_text(to_html(df, links=links, report=MM_REPORT_NAME if tearsheets else None))
    (out_dir / "comparison.json").write_text(
        json.dumps({s.label: s.metrics for s in strategies}, indent=2, sort_keys=True) + "\n",
    )
    plot_equity_comparison({s.label: s.equity["equity"] for s in strategies}, out_dir / "equity_comparison.png",
                           positions={s.label: s.equity["position"] for s in strategies if "position" in s.equity})
    # the HTML pages are for people: a sweep trial or a walk-forward task asks for neither
    mm_report = write_mm_report(strategies, out_dir / MM_REPORT_NAME) if tearsheets else None
    return ReportResult(out_dir, df, sheets, strategies, mm_report)
