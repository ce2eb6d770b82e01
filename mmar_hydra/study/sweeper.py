"""``hydra/sweeper=shared_optuna``: a Hydra sweeper whose workers share one Optuna study.

Every ``python -m mmar_hydra -m ... hparams_search=...`` started against the same storage and
study name is one worker of the same search, on one machine or many; ``n_trials`` is the
study's budget, not each worker's. A worker claims trials (up to ``n_jobs`` at a time, run as
one batch through the configured launcher), keeps their heartbeats while they run and tells
their results; a trial whose worker died is retried by another, and a worker started late joins.
Each job's folder is ``<sweep dir>/<trial number>``, so workers that share a sweep folder never
write into each other's jobs; the trial records it (``run_dir``) for ``task=compare``.

Hydra only instantiates sweepers from the ``hydra_plugins`` package: the class is re-exported
by ``hydra_plugins/mmar_hydra_sweeper``. Optuna is imported when the sweep starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper

from mmar_hydra.study.space import as_override, parse_space
from mmar_hydra.study.storage import StudySpec, masked
from mmar_hydra.study.worker import StudyWorker
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["SharedOptunaSweeper", "job_value"]

log = logging.getLogger(__name__)


def job_value(ret: Any) -> float | None:
    """A job's objective: its float return value; None for a job that failed or returned none."""
    from hydra.core.utils import JobStatus

    if getattr(ret, "status", None) != JobStatus.COMPLETED:
        return None
    try:
        return float(ret.return_value)
    except (TypeError, ValueError):
        return None


class SharedOptunaSweeper(Sweeper):
    """Args: the keys of ``conf/hydra/sweeper/shared_optuna.yaml`` (see there)."""

    def __init__(
        self,
        storage: str,
        study_name: str,
        direction: str = "maximize",
        n_trials: int = 8,
        n_jobs: int = 1,
        sampler: Any = None,
        params: Any = None,
        heartbeat_s: int = 10,
        grace_s: int = 60,
        max_retry: int = 2,
        poll_s: float = 2.0,
    ) -> None:

        self.spec = StudySpec(
            str(storage), str(study_name), str(direction), heartbeat_s, grace_s, max_retry, poll_s
        )
        self.n_trials, self.n_jobs = int(n_trials), max(1, int(n_jobs))
        self.sampler = sampler
        self.params = dict(params or {})
        self.config: Any = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:

        space, fixed = parse_space([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        worker = StudyWorker(self.spec, self.n_trials, space, self.sampler, say=log.info)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            f"study {self.spec.name} in {masked(self.spec.url)}: {self.n_trials} trials shared "
            f"by every worker; this is worker {worker.name}, sweep folder {sweep_dir}"
        )
        ran = 0
        while claims := worker.claim(self.n_jobs):
            batch = [self._job(claim, fixed, sweep_dir) for claim in claims]
            with worker.heartbeat(claims):
                returns = self.launcher.launch(batch, initial_job_idx=claims[0].number)
            for claim, ret in zip(claims, returns, strict=True):
                worker.tell(claim, job_value(ret))
            ran += len(claims)
        self._results(worker, ran, sweep_dir)

    def _job(self, claim: Any, fixed: Sequence[str], sweep_dir: Path) -> list[str]:

        again = f" (retry of trial {claim.retry_of})" if claim.retry_of is not None else ""
        log.info(f"trial {claim.number}{again}: {claim.params}")
        claim.trial.set_user_attr("run_dir", str(sweep_dir / str(claim.number)))
        own = [as_override(k, v) for k, v in claim.params.items()]
        return [*fixed, *own, f"hydra.sweep.subdir={claim.number}"]

    def _results(self, worker: Any, ran: int, sweep_dir: Path) -> None:
        from omegaconf import OmegaConf
        from optuna.trial import TrialState

        done = worker.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if ran == 0:
            log.info(
                f"study {self.spec.name} has no trial left to run ({len(done)} complete of "
                f"{self.n_trials}): raise hydra.sweeper.n_trials, or name a new study with "
                "hydra.sweeper.study_name=NAME"
            )
        if not done:
            return
        best = worker.study.best_trial
        results = {
            "name": "optuna",
            "study": self.spec.name,
            "best_trial": best.number,
            "best_params": dict(best.params),
            "best_value": best.value,
        }
        text = OmegaConf.to_yaml(OmegaConf.create(results))
        atomic_write_text(sweep_dir / "optimization_results.yaml", text)
        log.info(f"best trial {best.number}: {best.params} -> {best.value}")
