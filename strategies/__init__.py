"""Everything that runs in a live node: the market-maker runtime and its quoting rules.

Every market maker is a :class:`MarketMakerStrategy` (an ordinary NautilusTrader ``Strategy`` with
a frozen ``StrategyConfig``), so the same class runs in ``BacktestEngine`` and in a live
``TradingNode``: the closed-form baselines (fixed spread, Avellaneda-Stoikov, GLFT) exported here,
and the trained policy, :class:`strategies.policy.PolicyMarketMaker` (imported from its module:
it brings Gymnasium's spaces along).
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
from strategies.glft_alpha import AlphaGLFTMarketMaker, AlphaGLFTMarketMakerConfig
from strategies.ledger import FillLedger
from strategies.quoting import QuoteCounters, QuoteManager, QuoteManagerConfig, Quotes

__all__ = [
    "AlphaGLFTMarketMaker",
    "AlphaGLFTMarketMakerConfig",
    "AvellanedaStoikovMarketMaker",
    "AvellanedaStoikovMarketMakerConfig",
    "CalibratedMarketMaker",
    "CalibratedMarketMakerConfig",
    "FixedSpreadMarketMaker",
    "FixedSpreadMarketMakerConfig",
    "FillLedger",
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
