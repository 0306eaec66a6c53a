"""The operator console: a local web page to watch a running node and stop it (``amm live --console``).

Operators of a live market maker watch it and need a hand on the brake (Hummingbot ships a
dashboard for exactly this). The console is an `aiohttp <https://docs.aiohttp.org>`_ application
served from the node's own event loop, so its handlers read the cache and call the strategies on
the thread the engines run on, as a Nautilus actor would; the page draws with Plotly.js (the copy
the ``plotly`` package ships, served locally: the console works offline). It serves:

``GET /``                                  the page (``/?token=...`` logs in, then redirects to ``/``)
``GET /api/state``                         :meth:`live.console_state.NodeMonitor.snapshot`
``POST /api/strategies/{id}/{action}``     ``pause``, ``resume``, ``cancel_all``, ``kill``
``POST /api/node/stop``                    the node's kill switch (as SIGTERM): every strategy

What each action does
    ``pause`` withdraws the strategy's quotes and places none until ``resume``; its kill switch
    stays live and its position is kept. ``cancel_all`` cancels its working orders now (it quotes
    again at the next decision unless paused). ``kill`` is the strategy's own kill switch: cancel,
    flatten with a reduce-only market order, stop. ``/api/node/stop`` is
    :meth:`live.node.AmmTradingNode.shutdown`, exactly what SIGTERM does.

Each action must be confirmed (the page asks; the API takes ``{"confirm": true}``) and is logged
on the node's logger (so in its log file) and on the page.

Security
    Off by default. Bound to a loopback address only (:class:`live.config.ConsoleSettings`), and
    every request needs the token: ``Authorization: Bearer <token>`` or the ``HttpOnly``,
    ``SameSite=Strict`` cookie set by ``/?token=``. Tokens are compared in constant time. A
    request whose ``Host`` is not the console's own address is refused (DNS rebinding), and so is
    an action whose ``Origin`` is another site. Pages carry a strict Content-Security-Policy
    (scripts from the console only). No page or response holds a config value or a credential:
    snapshots carry market and order data only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from live.config import ConsoleSettings, LiveConfig
from live.console_state import NodeMonitor
from live.node import AmmTradingNode, run_mode
from strategies.base import MarketMakerStrategy

STATIC_DIR = Path(__file__).with_name("console_static")
COOKIE = "amm_console"
MIN_TOKEN_CHARS = 16
STRATEGY_ACTIONS = ("pause", "resume", "cancel_all", "kill")

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ActionRefused(Exception):
    """An action that cannot be taken now (HTTP 409), with the reason."""


def console_token(settings: ConsoleSettings, environ: dict[str, str]) -> tuple[str, bool]:
    """``(token, generated)``: the operator's token from ``settings.token_env``, else a random one."""
    token = environ.get(settings.token_env, "")
    if token:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"{settings.token_env}: the console token must have at least {MIN_TOKEN_CHARS} characters")
        return token, False
    return secrets.token_urlsafe(32), True


