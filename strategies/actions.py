"""Actions to quote targets: the action space and its mapping, shared by env and strategy.

Two parameterisations:

* **Discrete** (Spooner et al. 2018, §4.2): action ``i`` picks a pair of offsets from the grid,
  in ticks behind the same-side best (``bid = best_bid - b * tick``, ``ask = best_ask + a * tick``),
  so the agent chooses how aggressively to join the touch on each side. With
  ``allow_no_quote`` a side can also be pulled, which gives the one-sided and flat actions.
* **Continuous**: ``Box([-1, 1]^2)``: half-spread around the mid and a skew that shifts both
  quotes, the form of Avellaneda & Stoikov (2008) quotes (reservation price = mid - skew).

The mapper returns a :class:`strategies.quoting.Quotes` target; rounding to the tick grid, the
post-only no-cross clamp and the inventory limit are the quote manager's job, so the environment
and :class:`strategies.policy.PolicyMarketMaker` send identical orders for identical actions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from gymnasium import spaces

from strategies.agent import ActionConfig
from strategies.quoting import Quotes


class ActionMapper:
    """Build the action space of an :class:`ActionConfig` and map actions to quote targets.

    Parameters
    ----------
    config : ActionConfig
        The action parameterisation.
    tick_size : float
        Instrument price increment.
    order_qty : float
        Size of each quote.
    """

    def __init__(self, config: ActionConfig, *, tick_size: float, order_qty: float) -> None:
        if not tick_size > 0:
            raise ValueError(f"tick_size must be > 0, got {tick_size}")
        self.config = config
        self._tick = float(tick_size)
        self._qty = float(order_qty)
        self.space: spaces.Space
        if config.kind == "discrete":
            bids: list[int | None] = list(config.bid_offsets_ticks)
            asks: list[int | None] = list(config.ask_offsets_ticks)
            if config.allow_no_quote:
                bids.append(None)
                asks.append(None)
            self.grid: tuple[tuple[int | None, int | None], ...] = tuple(itertools.product(bids, asks))
            self.space = spaces.Discrete(len(self.grid))
        else:
            self.grid = ()
            self.space = spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)
        lo, hi = config.min_half_spread_ticks, config.max_half_spread_ticks
        self._hs_mid, self._hs_half = (lo + hi) / 2.0, (hi - lo) / 2.0

    def describe(self, action: int | np.ndarray) -> str:
        """Human-readable form of an action (for logs and ``info``)."""
        if self.config.kind == "discrete":
            b, a = self.grid[int(action)]
            return f"bid {'-' if b is None else f'best-{b}t'} / ask {'-' if a is None else f'best+{a}t'}"
        hs, skew = self.half_spread_skew_ticks(action)
        return f"half-spread {hs:.2f}t, skew {skew:+.2f}t"

    def half_spread_skew_ticks(self, action: np.ndarray) -> tuple[float, float]:
        """Continuous action in [-1, 1]^2 (clipped) to (half-spread, skew) in ticks."""
        a0 = min(1.0, max(-1.0, float(action[0])))
        a1 = min(1.0, max(-1.0, float(action[1])))
        return self._hs_mid + a0 * self._hs_half, a1 * self.config.max_skew_ticks

    def quotes(self, action: int | np.ndarray, best_bid: float, best_ask: float) -> Quotes:
        """Quote target for ``action`` given the current top of book.

        Raises
        ------
        ValueError
            If a discrete action is outside the grid or a continuous one has the wrong shape or
            non-finite values (a broken policy must fail loudly, not quote garbage).
        """
        qty = self._qty
        tick = self._tick
        if self.config.kind == "discrete":
            idx = int(action)
            if not 0 <= idx < len(self.grid):
                raise ValueError(f"action {action!r} outside Discrete({len(self.grid)})")
            b, a = self.grid[idx]
            bid = None if b is None else best_bid - b * tick
            ask = None if a is None else best_ask + a * tick
            return Quotes(bid, ask, qty if bid is not None else 0.0, qty if ask is not None else 0.0)
        arr = np.asarray(action, dtype=np.float64).reshape(-1)
        if arr.shape != (2,) or not (math.isfinite(arr[0]) and math.isfinite(arr[1])):
            raise ValueError(f"continuous action must be 2 finite numbers, got {action!r}")
        hs, skew = self.half_spread_skew_ticks(arr)
        mid = 0.5 * (best_bid + best_ask)
        return Quotes(mid - (hs + skew) * tick, mid + (hs - skew) * tick, qty, qty)
