"""PnL accounting and the configurable per-step reward.

The strategy keeps its own PnL from its fills (:class:`PnLTracker`) instead of asking the
portfolio each step: it is exact (average-cost accounting, commissions as the venue charged
them, rebates included), it is cheap on the hot path, and the environment and
:class:`strategies.policy.PolicyMarketMaker` compute it with the same code.

Rewards follow Spooner et al. (2018), "Market Making via Reinforcement Learning", §4.3: the PnL
change splits into a spread part (earned on fills) and an inventory part
``q_{t-1} * (mid_t - mid_{t-1})``; the *dampened* rewards (their eq. 4 and 5) shrink the
inventory part, symmetrically or only its gains, so that the agent is paid for providing
liquidity rather than for speculating. A quadratic running inventory penalty (as in the
Guéant-Lehalle-Fernandez-Tapia (2013) objective) and a terminal liquidation cost complete the
standard menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from rl.config import RewardConfig


class PnLTracker:
    """Average-cost PnL of one instrument from fills, marked to mid.

    Linear contracts: PnL in quote currency, ``q * multiplier * (mid - avg)``. Inverse contracts
    (COIN-M): PnL in base currency, ``q * multiplier * (1/avg - 1/mid)``.

    Parameters
    ----------
    multiplier : float
        Contract multiplier.
    is_inverse : bool
        Whether the instrument is inverse.
    """

    __slots__ = ("fees", "inverse", "mult", "position", "avg_px", "realised", "fills", "volume")

    def __init__(self, *, multiplier: float = 1.0, is_inverse: bool = False) -> None:
        self.mult = float(multiplier)
        self.inverse = bool(is_inverse)
        self.reset()

    def reset(self) -> None:
        self.position = 0.0
        self.avg_px = 0.0
        self.realised = 0.0
        self.fees = 0.0
        self.fills = 0
        self.volume = 0.0

    def _pnl_per_unit(self, entry: float, exit_: float) -> float:
        if self.inverse:
            return self.mult * (1.0 / entry - 1.0 / exit_)
        return self.mult * (exit_ - entry)

    def on_fill(self, *, is_buy: bool, qty: float, price: float, commission: float) -> None:
        """Apply one fill; ``commission`` in settlement currency (negative = rebate)."""
        signed = qty if is_buy else -qty
        pos = self.position
        self.fees += commission
        self.fills += 1
        self.volume += qty
        if pos == 0.0 or (pos > 0) == (signed > 0):
            new = pos + signed
            self.avg_px = (self.avg_px * abs(pos) + price * qty) / abs(new)
            self.position = new
            return
        closed = min(abs(pos), qty)
        direction = 1.0 if pos > 0 else -1.0
        self.realised += direction * closed * self._pnl_per_unit(self.avg_px, price)
        new = pos + signed
        if abs(new) < 1e-12:
            self.position, self.avg_px = 0.0, 0.0
        elif (new > 0) != (pos > 0):
            self.position, self.avg_px = new, price  # flipped: the rest opens at this price
        else:
            self.position = new

    def unrealised(self, mid: float) -> float:
        if self.position == 0.0:
            return 0.0
        return self.position * self._pnl_per_unit(self.avg_px, mid)

    def total(self, mid: float) -> float:
        """Realised + unrealised - fees: PnL marked to ``mid``."""
        return self.realised + self.unrealised(mid) - self.fees

    def inventory_pnl(self, position: float, mid_prev: float, mid: float) -> float:
        """PnL of holding ``position`` while the mid moved from ``mid_prev`` to ``mid``."""
        return position * self._pnl_per_unit(mid_prev, mid)


@dataclass(frozen=True, slots=True)
class RewardTerms:
    """One step's reward and its parts (all in reward units)."""

    reward: float
    pnl_change: float
    inventory_pnl: float
    inventory_penalty: float
    terminal_penalty: float


class RewardFunction:
    """Per-step reward of a :class:`RewardConfig`, in units of ``value_per_tick``.

    Parameters
    ----------
    config : RewardConfig
    value_per_tick : float
        PnL of one tick on one ``order_qty`` (quote currency for linear contracts): rewards are
        divided by it so that "1.0" means "captured one tick on one quote".
    order_qty, max_inventory : float
        Normalisers of the inventory penalties.
    """

    def __init__(
        self,
        config: RewardConfig,
        *,
        value_per_tick: float,
        order_qty: float,
        max_inventory: float,
    ) -> None:
        if not value_per_tick > 0:
            raise ValueError(f"value_per_tick must be > 0, got {value_per_tick}")
        self.config = config
        self._unit = float(value_per_tick)
        self._qty = float(order_qty)
        self._qmax = float(max_inventory)

    def __call__(
        self,
        *,
        pnl_change: float,
        inventory_pnl: float,
        position: float,
        last: bool,
    ) -> RewardTerms:
        c = self.config
        dpnl = pnl_change / self._unit
        inv = inventory_pnl / self._unit
        reward = dpnl
        if c.dampening == "symmetric":
            reward -= c.eta * inv
        elif c.dampening == "asymmetric":
            reward -= max(0.0, c.eta * inv)
        q = position / self._qmax
        inv_pen = c.running_inventory_penalty * q * q
        term_pen = c.terminal_inventory_penalty_ticks * abs(position) / self._qty if last else 0.0
        reward -= inv_pen + term_pen
        return RewardTerms(reward, dpnl, inv, inv_pen, term_pen)

    def ruined(self, pnl: float) -> bool:
        """Whether PnL (currency) breached ``max_loss``: a real end, hence ``terminated``."""
        return self.config.max_loss is not None and pnl < -self.config.max_loss