def _plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@dataclass
class ConsoleAddress:
    """Where the console listens (``url`` carries no token)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


class OperatorConsole:
    """The console of one node: the aiohttp app, its sampler and the operator actions.

    Parameters
    ----------
    node : AmmTradingNode
        The node to watch and control.
    settings : ConsoleSettings
        Address, token variable, curve sampling.
    token : str
        The access token.
    mode : str
        ``venue``, ``paper`` or ``replay``.
    """

    def __init__(self, node: AmmTradingNode, settings: ConsoleSettings, token: str, mode: str) -> None:
        self._node = node
        self._settings = settings
        self._token = token
        self.monitor = NodeMonitor(node, mode=mode, history_points=settings.history_points)
        self._runner: web.AppRunner | None = None
        self._sampler: asyncio.Task | None = None
        self.address: ConsoleAddress | None = None
        self.app = self._build_app()

    # -- app ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/strategies/{strategy_id}/{action}", self._strategy_action)
        app.router.add_post("/api/node/stop", self._node_stop)
        return app

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        offered = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
        return bool(offered) and hmac.compare_digest(offered.encode(), self._token.encode())

    def _allowed_hosts(self) -> set[str]:
        port = self.address.port if self.address else self._settings.port
        return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.host not in self._allowed_hosts():
            return _error(403, f"Host {request.host!r} is not this console's address")
        if request.method == "GET" and request.path == "/" and "token" in request.query:
            offered = request.query["token"]
            if not hmac.compare_digest(offered.encode(), self._token.encode()):
                return _error(401, "wrong token")
            response = web.Response(status=303, headers={"Location": "/"})  # token off the address bar
            response.set_cookie(COOKIE, self._token, httponly=True, samesite="Strict", path="/")
            return response
        if not self._authorized(request):
            return _error(401, "token required: open the console with /?token=<token> or send 'Authorization: Bearer <token>'")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in self._allowed_hosts():
                return _error(403, f"Origin {origin!r} may not act on this console")
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "plotly.min.js":
            return web.FileResponse(_plotly_js())
        if name not in ("console.js", "console.css"):
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name)

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.monitor.snapshot())

    # -- actions --------------------------------------------------------------------------------

    async def _unconfirmed(self, request: web.Request) -> web.Response | None:
        """An error response unless the body is ``{"confirm": true}``."""
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("confirm") is not True:
            return _error(400, 'confirm the action: send {"confirm": true}')
        return None

    async def _strategy_action(self, request: web.Request) -> web.StreamResponse:
        action, sid = request.match_info["action"], request.match_info["strategy_id"]
        if action not in STRATEGY_ACTIONS:
            return _error(404, f"unknown action {action!r}; one of {', '.join(STRATEGY_ACTIONS)}")
        strategy = self.monitor.strategy(sid)
        if strategy is None:
            return _error(404, f"no strategy {sid!r} on this node")
        if (refusal := await self._unconfirmed(request)) is not None:
            return refusal
        try:
            result = self.act(strategy, action)
        except ActionRefused as e:
            self._log(action, sid, f"refused: {e}", ok=False)
            return _error(409, str(e))
        return web.json_response(self._log(action, sid, result, ok=True))

    async def _node_stop(self, request: web.Request) -> web.StreamResponse:
        if (refusal := await self._unconfirmed(request)) is not None:
            return refusal
        if self._node.shutdown_reason is not None:
            return _error(409, f"the node is already stopping ({self._node.shutdown_reason})")
        entry = self._log("stop", "node", "kill switch engaged: stopping strategies, canceling every order", ok=True)
        self._node.shutdown("operator console: stop")
        return web.json_response(entry)

    def act(self, strategy: Any, action: str) -> str:
        """Carry out one strategy action; returns what was done, raises :class:`ActionRefused`."""
        if not strategy.is_running:
            raise ActionRefused(f"{strategy.id} is {strategy.state.name}, not RUNNING")
        is_mm = isinstance(strategy, MarketMakerStrategy)
        if action in ("pause", "resume") and not is_mm:
            raise ActionRefused(f"{strategy.id} ({type(strategy).__name__}) is not a MarketMakerStrategy: it has no pause")
        if action == "pause":
            if strategy.pause_reason is not None:
                raise ActionRefused(f"{strategy.id} is already paused")
            strategy.pause_quoting("operator console")
            return "quotes canceled; quoting paused"
        if action == "resume":
            if strategy.pause_reason is None:
                raise ActionRefused(f"{strategy.id} is not paused")
            strategy.resume_quoting()
            return "quoting resumed"
        iid = strategy.config.instrument_id
        open_orders = len(self._node.kernel.cache.orders_open(strategy_id=strategy.id))
        if action == "cancel_all":
            if is_mm:
                strategy.cancel_quotes()
            else:
                strategy.cancel_all_orders(iid)
            return f"{open_orders} open orders canceled"
        if is_mm:  # kill
            strategy.kill("operator console")
        else:
            strategy.cancel_all_orders(iid)
            strategy.close_all_positions(iid, reduce_only=True)
            strategy.stop()
        return f"{open_orders} open orders canceled, position flattened, strategy stopped"

    def _log(self, action: str, target: str, result: str, *, ok: bool) -> dict[str, Any]:
        message = f"Operator console: {action} {target}: {result}"
        logger = self._node.kernel.logger
        (logger.warning if ok else logger.error)(message)
        return self.monitor.record_action(action, target, result, ok)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> ConsoleAddress:
        """Listen (on the node's loop) and start sampling the curves."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            raise ValueError(f"console: cannot listen on {self._settings.host}:{self._settings.port}: {e.strerror or e}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.address = ConsoleAddress(host, port)
        self._sampler = asyncio.get_running_loop().create_task(self._sample_forever())
        return self.address

    async def _sample_forever(self) -> None:
        while True:
            try:
                self.monitor.sample()
            except Exception as e:  # noqa: BLE001 - a display problem must not stop the node
                self._node.kernel.logger.error(f"Operator console: sampling failed: {type(e).__name__}: {e}")
            await asyncio.sleep(self._settings.sample_secs)

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _error(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    response.headers.update(_SECURITY_HEADERS)
    return response


def open_console(node: AmmTradingNode, cfg: LiveConfig, environ: dict[str, str]) -> OperatorConsole:
    """Start the console of a built node (before ``node.run()``) and say where it is on stderr.

    A generated token is printed once, in the address to open; a token from the environment is
    never printed.
    """
    token, generated = console_token(cfg.console, environ)
    console = OperatorConsole(node, cfg.console, token, mode=run_mode(cfg))
    address = node.kernel.loop.run_until_complete(console.start())
    where = f"{address.url}?token={token}" if generated else f"{address.url}?token=<${cfg.console.token_env}>"
    # To the terminal itself, not through the node's output tee: a generated token stays out of
    # the log file.
    print(f"operator console: {where}", file=sys.__stderr__, flush=True)
    return console
