"""What every building task does first: the right kind of config, checked in full, and the
task's :class:`RunPaths` (for a ``-m`` sweep job, its MMAR clone is made once the check passed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError, ErrorGroup
from mmar_hydra.run_paths import RunPaths

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
) -> tuple[dict[str, Any], RunPaths]:
    """The resolved MMAR config after ``check_config`` found no problem (all are reported),
    and where the task writes.

    Args:
        ctx: the task context.
        kind: ``train`` or ``flat``, the kind of config the task needs.
        adjust: rewrites the resolved config before it is checked (Clara's evaluation flags).
    """
    from mmar_hydra.components.builder import check_config
    from mmar_hydra.runs.run_folder import in_multirun

    read = ctx.read
    assert read is not None  # the CLI runs building tasks with an MMAR only
    needs, expected, example = _KINDS[kind]
    if read.kind != kind:
        raise ConfigError(
            f"task={ctx.cfg.task} needs {needs}",
            file=read.config_file,
            expected=expected,
            fix=f"pick it with config_file={example}",
        )
    config = ctx.mmar_config
    if adjust is not None:
        config = adjust(config)
    job = in_multirun()  # each sweep job writes into its own MMAR-shaped run folder
    paths = RunPaths.for_task(ctx, config, job_clone=job)
    problems = check_config(config, paths=paths, allow_code=ctx.allow_code)
    if problems:
        raise ErrorGroup.of(problems)
    if job and ctx.rank == 0:  # the tasks of a multi-task submitit job share one clone
        paths.make_job_clone(ctx)
    return config, paths
