"""The run's plots: what each panel shows."""

from __future__ import annotations

from tests.backtests.test_metrics import _equity


def test_equity_comparison_draws_inventory_below_pnl_when_given(tmp_path):
    from matplotlib import image

    from backtests.plots import plot_equity_comparison

    eq = _equity([100.0, 101.0, 99.5, 102.0], positions=[0.0, 100.0, -100.0, 0.0])
    curves = {"a": eq["equity"], "b": eq["equity"] * 1.01}
    alone = image.imread(plot_equity_comparison(curves, tmp_path / "pnl.png"))
    both = image.imread(plot_equity_comparison(curves, tmp_path / "both.png",
                                               positions={"a": eq["position"], "b": -eq["position"]}))
    assert both.shape[0] > alone.shape[0] * 1.3 and both.shape[1] == alone.shape[1]  # a second panel
