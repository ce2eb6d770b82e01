"""``task=check``: validate an MMAR end to end without training.

Runs the builder's full check (components against their constructors, references, code
strings, datalist and data files, one sample through the transforms) and reports every
problem found, not just the first.
"""

from __future__ import annotations

from mmar_hydra.components.builder import check_config
from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ErrorGroup
from mmar_hydra.reader.dialect import DIALECTS

__all__ = ["run"]


def run(ctx: TaskContext) -> int:

    read = ctx.read
    assert read is not None  # the CLI only runs this task with an MMAR
    config = ctx.mmar_config
    problems = check_config(config, paths=ctx.paths, allow_code=ctx.allow_code)
    if problems:
        raise ErrorGroup.of(problems)
    print(
        f"check passed: {read.config_file} ({DIALECTS[read.dialect]}, {read.kind} config), "
        f"{len(read.notes)} compat translation(s)"
    )
    return 0
