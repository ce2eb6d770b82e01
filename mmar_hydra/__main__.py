"""``python -m mmar_hydra``: see :mod:`mmar_hydra.cli`."""

from mmar_hydra.cli import entry

if __name__ == "__main__":
    entry()
