"""mmar_hydra's Hydra sweeper: Hydra instantiates plugins only from the ``hydra_plugins`` package.

Hydra knows a plugin by the module that defines its class, so the class is defined here, on top
of :class:`mmar_hydra.study.sweeper.SharedOptunaSweeper`, which does the work. Importing this is
cheap (Optuna is imported when a sweep starts): Hydra imports every ``hydra_plugins`` module at
start-up.
"""

from mmar_hydra.study.sweeper import SharedOptunaSweeper as _Sweeper

__all__ = ["SharedOptunaSweeper"]


class SharedOptunaSweeper(_Sweeper):
    """``hydra/sweeper=shared_optuna`` (conf/hydra/sweeper/shared_optuna.yaml)."""
