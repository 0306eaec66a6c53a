"""Market features with ONE definition, maintained online by :class:`IncrementalFeatures`.

:class:`IncrementalFeatures` is fed events one by one (inside a Nautilus strategy or the RL
environment) and answers :meth:`IncrementalFeatures.sample` in O(1) at every decision step.
``tests/catalog/test_features.py`` checks the definitions below on hand-computed inputs, and on
real Binance data that feeding the events directly, through a Nautilus ``OrderBook`` and inside a
``BacktestEngine`` strategy sampling on a timer give the same values bit for bit.

Modules, lowest first: :mod:`~catalog.features.config` (the definition's parameters, the feature
names and the sampled vector), :mod:`~catalog.features.incremental` (the online computation, which
keeps the data layer's :class:`~catalog.book.L2Book` for the imbalance).

In a strategy: call ``on_quote`` / ``on_trade`` from ``on_quote_tick`` / ``on_trade_tick``, and
``on_book_deltas(deltas)`` from ``on_order_book_deltas`` (or ``on_book(self.cache.order_book(id),
deltas.ts_init)``, slower on deep books); sample in a timer callback with ``event.ts_event``.

Conventions
-----------
Time
    Everything uses the receive time ``ts_init`` (what the engine clock sees). The features at
    sample time ``t`` use every event with ``ts_init <= t``. This is what a Nautilus timer firing
    at ``t`` sees: ``BacktestEngine`` processes all data with ``ts_init == t`` before the time
    events due at ``t`` (``backtest/engine.pyx``, main loop).
Top of book (``mid``, ``microprice``, ``spread_ticks``)
    From the latest quote, or from the order book, chosen by ``FeatureConfig.top_of_book``:
    ``"auto"`` (default) uses quotes once any quote has arrived and the book before that;
    ``"quotes"`` / ``"book"`` use one source only. (Binance's ``bookTicker`` stream updates the
    touch faster than the 100 ms depth stream, hence quotes first.)
Imbalance
    Over the top ``book_levels`` levels of the book once any book update has arrived, otherwise
    from the quote's top level (k = 1). Missing levels count as zero size.
Volatility
    Realised volatility of the mid sampled on a fixed grid ``g_j = j * vol_sample_interval_ns``
    (multiples of the interval since the UNIX epoch). ``m_j`` is the mid after all events with
    ``ts_init <= g_j``; ``r_j = m_j - m_{j-1}`` in price units. Over the last ``vol_window`` grid
    intervals ending at the last grid point ``<= t``, with ``n`` the number of defined returns::

        volatility = sqrt( sum(r_j ** 2) / (n * dt_s) )      [price units / sqrt(second)]

    the zero-mean realised-variance estimator (Andersen, Bollerslev, Diebold & Labys 2003,
    "Modeling and Forecasting Realized Volatility", Econometrica 71(2)). This is the ``sigma`` of
    Avellaneda & Stoikov (2008, "High-frequency trading in a limit order book", Quant. Finance
    8(3)), whose mid follows ``dS = sigma dW``. Relative volatility is ``volatility / mid``
    (per sqrt(second)); annualise by ``* sqrt(365 * 86_400)`` for a 24/7 market. NaN until
    ``vol_min_returns`` returns are defined.
Trades
    The window is ``(t - trade_window_ns, t]``. ``buy_volume`` / ``sell_volume`` sum the sizes of
    buyer- / seller-initiated trades; ``trade_count`` counts all trades (including those with no
    aggressor). ``trade_flow = (buy - sell) / (buy + sell)``, 0.0 when the window holds no
    aggressor volume. Volumes are accumulated as integers of ``1e-9`` size units so that running
    sums never drift. ``time_since_trade_s`` is NaN
    before the first trade.
Spread
    ``spread_ticks = round((ask - bid) / tick_size)`` (nearest integer, as a float), so that
    ``spread_ticks <= 1`` tests are not broken by float noise.

Microprice here is the size-weighted mid ``(bid * ask_size + ask * bid_size) / (bid_size +
ask_size)`` (the "weighted mid" that Stoikov 2018, "The micro-price", Quant. Finance 18(12),
takes as the first approximation of the micro-price).
"""

from catalog.features.config import FEATURE_NAMES, VOLUME_SCALE, FeatureConfig, FeatureVector, TopOfBook
from catalog.features.incremental import IncrementalFeatures

__all__ = [
    "FEATURE_NAMES",
    "VOLUME_SCALE",
    "FeatureConfig",
    "FeatureVector",
    "IncrementalFeatures",
    "TopOfBook",
]
