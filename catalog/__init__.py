"""Market data into a NautilusTrader ``ParquetDataCatalog``: loaders, cleaning, features."""
