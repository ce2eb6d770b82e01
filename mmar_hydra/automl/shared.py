"""``task=automl automl.storage=URL``: one search shared by many workers through a database.

Every ``python -m mmar_hydra task=automl ... automl.storage=URL`` with the same search (its
run id, or ``automl.study=NAME``) is one worker: on one machine with ``sqlite:///FILE``, on
many with ``postgresql://...`` and a shared file system for the MMAR. They claim trials from
one Optuna study (:mod:`mmar_hydra.study`): the budget (``max_rounds`` / ``automl.trials``)
counts the study's distinct trials, a trial whose worker died is re-run by another, a worker
that starts late joins, a trial that reaches ``stop_threshold`` stops every worker. Trial ``n``
trains in ``trial_<n>/`` as in a one-process search; each worker ends with the same report,
written under the study's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mmar_hydra.automl.report import TrialResult
from mmar_hydra.automl.search import SearchOptions, threshold_note
from mmar_hydra.study.storage import StudySpec, masked
from mmar_hydra.study.worker import DUPLICATE_OF, STOPPED, StudyWorker, retry_of

__all__ = ["shared_spec", "run_shared_search", "results_of", "RESULT"]

RESULT = "mmar_hydra.automl_result"  # user attr: the trial's TrialResult record


def shared_spec(options: SearchOptions, given: Mapping[str, Any]) -> StudySpec | None:
    """The study of ``automl.storage`` (None: a one-process search).

    Args:
        options: the search's options (its run id names the study by default).
        given: the ``automl`` settings (``storage``, ``study``, ``heartbeat_s``, ``grace_s``).
    """
    url = given.get("storage")
    if not url:
        return None
    heartbeat = int(given.get("heartbeat_s") or 10)
    return StudySpec(
        str(url),
        str(given.get("study") or f"automl_{options.run_id}"),
        heartbeat_s=heartbeat,
        grace_s=int(given.get("grace_s") or max(60, 6 * heartbeat)),
        poll_s=min(2.0, heartbeat / 2),
    )


def results_of(study: Any) -> list[TrialResult]:
    """Every trial of the study as a :class:`TrialResult` (duplicate samples left out)."""

    results = []
    for trial in study.get_trials(deepcopy=False):
        if DUPLICATE_OF in trial.user_attrs or trial.state.name in ("WAITING", "RUNNING"):
            continue
        record = trial.user_attrs.get(RESULT)
        if record:
            results.append(TrialResult(**{k: v for k, v in record.items() if k != "rank"}))
            continue
        again = [t.number for t in study.get_trials(deepcopy=False) if retry_of(t) == trial.number]
        retried = f"; retried as trial {again[0]}" if again else ""
        results.append(
            TrialResult(
                trial.number,
                dict(trial.params),
                {},
                status="failed",
                error=f"its worker stopped (no heartbeat){retried}",
                folder=str(trial.user_attrs.get("run_dir", "")),
            )
        )
    return results


def run_shared_search(
    spec: StudySpec,
    distributions: Mapping[str, Any],
    options: SearchOptions,
    run_trial: Callable[[int, dict[str, Any]], TrialResult],
    folder_of: Callable[[int], str],
    say: Callable[[str], None] = print,
) -> tuple[Any, list[str]]:
    """Claim and train trials until the study is done; returns (the worker, notes).

    Args:
        spec: the study.
        distributions: the search space as Optuna distributions.
        options: budget, seed and stop threshold.
        run_trial: trains trial ``n`` with a sample and returns its result.
        folder_of: trial ``n``'s folder.
        say: where progress lines go.
    """
    import optuna

    sampler = optuna.samplers.TPESampler(seed=options.seed)
    worker = StudyWorker(spec, options.trials, distributions, sampler, say=say)
    say(f"automl: study {spec.name} in {masked(spec.url)}, worker {worker.name}")
    while claims := worker.claim(1):
        claim = claims[0]
        claim.trial.set_user_attr("run_dir", folder_of(claim.number))
        if claim.retry_of is not None:
            say(f"automl: trial {claim.number} runs trial {claim.retry_of} again (its worker died)")
        with worker.heartbeat(claims):
            result = run_trial(claim.number, claim.params)
        worker.tell(claim, result.best, **{RESULT: result.record()})
        shown = "failed" if result.best is None else f"{result.best:.4f}"
        say(f"automl: trial {claim.number} {result.settings} -> {shown}")
        stop = threshold_note(options, result)
        if stop:
            worker.stop(stop)
    stopped = worker.study.user_attrs.get(STOPPED)
    return worker, [str(stopped)] if stopped else []
