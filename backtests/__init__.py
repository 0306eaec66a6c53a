"""backtests package."""
