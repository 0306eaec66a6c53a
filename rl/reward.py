"""The configurable per-step reward, on the strategy's one ledger.

The PnL the reward is paid in comes from :class:`strategies.ledger.FillLedger`, the ledger the
kill switch, the observation and the reports read: exact (commissions as the venue charged them,
rebates included) and cheap on the hot path.

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
