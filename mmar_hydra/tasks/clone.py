"""``task=clone mmar=SRC out=DST [key=value ...] [clone_models=true]``: a new MMAR from an old one
(:mod:`mmar_hydra.runs.clone`), with the command line's overrides written into its JSON."""

from __future__ import annotations

from pathlib import Path

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError
from mmar_hydra.hydra_config import job_overrides
from mmar_hydra.runs.clone import clone_mmar
from mmar_hydra.settings import FRAMEWORK_KEYS

__all__ = ["run"]


def run(ctx: TaskContext) -> Path:
    settings = ctx.settings
    if not settings.mmar or not settings.out:
        raise ConfigError(
            "task=clone needs mmar=SRC and out=DST",
            path="out",
            expected="python -m mmar_hydra task=clone mmar=SRC out=DST [key=value ...]",
        )
    skip = {*FRAMEWORK_KEYS, "clone_models"}
    overrides = [
        o.lstrip("+") for o in job_overrides() if o.lstrip("+").split("=", 1)[0] not in skip
    ]
    dst = clone_mmar(
        Path(settings.mmar),
        Path(settings.out),
        overrides,
        models=settings.clone_models,
        force=settings.force,
    )
    print(
        f"cloned {settings.mmar} -> {dst}" + (f" with {' '.join(overrides)}" if overrides else "")
    )
    return dst
