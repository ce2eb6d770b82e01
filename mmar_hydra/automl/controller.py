"""Clara AutoML's ``config_automl.json``: trial budget, early stop and how many trials to keep.

Only ``ReinforcementController`` maps onto an optimizer we can run: its budget
(``max_rounds``) becomes the Optuna sweeper's ``n_trials`` and the search runs with Optuna's
seeded TPE sampler. Clara's other controllers and BYOC controllers (a ``path`` to a user's
class) are Clara-internal APIs; they are refused with a message that names TPE instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = ["AutoMLPlan", "SAMPLER", "read_plan"]

SAMPLER = "optuna.samplers.TPESampler"
_SUPPORTED = "ReinforcementController"


@dataclass(frozen=True)
class AutoMLPlan:
    """What ``config_automl.json`` asks for.

    Args:
        max_rounds: the trial budget.
        stop_threshold: stop once a trial's best key metric reaches it (None: never).
        num_mmars_to_keep: trial folders kept, best first; the rest are pruned.
        train_config: the ``train_config_file`` the MMARHandler names, if any.
    """

    max_rounds: int = 8
    stop_threshold: float | None = None
    num_mmars_to_keep: int = 30
    train_config: str | None = None


def read_plan(raw: Mapping[str, Any], *, file: str | Path | None = None) -> AutoMLPlan:
    """Validate a loaded ``config_automl.json`` and return its plan.

    Args:
        raw: the file as loaded JSON.
        file: its path, for messages.

    Raises:
        ConfigError: a controller other than ReinforcementController, a BYOC controller or
            handler, or a budget that is not a positive integer.
    """
    controller = raw.get("controller") or {}
    if not isinstance(controller, Mapping):
        raise ConfigError("'controller' must be an object", file=file, path="controller")
    if "path" in controller or controller.get("name") != _SUPPORTED:
        what = controller.get("path") or controller.get("name")
        raise ConfigError(
            f"AutoML controller {what!r} is a Clara-internal API that mmar_hydra does not run",
            file=file,
            path="controller",
            expected=f'{{"name": "{_SUPPORTED}", "args": {{"max_rounds": N}}}}',
            fix=f"use ReinforcementController: mmar_hydra searches with a seeded {SAMPLER} "
            "(Hydra's Optuna sweeper) instead",
        )
    rounds = (controller.get("args") or {}).get("max_rounds", 8)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ConfigError(
            f"max_rounds {rounds!r} is not a positive integer",
            file=file,
            path="controller.args.max_rounds",
            expected="an integer >= 1",
        )
    plan: dict[str, Any] = {"max_rounds": rounds}
    for i, handler in enumerate(raw.get("handlers") or []):
        if isinstance(handler, Mapping) and "path" in handler:
            raise ConfigError(
                f"BYOC AutoML handler {handler['path']!r} is a Clara-internal API",
                file=file,
                path=f"handlers[{i}]",
                expected="MMARHandler / StatsHandler / MMARStatsHandler",
                fix="remove it (Clara-internal); keep MMARHandler for the budget and pruning",
            )
        if isinstance(handler, Mapping) and handler.get("name") == "MMARHandler":
            args = handler.get("args") or {}
            stop = args.get("stop_threshold")
            plan["stop_threshold"] = None if stop is None else float(stop)
            plan["num_mmars_to_keep"] = int(args.get("num_mmars_to_keep", 30))
            plan["train_config"] = args.get("train_config_file")
    return AutoMLPlan(**plan)
