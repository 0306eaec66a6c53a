"""Baseline market makers (fixed spread, Avellaneda-Stoikov, GLFT) and the shared quote manager.

Every strategy is an ordinary NautilusTrader ``Strategy`` with a frozen ``StrategyConfig``, so the
same class runs in ``BacktestEngine`` / ``BacktestNode`` and in a live ``TradingNode``.
"""

from strategies.avellaneda_stoikov import (
    AvellanedaStoikovMarketMakerConfig,
    AvellanedaStoikovMarketMaker,
    optimal_spread,
    reservation_price,
)
from strategies.base import (
    CalibratedMarketMaker,
    CalibratedMarketMakerConfig,
    MarketMakerConfig,
    MarketMakerStrategy,
    ModelParams,
)
from strategies.calibration import (
    IntensityFit,
    TradeIntensityEstimator,
    fit_intensity,
    realized_volatility,
)
from strategies.fixed_spread import FixedSpreadMarketMaker, FixedSpreadMarketMakerConfig
from strategies.glft import GLFTMarketMaker, GLFTMarketMakerConfig, glft_coefficients, glft_depths
from strategies.quoting import QuoteCounters, QuoteManager, QuoteManagerConfig, Quotes

__all__ = [
    "AvellanedaStoikovMarketMaker",
    "AvellanedaStoikovMarketMakerConfig",
    "CalibratedMarketMaker",
    "CalibratedMarketMakerConfig",
    "FixedSpreadMarketMaker",
    "FixedSpreadMarketMakerConfig",
    "GLFTMarketMaker",
    "GLFTMarketMakerConfig",
    "IntensityFit",
    "MarketMakerConfig",
    "MarketMakerStrategy",
    "ModelParams",
    "QuoteCounters",
    "QuoteManager",
    "QuoteManagerConfig",
    "Quotes",
    "TradeIntensityEstimator",
    "fit_intensity",
    "glft_coefficients",
    "glft_depths",
    "optimal_spread",
    "realized_volatility",
    "reservation_price",
]
