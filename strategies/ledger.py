"""The one PnL ledger of a market maker: built from its own fills, in the settlement currency.

Everything that needs the strategy's PnL reads this ledger: the kill switch and the inventory
skew of every strategy, the RL agent's observation (unrealised PnL) and reward (PnL change and
its inventory part), the live node's report and the backtest runner's end-of-run check against
the venue account (``backtests.runner``). One accounting, so the reward an agent was trained on,
the loss that stops it and the figure a report shows cannot disagree.

Why not ``Portfolio.realized_pnl`` + ``unrealized_pnl``: the portfolio is per instrument, not per
strategy (two strategies on one instrument live would share it), and marks at the last trade or
quote, not at the strategy's mid. Why not the account: it is per venue, and in a backtest the
runner checks the two agree (``tests/backtests/test_ledger_invariant.py``), which is what makes
the ledger trustworthy where the account cannot answer (several strategies on one account).
"""

from __future__ import annotations

from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.instruments import Instrument


class FillLedger:
    """Profit and loss of one strategy on one instrument from its fills.

    Two views of the same fills, kept together in O(1) per fill:

    * cash flow: ``equity(mark) = cash + position * multiplier * mark - fees`` for linear
      instruments (quote currency) and ``cash - position * multiplier / mark - fees`` for inverse
      ones (base currency), where ``cash`` is the signed notional paid or received: exact;
    * average cost: ``avg_px`` of the open position and the PnL ``realised`` by closing it, so
      that :meth:`unrealised` (what the agent observes) is the open position's PnL alone.

    ``realised + unrealised(mark) - fees == equity(mark)`` up to rounding.

    Fees are converted to the ledger's currency at the fill price when the venue charges them in
    the other currency of the pair; a negative commission (a rebate) lowers ``fees``.

    Parameters
    ----------
    instrument : Instrument
        The traded instrument (multiplier, inverse flag and currencies).
    """

    __slots__ = (
        "_base",
        "_inverse",
        "_multiplier",
        "_quote",
        "avg_px",
        "cash",
        "fees",
        "fill_count",
        "position",
        "realised",
        "traded_qty",
    )

    def __init__(self, instrument: Instrument) -> None:
        self._inverse = bool(instrument.is_inverse)
        self._multiplier = float(instrument.multiplier)
        self._quote: Currency = instrument.quote_currency
        self._base: Currency | None = instrument.get_base_currency()
        self.reset()

    def reset(self) -> None:
        """Forget every fill (a new run of the same strategy)."""
        self.cash = 0.0
        self.fees = 0.0
        self.position = 0.0
        self.avg_px = 0.0
        self.realised = 0.0
        self.traded_qty = 0.0
        self.fill_count = 0

    @property
    def currency(self) -> Currency:
        """Currency of the PnL: the base currency for inverse instruments, else the quote."""
        return self._base if self._inverse else self._quote

    @property
    def is_inverse(self) -> bool:
        return self._inverse

    def on_fill(self, fill: OrderFilled) -> None:
        """Apply one of the strategy's fills."""
        commission = fill.commission
        price = fill.last_px.as_double()
        fee = 0.0
        if commission is not None:
            fee = commission.as_double()
            if commission.currency != self.currency:
                # charged in the pair's other currency: quote -> base (inverse), base -> quote
                fee = fee / price if self._inverse else fee * price
        self.apply(
            is_buy=fill.order_side == OrderSide.BUY,
            qty=fill.last_qty.as_double(),
            price=price,
            fee=fee,
        )

    def apply(self, *, is_buy: bool, qty: float, price: float, fee: float = 0.0) -> None:
        """Apply a fill given as numbers (``fee`` in the ledger's currency; negative = rebate)."""
        sign = 1.0 if is_buy else -1.0
        mult = self._multiplier
        if self._inverse:
            self.cash += sign * qty * mult / price
        else:
            self.cash -= sign * qty * mult * price
        self.fees += fee
        self.fill_count += 1
        self.traded_qty += qty
        pos = self.position
        signed = sign * qty
        new = pos + signed
        if pos == 0.0 or (pos > 0) == (signed > 0):  # opening or adding
            self.avg_px = (self.avg_px * abs(pos) + price * qty) / abs(new)
            self.position = new
            return
        closed = min(abs(pos), qty)
        self.realised += (1.0 if pos > 0 else -1.0) * closed * self._pnl_per_unit(self.avg_px, price)
        if abs(new) < 1e-12:
            self.position, self.avg_px = 0.0, 0.0
        elif (new > 0) != (pos > 0):  # flipped: the rest opens at this price
            self.position, self.avg_px = new, price
        else:
            self.position = new

    def _pnl_per_unit(self, entry: float, exit_: float) -> float:
        if self._inverse:
            return self._multiplier * (1.0 / entry - 1.0 / exit_)
        return self._multiplier * (exit_ - entry)

    def equity(self, mark: float) -> float:
        """Realised + unrealised PnL net of fees, with the position marked at ``mark``."""
        if self._inverse:
            return self.cash - self.position * self._multiplier / mark - self.fees
        return self.cash + self.position * self._multiplier * mark - self.fees

    def unrealised(self, mark: float) -> float:
        """PnL of the open position against its average cost, marked at ``mark``."""
        if self.position == 0.0:
            return 0.0
        return self.position * self._pnl_per_unit(self.avg_px, mark)

    def inventory_pnl(self, position: float, mark_before: float, mark: float) -> float:
        """PnL of holding ``position`` while the mark moved from ``mark_before`` to ``mark``."""
        return position * self._pnl_per_unit(mark_before, mark)
