"""The operator console (``amm live --console``) on a real replay node.

Each end-to-end test runs ``amm live --replay`` on the real USD-M capture in a subprocess with the
console on, drives it over HTTP (every run) and in headless Chromium (when a Chromium is
installed), and checks what it shows against the node's own JSON run report.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from catalog.config_io import ConfigError
from live.config import ConsoleSettings, load_config
from live.console import MIN_TOKEN_CHARS, console_token
from tests.helpers import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
IID = "BTCUSDT-PERP.BINANCE"
TOKEN = "console-test-token-7f3a9c"
STRATEGY = "FixedSpreadMarketMaker-000"


# -- settings -------------------------------------------------------------------------------------


def test_console_is_off_by_default_and_loopback_only(tmp_path):
    shipped = load_config(REPO / "live" / "configs" / "replay.toml")
    assert shipped.console.enabled is False
    assert shipped.with_console(port=0).console == ConsoleSettings(enabled=True, port=0)
    config = tmp_path / "public.toml"
    config.write_text((REPO / "live" / "configs" / "replay.toml").read_text().replace(
        "[console]\n", '[console]\nhost = "0.0.0.0"\n'))
    with pytest.raises(ConfigError) as e:
        load_config(config)
    assert "console.host" in str(e.value) and len(str(e.value).splitlines()) == 1


def test_console_token_from_the_environment_or_generated():
    settings = ConsoleSettings(enabled=True)
    assert console_token(settings, {"AMM_CONSOLE_TOKEN": TOKEN}) == (TOKEN, False)
    generated, was_generated = console_token(settings, {})
    assert was_generated and len(generated) >= MIN_TOKEN_CHARS
    assert console_token(settings, {})[0] != generated
    with pytest.raises(ValueError, match="at least 16 characters"):
        console_token(settings, {"AMM_CONSOLE_TOKEN": "short"})


def test_dry_run_plan_names_the_console_without_its_token(capture_catalog):
    catalog, _, _ = capture_catalog
    out = subprocess.run(
        [sys.executable, "-m", "amm.cli", "live", "--replay", str(catalog), "--console", "--console-port", "8791",
         "--dry-run", "--json"],
        cwd=REPO, env={**os.environ, "AMM_CONSOLE_TOKEN": TOKEN}, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    plan = json.loads(out.stdout)
    assert plan["console"]["port"] == 8791 and plan["console"]["host"] == "127.0.0.1"
    assert TOKEN not in out.stdout + out.stderr


# -- a replay node with the console on ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat()


class ConsoleNode:
    """``amm live --replay ... --console`` in a subprocess, and an HTTP client for its console."""

    def __init__(self, catalog: Path, first_ns: int, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.bodies: list[str] = []  # every response body, for the secrets check
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amm.cli", "live", "--replay", str(catalog),
             "--start", _iso(first_ns + 2_000_000_000), "--end", _iso(first_ns + 58_000_000_000), "--speed", "1",
             "--console", "--console-port", str(self.port), "--json"],
            cwd=REPO, env={**env, "AMM_CONSOLE_TOKEN": TOKEN}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(headers or {}))
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        self.bodies.append(text)
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def state(self) -> dict[str, Any]:
        status, body = self.request("GET", "/api/state")
        assert status == 200, body
        return body

    def strategy(self) -> dict[str, Any]:
        return next(s for s in self.state()["strategies"] if s["id"] == STRATEGY)

    def wait(self, predicate: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the node exited while waiting for {what}: {self.proc.stderr.read()[-2000:]}"
            try:
                strategy = self.strategy()
            except (urllib.error.URLError, ConnectionError):
                strategy = None
            if strategy is not None and predicate(strategy):
                return strategy
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def finish(self, timeout: float = 60.0) -> tuple[int, dict[str, Any], str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, json.loads(out), err

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def console_node(capture_catalog, fake_keys):
    catalog, first, _ = capture_catalog
    node = ConsoleNode(catalog, first, dict(os.environ))
    try:
        node.wait(lambda s: s["figures"].get("fills", 0) > 0 and s["open_orders"], "fills and resting quotes")
        yield node
    finally:
        node.close()


def _report_figures(report: dict[str, Any]) -> dict[str, float]:
    pnl = report["pnl"][IID]
    return {k: pnl[k] for k in ("fills", "position", "fees", "equity")}


@pytest.mark.slow
def test_console_refuses_every_request_without_the_token(console_node):
    node = console_node
    assert node.request("GET", "/api/state", token=None)[0] == 401
    assert node.request("GET", "/api/state", token="wrong-token-0123456789")[0] == 401
    assert node.request("GET", "/", token=None)[0] == 401
    assert node.request("GET", "/static/console.js", token=None)[0] == 401
    assert node.request("POST", f"/api/strategies/{STRATEGY}/kill", {"confirm": True}, token=None)[0] == 401
    assert node.request("POST", "/api/node/stop", {"confirm": True}, token=None)[0] == 401
    # With the token, still refused: another Host (DNS rebinding), another Origin, no confirmation.
    assert node.request("GET", "/api/state", headers={"Host": f"attacker.example:{node.port}"})[0] == 403
    assert node.request("POST", f"/api/strategies/{STRATEGY}/kill", {"confirm": True},
                        headers={"Origin": "http://attacker.example"})[0] == 403
    assert node.request("POST", f"/api/strategies/{STRATEGY}/kill", {})[0] == 400
    assert node.request("POST", f"/api/strategies/{STRATEGY}/explode", {"confirm": True})[0] == 404
    assert node.request("POST", "/api/strategies/NoSuch-000/kill", {"confirm": True})[0] == 404
    # None of that did anything: the strategy is running and quoting.
    assert node.wait(lambda s: s["state"] == "RUNNING" and s["open_orders"], "still quoting")
    assert node.state()["actions"] == []


@pytest.mark.slow
def test_console_pause_resume_kill_and_stop_over_http(console_node, fake_keys):
    node = console_node
    status, entry = node.request("POST", f"/api/strategies/{STRATEGY}/pause", {"confirm": True})
    assert status == 200 and entry["ok"], entry
    paused = node.wait(lambda s: s["risk"]["pause_reason"] and not s["open_orders"], "quotes withdrawn on pause")
    assert paused["state"] == "RUNNING"
    time.sleep(1.5)  # market data keeps coming: a paused strategy places nothing
    assert node.strategy()["open_orders"] == []
    assert node.request("POST", f"/api/strategies/{STRATEGY}/pause", {"confirm": True})[0] == 409

    assert node.request("POST", f"/api/strategies/{STRATEGY}/resume", {"confirm": True})[0] == 200
    node.wait(lambda s: s["risk"]["pause_reason"] is None and s["open_orders"], "quotes back after resume")

    status, entry = node.request("POST", f"/api/strategies/{STRATEGY}/kill", {"confirm": True})
    assert status == 200, entry
    killed = node.wait(
        lambda s: s["state"] == "STOPPED" and not s["open_orders"] and s["figures"]["position"] == 0,
        "killed: stopped, no orders, flat",
    )
    assert killed["risk"]["kill_reason"] == "operator console"
    assert node.state()["node"]["open_orders"] == 0
    assert node.request("POST", f"/api/strategies/{STRATEGY}/kill", {"confirm": True})[0] == 409
    shown = {k: killed["figures"][k] for k in ("fills", "position", "fees", "equity")}
    assert [(a["action"], a["ok"]) for a in node.state()["actions"]] == [  # newest first, refusals too
        ("kill", False), ("kill", True), ("resume", True), ("pause", False), ("pause", True)]

    assert node.request("POST", "/api/node/stop", {"confirm": True})[0] == 200
    rc, report, err = node.finish()
    assert rc == 0, err[-2000:]
    assert report["reason"] == "operator console: stop"
    assert report["open_orders"] == [] and report["kill_switch_clean"] is True
    assert _report_figures(report) == pytest.approx(shown, abs=1e-9)
    for action in ("pause", "resume", "kill", "stop"):
        assert f"Operator console: {action}" in err  # logged on the node's logger
    for body in node.bodies:
        assert TOKEN not in body
        for secret in fake_keys.values():
            assert secret not in body


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt install chromium, or set AMM_CHROMIUM)")
def test_console_in_headless_chromium_shows_the_node_and_kills_it(console_node, tmp_path, fake_keys):
    from playwright.sync_api import sync_playwright

    node = console_node
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: d.accept())  # confirm every action
            page.goto(f"{node.base}/?token={TOKEN}")
            assert page.url == f"{node.base}/", "the token must leave the address bar"
            card = page.locator(f'[data-strategy="{STRATEGY}"]')
            card.wait_for()
            page.wait_for_function("document.body.dataset.updated !== undefined")
            page.locator(f'[data-strategy="{STRATEGY}"] .js-plotly-plot').first.wait_for()
            html = page.content()
            assert TOKEN not in html and not any(v in html for v in fake_keys.values())

            card.locator('button[data-action="kill"]').click()
            card.locator('[data-field="state"]', has_text="KILLED").wait_for(timeout=20_000)
            page.wait_for_function(
                f"""() => {{
                    const card = document.querySelector('[data-strategy="{STRATEGY}"]');
                    return card.querySelector('[data-table="orders"] tbody').children.length === 0
                        && card.querySelector('[data-field="position"]').dataset.raw === "0";
                }}""",
                timeout=20_000,
            )
            page.wait_for_timeout(1500)  # one more refresh: the figures have settled
            shown = {f: float(card.locator(f'[data-field="{f}"]').get_attribute("data-raw"))
                     for f in ("fills", "position", "fees", "equity")}
            assert card.locator('[data-field="fills"]').inner_text() == str(int(shown["fills"]))
            assert page.locator("#actions tbody tr").first.inner_text().split("\t")[1:3] == ["kill", STRATEGY]
            page.screenshot(path=str(tmp_path / "console.png"), full_page=True)

            errors_while_running = list(errors)
            page.locator("#stop-node").click()
            rc, report, err = node.finish()
            page.locator('[data-node="link"].down').wait_for(timeout=10_000)
        finally:
            browser.close()
    assert rc == 0, err[-2000:]
    assert report["reason"] == "operator console: stop" and report["open_orders"] == []
    assert _report_figures(report) == pytest.approx(shown, abs=1e-9)
    assert errors_while_running == []  # after the stop the page's fetches fail: the node has gone
    print(f"console screenshot: {tmp_path / 'console.png'}")
