"""What tasks write about themselves: ``run_info.json`` (:mod:`mmar_hydra.writers.run_info`).

A task records its section beside its results (``models/`` or ``eval/``, or the output folder
of tasks without an MMAR) and, when it has a Hydra run folder, in that folder too, so every run
folder says how it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.data_format import training_datalist
from mmar_hydra.context import TaskContext
from mmar_hydra.engine.trainer import configured_seed
from mmar_hydra.hydra_config import job_overrides
from mmar_hydra.writers.run_info import run_record, write_run_info

__all__ = ["record_run", "datalist_of"]


def datalist_of(config: Mapping[str, Any], root: Path | None) -> Path | None:
    """The datalist the task reads (the training dataset's, else the flat config's)."""
    if root is None:
        return None

    return training_datalist(config, root)


def record_run(
    ctx: TaskContext,
    folder: Path,
    config: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the task's ``run_info.json`` section into ``folder`` (and the run folder).

    Args:
        ctx: the task context.
        folder: where the results are (``models/``, ``eval/``, ``out=``).
        config: the resolved MMAR config the task ran (None: tasks without an MMAR).
        extra: what the task adds to its record.
    """
    config = config or {}
    root = ctx.read.layout.root if ctx.read is not None else None
    config_file = None
    if ctx.read is not None and root is not None:
        path = ctx.read.config_file
        config_file = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    record = run_record(
        task=ctx.settings.task,
        command=ctx.command,
        overrides=job_overrides(),
        seed=configured_seed(config),
        mmar_root=root,
        config_file=config_file,
        datalist=datalist_of(config, root),
        extra={"run_dir": str(ctx.run_dir), **(extra or {})},
    )
    path = write_run_info(folder, record)
    run_dir = Path(ctx.run_dir).resolve()
    if ctx.rank == 0 and run_dir != Path(folder).resolve() and (run_dir / ".hydra").is_dir():
        write_run_info(run_dir, record)
    return path
