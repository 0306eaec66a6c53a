"""What the operator console shows: a JSON snapshot of a running node, read from the node itself.

Every figure comes from where the node's run report (:func:`live.node.collect_report`) and the
strategies' own risk checks take it, so the page cannot disagree with either:

- PnL, position and fees: the strategy's :class:`strategies.ledger.FillLedger` (the ledger its kill
  switch reads), or, for a strategy without one, a ledger rebuilt from its fills in the cache;
- the mark: :func:`live.node.mark_price` (last mid from quotes, else from the book);
- orders, fills, the book and the account: the node's ``Cache``;
- limits: the strategy's config (``max_inventory``, ``max_loss``, ``max_drawdown``) and its
  runtime state (``kill_reason``, ``pause_reason``, ``equity_peak``).

Nothing here reads a config file, the environment or a credential: a snapshot holds market and
order data only, which is what keeps secrets off every page and API response.

The equity and inventory curves are sampled (:meth:`NodeMonitor.sample`, every
``console.sample_secs``) into bounded deques: the node keeps no PnL history of its own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from nautilus_trader.model.events import OrderFilled
from nautilus_trader.trading.strategy import Strategy

from live.node import AmmTradingNode, mark_price
from strategies.base import MarketMakerStrategy
from strategies.ledger import FillLedger

_NS_PER_MS = 1_000_000


def _exact(value: Any) -> float | None:
    """A Nautilus ``Price`` / ``Quantity`` / ``Money`` as the float of its decimal text
    (``as_double`` of 61811.3 reads 61811.299999999996)."""
    return None if value is None else float(value.as_decimal())


def _num(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


class NodeMonitor:
    """Snapshots of one node's strategies, orders, book and account, plus sampled curves.

    Parameters
    ----------
    node : AmmTradingNode
        The running node (read on its own event loop: the console serves from that loop).
    mode : str
        ``venue``, ``paper`` or ``replay`` (shown on the page).
    history_points : int
        Samples kept per strategy curve.
    book_levels : int, default 10
        Book levels shown per side.
    recent_fills : int, default 25
        Fills listed per strategy (the count covers all of them).
    """

    def __init__(
        self,
        node: AmmTradingNode,
        *,
        mode: str,
        history_points: int,
        book_levels: int = 10,
        recent_fills: int = 25,
    ) -> None:
        self._node = node
        self._mode = mode
        self._book_levels = book_levels
        self._recent_fills = recent_fills
        self._history: dict[str, deque[list[float | None]]] = {}
        self._points = history_points
        self.actions: deque[dict[str, Any]] = deque(maxlen=200)

    # -- lookups --------------------------------------------------------------------------------

    def strategies(self) -> list[Strategy]:
        return list(self._node.kernel.trader.strategies())

    def strategy(self, strategy_id: str) -> Strategy | None:
        return next((s for s in self.strategies() if str(s.id) == strategy_id), None)

    # -- curves ---------------------------------------------------------------------------------

    def sample(self) -> None:
        """Append one ``[ts_ms, equity, position, mark]`` point per strategy."""
        ts_ms = self._node.kernel.clock.timestamp_ns() // _NS_PER_MS
        for strategy in self.strategies():
            figures = self._figures(strategy)
            if figures is None:
                continue
            points = self._history.setdefault(str(strategy.id), deque(maxlen=self._points))
            points.append([ts_ms, figures["equity"], figures["position"], figures["mark"]])

    # -- snapshot -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole page's data, JSON-able."""
        kernel = self._node.kernel
        cache = kernel.cache
        return {
            "node": {
                "trader_id": str(kernel.trader_id),
                "instance_id": str(kernel.instance_id),
                "mode": self._mode,
                "running": bool(kernel.is_running()),
                "shutdown_reason": self._node.shutdown_reason,
                "kill_switch_clean": self._node.kill_switch_clean,
                "ts_ms": kernel.clock.timestamp_ns() // _NS_PER_MS,
                "wall_ms": int(time.time() * 1000),
                "open_orders": cache.orders_open_count(),
                "open_positions": cache.positions_open_count(),
                "accounts": [self._account(a) for a in cache.accounts()],
            },
            "strategies": [self._strategy(s) for s in self.strategies()],
            "actions": list(self.actions),
        }

    def record_action(self, action: str, target: str, result: str, ok: bool) -> dict[str, Any]:
        """Remember an operator action for the page's log (the node's logger has it too)."""
        entry = {"wall_ms": int(time.time() * 1000), "action": action, "target": target, "result": result, "ok": ok}
        self.actions.appendleft(entry)
        return entry

    def _account(self, account: Any) -> dict[str, Any]:
        return {
            "id": str(account.id),
            "type": account.type.name,
            "balances": [
                {"currency": str(b.currency), "total": _exact(b.total), "free": _exact(b.free), "locked": _exact(b.locked)}
                for b in account.balances().values()
            ],
        }

    def _ledger(self, strategy: Strategy) -> FillLedger | None:
        """The strategy's own ledger, else one rebuilt from its fills (a strategy of another kind)."""
        if isinstance(strategy, MarketMakerStrategy) and strategy.ledger is not None:
            return strategy.ledger
        iid = getattr(strategy.config, "instrument_id", None)
        instrument = self._node.kernel.cache.instrument(iid) if iid is not None else None
        if instrument is None:
            return None
        ledger = FillLedger(instrument)
        for fill in self._fills(strategy):
            if fill.instrument_id == iid:
                ledger.on_fill(fill)
        return ledger

    def _fills(self, strategy: Strategy) -> list[OrderFilled]:
        orders = self._node.kernel.cache.orders(strategy_id=strategy.id)
        fills = [e for o in orders for e in o.events if isinstance(e, OrderFilled)]
        return sorted(fills, key=lambda f: f.ts_event)

    def _figures(self, strategy: Strategy) -> dict[str, Any] | None:
        ledger = self._ledger(strategy)
        if ledger is None:
            return None
        iid = strategy.config.instrument_id
        mark = mark_price(self._node.kernel.cache, iid)
        equity = ledger.equity(mark) if mark else (ledger.equity(1.0) if ledger.position == 0 else None)
        return {
            "position": ledger.position,
            "avg_px": _num(ledger.avg_px) if ledger.position else None,
            "realised": _num(ledger.realised),
            "unrealised": _num(ledger.unrealised(mark)) if mark else None,
            "fees": _num(ledger.fees),
            "equity": _num(equity),
            "fills": ledger.fill_count,
            "mark": _num(mark),
            "currency": str(ledger.currency),
        }

    def _strategy(self, strategy: Strategy) -> dict[str, Any]:
        config = strategy.config
        iid = getattr(config, "instrument_id", None)
        cache = self._node.kernel.cache
        figures = self._figures(strategy) or {}
        is_mm = isinstance(strategy, MarketMakerStrategy)
        equity = figures.get("equity")
        peak = max(strategy.equity_peak, equity) if is_mm and equity is not None else None
        max_inventory = getattr(config, "max_inventory", None)
        position = figures.get("position")
        return {
            "id": str(strategy.id),
            "class": type(strategy).__name__,
            "instrument_id": str(iid) if iid is not None else None,
            "state": strategy.state.name,
            "controls": "market_maker" if is_mm else "basic",
            "figures": figures,
            "risk": {
                "max_inventory": _num(max_inventory),
                "inventory_used": (abs(position) / float(max_inventory)) if max_inventory and position is not None else None,
                "max_loss": _num(getattr(config, "max_loss", None)),
                "max_drawdown": _num(getattr(config, "max_drawdown", None)),
                "equity_peak": _num(peak),
                "drawdown": _num(peak - equity) if peak is not None else None,
                "kill_reason": getattr(strategy, "kill_reason", None),
                "pause_reason": getattr(strategy, "pause_reason", None),
            },
            "open_orders": [
                {"id": str(o.client_order_id), "side": o.side_string(), "price": _exact(o.price) if o.has_price else None,
                 "qty": _exact(o.quantity), "leaves": _exact(o.leaves_qty), "status": o.status_string()}
                for o in cache.orders_open(strategy_id=strategy.id)
            ],
            "fills": [
                {"ts_ms": f.ts_event // _NS_PER_MS, "side": "BUY" if f.order_side.name == "BUY" else "SELL",
                 "price": _exact(f.last_px), "qty": _exact(f.last_qty), "fee": _exact(f.commission),
                 "liquidity": f.liquidity_side.name}
                for f in self._fills(strategy)[-self._recent_fills:][::-1]
            ],
            "book": self._book(iid) if iid is not None else None,
            "history": list(self._history.get(str(strategy.id), ())),
        }

    def _book(self, iid: Any) -> dict[str, Any]:
        """Top levels per side: the order book when the node keeps one, else the last quote."""
        cache = self._node.kernel.cache
        book = cache.order_book(iid)
        n = self._book_levels
        if book is not None and book.best_bid_price() is not None:
            return {
                "bids": [[_exact(level.price), _num(level.size())] for level in book.bids()[:n]],
                "asks": [[_exact(level.price), _num(level.size())] for level in book.asks()[:n]],
            }
        quote = cache.quote_tick(iid)
        if quote is None:
            return {"bids": [], "asks": []}
        return {
            "bids": [[_exact(quote.bid_price), _exact(quote.bid_size)]],
            "asks": [[_exact(quote.ask_price), _exact(quote.ask_size)]],
        }
