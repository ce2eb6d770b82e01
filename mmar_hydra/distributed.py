"""Lightning DDP under Hydra, without the multirun trap.

Lightning's ``ddp`` strategy starts ranks 1..N by re-running ``sys.argv`` with
``hydra.run.dir=<HydraConfig.run.dir>`` appended. Under ``-m`` that argv is the whole sweep,
so every child would re-run the sweep and ranks would train different hyperparameters.
Before a distributed fit we therefore make ``sys.argv`` describe exactly this job (its own
overrides, ``hydra.mode=RUN``, its own output dir) and point ``HydraConfig.run.dir`` at the
job's folder; after the job the process group and the launcher's environment are cleared so
the next sweep job starts clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_job_argv", "ddp_job", "process_rank"]

_LAUNCH_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "RANK")


def process_rank() -> int:
    """The global rank of this process as the launcher set it (0 when not distributed)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def single_job_argv(task_overrides: list[str], output_dir: str) -> list[str]:
    """The argv a DDP child must run to train this job and only this job."""
    return [
        *task_overrides,
        "hydra.mode=RUN",
        f"hydra.run.dir={output_dir}",
        "hydra.output_subdir=null",
    ]


@contextmanager
def ddp_job() -> Iterator[None]:
    """Run one Hydra job's distributed fit so that children re-run this job alone."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import open_dict, read_write

        hydra_cfg = HydraConfig.get()
    except (ImportError, ValueError):  # not under Hydra (e.g. tests): nothing to fix
        yield
        return
    saved_argv = list(sys.argv)
    saved_env = {k: os.environ.get(k) for k in _LAUNCH_ENV}
    output_dir = str(hydra_cfg.runtime.output_dir)
    is_child = "LOCAL_RANK" in os.environ and os.environ.get("LOCAL_RANK") != "0"
    if not is_child:
        sys.argv = [sys.argv[0], *single_job_argv(list(hydra_cfg.overrides.task), output_dir)]
        with read_write(hydra_cfg), open_dict(hydra_cfg):  # type: ignore[arg-type]
            hydra_cfg.run.dir = output_dir
    try:
        yield
    finally:
        sys.argv = saved_argv
        _destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    # MONAI's metrics gather through ignite when it is installed, and ignite caches the process
    # group it first saw: reset it, or the next sweep job's gather waits on a dead group forever
    idist = sys.modules.get("ignite.distributed.utils")
    if idist is not None:
        idist._set_model(idist._SerialModel())
