"""What every building task does first: the right kind of config, rewritten by any preset, then
checked in full -- one check walk before anything is built. A ``-m`` sweep job's MMAR clone is
made once the check passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmar_hydra.components.builder import check_config
from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError, ErrorGroup
from mmar_hydra.hydra_config import job_overrides
from mmar_hydra.runs.run_folder import make_job_mmar

__all__ = ["checked_config"]

_KINDS = {
    "train": (
        "a training config with train/validate sections",
        "config_train.json-style content (globals, train, validate)",
        "config/config_train.json",
    ),
    "flat": (
        "a validation or inference config",
        "a flat config such as config/config_validation.json",
        "config/config_validation.json",
    ),
}


def checked_config(
    ctx: TaskContext,
    kind: str,
    adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The resolved MMAR config after ``check_config`` found no problem (all are reported).

    Args:
        ctx: the task context (its ``paths`` say where the task writes).
        kind: ``train`` or ``flat``, the kind of config the task needs.
        adjust: rewrites the resolved config before it is checked (Clara's evaluation flags,
            ``fast=true``): it must not build anything.
    """
    read = ctx.read
    assert read is not None  # the CLI runs building tasks with an MMAR only
    needs, expected, example = _KINDS[kind]
    if read.kind != kind:
        raise ConfigError(
            f"task={ctx.settings.task} needs {needs}",
            file=read.config_file,
            expected=expected,
            fix=f"pick it with config_file={example}",
        )
    config = ctx.mmar_config
    if adjust is not None:
        config = adjust(config)
    paths = ctx.paths
    problems = check_config(config, paths=paths, allow_code=ctx.allow_code)
    if problems:
        raise ErrorGroup.of(problems)
    # each sweep job writes into its own MMAR-shaped run folder; the tasks of a multi-task
    # submitit job share one clone, made by the first
    if paths.is_job_clone and ctx.rank == 0:
        make_job_mmar(
            read.layout.root,
            paths.write_root,
            ctx.mmar_config,
            config_file=read.config_file,
            env_keys=set(read.env),
            overrides=job_overrides(),
        )
    return config
