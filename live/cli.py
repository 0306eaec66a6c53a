"""``amm live`` (run, paper-trade, replay or dry-run a node) and ``amm live-persist``.

Exit codes: 0 success; 1 an error: a bad config or option, missing credentials, a node that could
not start, open orders left after the kill switch (the application's policy, :mod:`amm.errors`,
prints the ``ValueError`` / ``RuntimeError`` raised here as one line on stderr). Secret values
never appear in it (they are redacted from all output, see :mod:`live.redact`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from live.config import LiveConfig

DEFAULT_REPLAY_CONFIG = Path(__file__).with_name("configs") / "replay.toml"


def register(app: typer.Typer) -> None:
    """Add the ``live`` and ``live-persist`` commands to the root ``amm`` app."""
    app.command("live")(live)
    app.command("live-persist")(live_persist)


def live(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Live deployment file (TOML/YAML, see live/configs/).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build clients and strategies (load models), print the plan, exit; connects to nothing.")] = False,
    replay: Annotated[Path | None, typer.Option("--replay", help="Replay this ParquetDataCatalog through the node on the sandbox exchange.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Replay window start (ISO 8601, UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Replay window end (ISO 8601, UTC, inclusive).")] = None,
    speed: Annotated[float | None, typer.Option("--speed", help="Replay speed as a multiple of real time (0 = unthrottled).")] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="Override node.log_level (DEBUG, INFO, WARNING, ERROR).")] = None,
    console: Annotated[bool, typer.Option("--console", help="Serve the operator console (live/console.py) on 127.0.0.1; the token comes from $AMM_CONSOLE_TOKEN or is generated and printed.")] = False,
    console_port: Annotated[int | None, typer.Option("--console-port", help="The console's port (0 = any free port; default: console.port of the file, 8780).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan / run report as JSON on stdout.")] = False,
) -> None:
    """Run a strategy on a live TradingNode: venue, paper (sandbox) or offline replay.

    SIGINT / SIGTERM engage the kill switch: strategies stop, every open order is canceled
    (positions flattened if kill_switch.flatten_on_stop), then the node stops. API keys come only
    from the environment or a mounted secret (AMM_SECRETS_PATH).
    """
    from live.config import ReplaySettings, load_config

    if config is None and replay is None:
        raise ValueError("pass --config FILE (or --replay CATALOG for an offline replay)")
    if replay is None and (start or end or speed is not None):
        raise ValueError("--start/--end/--speed need --replay CATALOG")
    if speed is not None and speed < 0:
        raise ValueError(f"--speed must be >= 0 (0 = unthrottled), got {speed:g}")
    if log_level is not None and log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    if console_port is not None and not 0 <= console_port <= 65535:
        raise ValueError(f"--console-port must be 0..65535, got {console_port}")
    cfg = load_config(config or DEFAULT_REPLAY_CONFIG)
    if console or console_port is not None:
        cfg = cfg.with_console(enabled=True, port=console_port)
    if replay is not None:
        if not replay.is_dir():
            raise NotADirectoryError(f"--replay: {replay} is not a catalog directory")
        cfg = cfg.with_replay(ReplaySettings(
            catalog_path=str(replay),
            start=start or cfg.replay.start,
            end=end or cfg.replay.end,
            speed=speed if speed is not None else cfg.replay.speed,
            data_types=cfg.replay.data_types,
        ))
    _check_replay_window(cfg)
    raise typer.Exit(_run(cfg, dry_run=dry_run, log_level=log_level, as_json=as_json))


def _check_replay_window(cfg: LiveConfig) -> None:
    from live.config import ConfigError
    from live.replay import to_ns

    if cfg.venue.adapter != "replay":
        return
    try:
        lo, hi = to_ns(cfg.replay.start, name="start"), to_ns(cfg.replay.end, name="end")
    except ValueError as e:
        raise ConfigError(cfg.source, "replay", str(e)) from None
    if lo is not None and hi is not None and hi < lo:
        raise ConfigError(cfg.source, "replay.end", f"{cfg.replay.end} is before start {cfg.replay.start}")


def _run(cfg: LiveConfig, *, dry_run: bool, log_level: str | None, as_json: bool) -> int:
    from live.redact import OutputRedactor, Redactor
    from live.secrets import resolve_credentials

    from live.node import credential_specs

    secrets_path = Path(cfg.node.secrets_path) if cfg.node.secrets_path else None
    resolved, values = resolve_credentials(credential_specs(cfg), secrets_path)
    redactor = Redactor(values)
    colors = sys.stdout.isatty() and not as_json
    log_file = Path(cfg.node.log_file) if cfg.node.log_file and not dry_run else None
    # With --json, stdout carries the JSON document alone; every log line goes to stderr.
    with OutputRedactor(redactor, log_file=log_file, logs_to_stderr=as_json) as out:
        emit_json = out.result if as_json else None
        try:
            if dry_run:
                return _dry_run(cfg, [r.describe() for r in resolved], emit_json)
            return _live_run(cfg, log_level=log_level, colors=colors, emit_json=emit_json)
        except (typer.Exit, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - whatever the node raised, its message is redacted
            from live.config import ConfigError

            if isinstance(e, ConfigError):
                raise
            first_line = redactor.redact(str(e)).splitlines()[0] if str(e) else ""
            if type(e) is ValueError:  # a user error of ours: its message is the whole story
                raise ValueError(first_line) from None
            raise RuntimeError(f"{type(e).__name__}: {first_line}") from None  # the cause may hold a secret


def _dry_run(cfg: LiveConfig, credentials: list[str], emit_json: Callable[[str], None] | None) -> int:
    from live.node import build_node, describe_plan, preflight_strategies

    node = build_node(cfg, log_level="ERROR", dry_run=True)
    try:
        preflight = preflight_strategies(node)
        plan = describe_plan(cfg, node, credentials, preflight)
    finally:
        node.dispose()
    if emit_json is not None:
        emit_json(json.dumps(plan, indent=2, default=str))
    else:
        _print_plan(plan)
    return 0


def _print_plan(plan: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"amm live plan ({plan['mode']}): {plan['config']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    v = plan["venue"]
    table.add_row("venue", f"{v['adapter']} {v['account_type']} {v['environment']} ({v['name']})")
    table.add_row("data client", f"{plan['data_client']['config']}")
    table.add_row("exec client", f"{plan['exec_client']['config']}")
    table.add_row("instruments", ", ".join(plan["instruments"]))
    for s in plan["strategies"]:
        table.add_row("strategy", f"{s['id']} ({s['module']}.{s['class']}) from {s['from']}")
    r = plan["risk"]
    table.add_row("risk", f"submit {r['max_order_submit_rate']}, modify {r['max_order_modify_rate']}, "
                          f"max notional {r['max_notional_per_order'] or 'unlimited'}")
    k = plan["kill_switch"]
    table.add_row("kill switch", f"cancel all on SIGINT/SIGTERM, flatten={k['flatten_on_stop']}, timeout {k['cancel_timeout_secs']} s")
    rc = plan["reconciliation"]
    table.add_row("reconciliation", f"enabled={rc['enabled']}, claim external orders={rc['claim_external_orders']}")
    if plan["sandbox"]:
        sb = plan["sandbox"]
        table.add_row("sandbox", f"{', '.join(sb['starting_balances'])} {sb['account_type']} {sb['oms_type']} {sb['book_type']}")
    if plan["replay"]:
        rp = plan["replay"]
        table.add_row("replay", f"{rp['catalog_path']} {rp['start'] or 'first'} -> {rp['end'] or 'last'} at {rp['speed']:g}x")
    table.add_row("persistence", f"{plan['persistence']['catalog_path']} {plan['persistence']['types']}" if plan["persistence"] else "off")
    if plan.get("console"):
        c = plan["console"]
        table.add_row("console", f"http://{c['host']}:{c['port']}/ (token {c['token']})")
    table.add_row("credentials", ", ".join(plan["credentials"]) or "none needed")
    for note in plan["preflight"]:
        table.add_row("preflight", note)
    Console().print(table)


def _live_run(cfg: LiveConfig, *, log_level: str | None, colors: bool, emit_json: Callable[[str], None] | None) -> int:
    import os

    from live.node import build_node, run_node

    node = build_node(cfg, log_level=log_level, colors=colors)
    console = None
    if cfg.console.enabled:
        from live.console import open_console

        try:
            console = open_console(node, cfg, dict(os.environ))
        except BaseException:
            node.dispose()
            raise
    report = run_node(node, cfg, console=console)
    if emit_json is not None:
        emit_json(json.dumps(report.as_dict(), default=str))  # one line, the whole of stdout
    else:
        typer.echo(
            f"stopped ({report.reason}): {report.orders} orders, {report.fills} fills, "
            f"{len(report.open_orders)} open orders, {len(report.open_positions)} open positions",
        )
        for iid, p in report.pnl.items():
            typer.echo(
                f"  {iid}: {p['fills']} fills, PnL {p['equity']:.4f} {p['currency']} net of {p['fees']:.4f} fees "
                f"(position {p['position']:g} marked at {p['mark']:g})",
            )
        for run, rows in (report.persisted or {}).items():
            typer.echo(f"  persisted run {run} into {cfg.node.catalog_path}: {rows}")
    if report.open_orders:
        typer.echo(f"error: {len(report.open_orders)} orders still open after the kill switch; check the venue", err=True)
        return 1
    return 0


def live_persist(
    catalog: Annotated[Path, typer.Option("--catalog", "-c", help="The node's catalog_path.")],
    keep_stream: Annotated[bool, typer.Option("--keep-stream", help="Keep the streamed feather files after conversion.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows converted per run as JSON.")] = False,
) -> None:
    """Convert market data streamed by live runs (e.g. one that crashed) into the Parquet catalog."""
    from live.persist import persist_live_runs

    if not catalog.is_dir():
        raise NotADirectoryError(f"--catalog: {catalog} is not a directory")
    done = persist_live_runs(catalog, keep_stream=keep_stream)
    if as_json:
        typer.echo(json.dumps(done, indent=2))
        return
    if not done:
        typer.echo(f"nothing to persist in {catalog}/live")
    for run, rows in done.items():
        typer.echo(f"{run}: {rows}")
