"""The search loop: ask the sampler, run a trial, tell the result, stop when told to.

Training is not done here: the task hands in ``run_trial`` (one trial MMAR trained, its
:class:`~.report.TrialResult` returned), so the loop, the budget and the early stop are the
same for a real search and for tests with fabricated results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mmar_hydra.automl.controller import AutoMLPlan
from mmar_hydra.automl.report import TrialResult
from mmar_hydra.errors import ConfigError

__all__ = ["SearchOptions", "search_options", "run_search", "threshold_note"]


@dataclass(frozen=True)
class SearchOptions:
    """What one search does.

    Args:
        trials: the budget of distinct trials (``max_rounds``, or ``automl.trials=``).
        seed: the TPE seed (``automl.seed=``).
        stop_threshold: stop once a trial's best key metric reaches it (None: never).
        keep: trial folders kept, best first (``num_mmars_to_keep``, or ``automl.keep=``).
        run_id: the search folder's name under ``<mmar>/automl/``.
    """

    trials: int
    seed: int
    stop_threshold: float | None
    keep: int
    run_id: str


def _number(value: Any, key: str, kind: type, minimum: float) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or (kind is int and not float(value).is_integer()) or value < minimum:
        raise ConfigError(
            f"automl.{key}={value!r} is not valid",
            path=f"automl.{key}",
            expected=f"{'an integer' if kind is int else 'a number'} >= {minimum}",
        )
    return kind(value)


def search_options(
    plan: AutoMLPlan, given: Mapping[str, Any], default_run_id: str
) -> SearchOptions:
    """The plan of config_automl.json with the command line's ``automl.*`` on top.

    Args:
        plan: what config_automl.json says.
        given: the ``automl`` settings node (null values: the plan's).
        default_run_id: the run id when ``automl.run_id`` is not given (the config's name).

    Raises:
        ConfigError: a budget, seed or keep count that is not a number of the right kind.
    """
    trials = given.get("trials")
    keep = given.get("keep")
    stop = given.get("stop_threshold")
    run_id = str(given.get("run_id") or default_run_id)
    if not run_id or "/" in run_id or run_id in (".", ".."):
        raise ConfigError(
            f"automl.run_id={run_id!r}", path="automl.run_id", expected="a folder name"
        )
    return SearchOptions(
        trials=_number(plan.max_rounds if trials is None else trials, "trials", int, 1),
        seed=_number(given.get("seed") or 0, "seed", int, 0),
        stop_threshold=plan.stop_threshold
        if stop is None
        else _number(stop, "stop_threshold", float, -1e30),
        keep=_number(plan.num_mmars_to_keep if keep is None else keep, "keep", int, 1),
        run_id=run_id,
    )


def run_search(
    sampler: Any,
    options: SearchOptions,
    run_trial: Callable[[int, dict[str, Any]], TrialResult],
    say: Callable[[str], None] = print,
) -> tuple[list[TrialResult], list[str]]:
    """Trials until the budget is spent, the threshold is reached or the space is exhausted.

    Args:
        sampler: a :class:`~.sampler.TrialSampler` (``ask`` / ``tell``).
        options: the budget and the threshold.
        run_trial: trains trial ``i`` with ``sample`` and returns its result.
        say: where progress lines go.

    Returns:
        The trials in order, and the notes on how the search ended.
    """
    trials: list[TrialResult] = []
    notes: list[str] = []
    for i in range(options.trials):
        sample = sampler.ask()
        if sample is None:
            notes.append(f"search space exhausted after {i} distinct trial(s)")
            break
        result = run_trial(i, sample)
        sampler.tell(result.best)
        trials.append(result)
        shown = "failed" if result.best is None else f"{result.best:.4f}"
        say(f"automl: trial {i} ({i + 1}/{options.trials}) {result.settings} -> {shown}")
        stop = threshold_note(options, result)
        if stop:
            notes.append(stop)
            break
    return trials, notes


def threshold_note(options: SearchOptions, result: TrialResult) -> str | None:
    """Why the search stops after ``result`` (it reached ``stop_threshold``), or None."""
    threshold = options.stop_threshold
    if threshold is not None and result.best is not None and result.best >= threshold:
        return (
            f"stopped early: trial {result.trial} reached stop_threshold {threshold} "
            f"({result.best:.4f})"
        )
    return None
