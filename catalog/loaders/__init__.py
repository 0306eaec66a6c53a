"""One loader per source format. Each turns files into Nautilus objects in ``ts_init`` order.

The registry maps the ``amm ingest <format>`` name to the loader class.
"""
