"""Clara-compatible entry points: ``python -m mmar_hydra.apps.train|evaluate|export``.

They take medl.apps' flags (``-m ROOT -c CONFIG -e ENV --set k=v ...``) and translate them to
``python -m mmar_hydra`` overrides; there is no second engine behind them.
"""
