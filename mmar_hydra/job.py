"""What Hydra runs once per job: the task, with its context, its logging and one failure policy.

:class:`TaskJob` is the task function handed to ``@hydra.main``. It carries the MMAR the CLI
read before Hydra started (so no module global holds it), builds the :class:`TaskContext`,
configures the job's logging (:mod:`mmar_hydra.run_logging`) and runs the task module.

The failure policy, the same for every task (the pattern of lightning-hydra-template's
``task_wrapper``):

- a single run (no ``-m``): a user error (:class:`MMARError`) prints its short message and the
  process exits with its exit code (2); other exceptions propagate to Hydra with their traceback;
- under ``-m``: any exception is recorded in the job folder (``job.json``: status ``failed`` and
  a one-line message, see :mod:`mmar_hydra.runs.job_outcome`), its message is printed, and the
  job returns NaN (Optuna marks the trial failed) so the sweep goes on. The sweep summary lists
  the job as failed; the CLI exits non-zero at the end.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from mmar_hydra.context import TaskContext
from mmar_hydra.distributed import process_rank
from mmar_hydra.errors import MMARError, report
from mmar_hydra.hydra_config import in_multirun, job_overrides
from mmar_hydra.launch_env import export_submitit_env
from mmar_hydra.reader.mmar_reader import ReadResult, read_mmar
from mmar_hydra.run_logging import job_logging
from mmar_hydra.runs.job_outcome import one_line, write_outcome
from mmar_hydra.settings import Settings, is_true, parse_settings
from mmar_hydra.tasks import get_task, load_task_module

__all__ = ["TaskJob", "reread"]


def reread(settings: Settings) -> ReadResult | None:
    """The MMAR read from the job's own config (a pickled or re-run job has no CLI pre-read)."""
    spec = get_task(settings.task)
    if not spec.needs_mmar or not settings.mmar:
        return None
    return read_mmar(
        settings.mmar,
        task=spec.reader_task or spec.name,
        config_file=settings.config_file,
        env_file=settings.env_file,
    )


def _quiet_python_warnings() -> None:
    """MONAI's deprecation chatter is for developers, not MMAR users."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


class TaskJob:
    """The Hydra task function: one job of one task on the MMAR read by the CLI.

    Args:
        read: the MMAR the CLI read before Hydra composed (``None`` for tasks without an MMAR,
            and for jobs launched without the CLI's pre-read, e.g. ``--experimental-rerun`` or
            a pickled submitit job: those read it again from their config).
        command: the command line as the user typed it (recorded in ``run_info.json``).
    """

    def __init__(self, read: ReadResult | None = None, command: list[str] | None = None) -> None:
        self.read = read
        self.command = list(command) if command is not None else ["python", "-m", "mmar_hydra"]

    def __call__(self, cfg: Any) -> Any:

        export_submitit_env()  # a task of a multi-task submitit job: one DDP group with the others
        debug = is_true(cfg.get("debug"))
        if not debug:
            _quiet_python_warnings()
        multirun = in_multirun()
        try:
            result = self._run(cfg)
        except Exception as exc:  # noqa: BLE001 - the failure policy of the module docstring
            if not multirun:
                if isinstance(exc, MMARError):
                    sys.exit(report(exc, debug))
                raise
            return self._record_failure(exc, debug)
        if multirun and process_rank() == 0:  # one record per job, by its first task
            _outcome(status="finished")
        return result

    def _run(self, cfg: Any) -> Any:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        settings = parse_settings(cfg)  # a key of the wrong type fails before any work
        read = self.read if self.read is not None else reread(settings)
        spec = get_task(settings.task)
        ctx = TaskContext.for_job(
            cfg, read, run_dir, command=self.command, sweep_clone=spec.sweep_clone
        )
        with job_logging(
            ctx.job_paths,
            run_dir=spec.run_dir,
            verbose=settings.verbose,
            allow_code=settings.allow_code,
        ):
            if settings.print_conf and process_rank() == 0:
                print(OmegaConf.to_yaml(OmegaConf.create(ctx.resolved)))
            return load_task_module(spec).run(ctx)

    def _record_failure(self, exc: Exception, debug: bool) -> float:
        code = report(exc, debug or not isinstance(exc, MMARError))
        if process_rank() == 0:
            _outcome(status="failed", error=one_line(exc), exit_code=code)
        num = getattr(HydraConfig.get().job, "num", "?")
        print(f"job {num} failed: {one_line(exc)} (the sweep goes on)", file=sys.stderr)
        return float("nan")


def _outcome(**record: Any) -> None:
    """Write this sweep job's ``job.json`` (:mod:`mmar_hydra.runs.job_outcome`)."""
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    write_outcome(job_dir, overrides=job_overrides(), **record)
