"""Preemption: SIGTERM / SIGUSR1 -> finish the step, write resume_state.pt, exit "requeue".

Lightning's signal connector turns SIGTERM into ``trainer.received_sigterm``; the training
loop then stops after the current batch with ``SIGTERMException``. :class:`PreemptionCallback`
adds SIGUSR1 (the signal SLURM and submitit send before a time limit) and, when the loop
stops, writes the resume state mid-epoch through the atomic writer. Under SLURM, Lightning's
default ``SLURMEnvironment(auto_requeue=True)`` handler still runs on SIGUSR1 (it requeues the
job with ``scontrol requeue``); locally the run prints the command that resumes it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from mmar_hydra.errors import PreemptedError

__all__ = ["REQUEUE_EXIT_CODE", "PreemptionCallback", "preempted_error", "resume_command"]

#: exit code of a preempted run: EX_TEMPFAIL from sysexits.h, "try again later" (requeue)
REQUEUE_EXIT_CODE = 75


class PreemptionCallback(pl.Callback):
    """Stop after the current step on SIGTERM / SIGUSR1 and write the resume state.

    Args:
        resume: the run's ``ResumeCheckpointCallback`` (its ``save`` writes resume_state.pt).
    """

    def __init__(self, resume: Any) -> None:
        self.resume = resume
        self.signal_name: str | None = None
        self.saved = False
        self._previous: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers live in the main thread only
        self._previous = signal.getsignal(signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, self._make_handler(trainer))
        previous_term = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: Any) -> None:
            self.signal_name = self.signal_name or "SIGTERM"
            if callable(previous_term):
                previous_term(signum, frame)  # Lightning's notifier: received_sigterm

        signal.signal(signal.SIGTERM, on_term)

    def _make_handler(self, trainer: pl.Trainer) -> Any:
        previous = self._previous

        def on_usr1(signum: int, frame: Any) -> None:
            self.signal_name = self.signal_name or "SIGUSR1"
            trainer._signal_connector.received_sigterm = True
            if callable(previous):  # e.g. Lightning's SLURM requeue handler
                previous(signum, frame)

        return on_usr1

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException):
            self.signal_name = self.signal_name or "SIGTERM"
            self.resume.save(trainer)
            self.saved = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, self._previous)
            self._previous = None


def resume_command(overrides: Sequence[str] | None = None) -> str:
    """The command line that resumes this run: its overrides with ``resume=auto``.

    Args:
        overrides: the run's command-line overrides (default: Hydra's, else ``sys.argv``).
    """
    if overrides is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            overrides = list(HydraConfig.get().overrides.task)
        except (ImportError, ValueError):
            overrides = sys.argv[1:]
    kept = [arg for arg in overrides if not arg.lstrip("+~").startswith("resume=")]
    return " ".join(["python -m mmar_hydra", *kept, "resume=auto"])


def preempted_error(callback: PreemptionCallback, trainer: pl.Trainer) -> PreemptedError:
    """What a preempted run reports: where it stopped, where the state is, how to resume."""
    where = f"epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
    return PreemptedError(
        f"training stopped by {callback.signal_name or 'a signal'} at {where}; "
        + ("the resume state is written" if callback.saved else "no resume state was written"),
        file=callback.resume.path,
        expected=f"exit code {REQUEUE_EXIT_CODE} tells a launcher to requeue this job",
        fix=f"resume with: {resume_command()}",
        exit_code=REQUEUE_EXIT_CODE,
    )
