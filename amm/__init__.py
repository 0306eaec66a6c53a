"""The application: the ``amm`` command and the end-to-end demo, on top of every library package.

Dependencies point one way: ``catalog`` -> ``strategies`` -> ``backtests`` / ``rl`` / ``live`` ->
``amm``. Each library package exposes its commands through ``register(app)`` in its ``cli.py``;
:mod:`amm.cli` builds the root app from them and applies the one error policy
(:mod:`amm.errors`).
"""
