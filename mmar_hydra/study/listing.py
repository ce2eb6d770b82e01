"""Read a shared study back: ``task=compare runs=optuna:URL/STUDY``.

One row per trial (duplicates of earlier samples left out, retries named): its parameters, its
value, its state, the worker that ran it and its run folder; when the folder is there, its
config, train_stats.json and learning curves as for any run (:func:`~mmar_hydra.runs.collect.load_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError
from mmar_hydra.runs.collect import RunRecord, load_run
from mmar_hydra.study.storage import StudySpec, database_error, masked, open_storage
from mmar_hydra.study.worker import DUPLICATE_OF, WORKER, retry_of

__all__ = ["PREFIX", "is_optuna_spec", "split_spec", "load_study_runs"]

PREFIX = "optuna:"
_STATUS = {"COMPLETE": "finished", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def is_optuna_spec(runs: Any) -> bool:
    return isinstance(runs, str) and runs.startswith(PREFIX)


def split_spec(spec: str) -> tuple[str, str]:
    """``optuna:URL/STUDY`` -> (URL, STUDY): the study is what follows the last ``/``."""
    url, _, name = spec.removeprefix(PREFIX).rpartition("/")
    if not url or not name:
        raise ConfigError(
            f"runs={spec!r}",
            path="runs",
            expected="runs=optuna:URL/STUDY, e.g. optuna:sqlite:////data/optuna.db/my_search "
            "or optuna:postgresql://user@host:5432/optuna/my_search",
        )
    return url, name


def _folder(trial: Any) -> Path | None:
    """The trial's MMAR: a sweep job's ``<job>/mmar``, or an AutoML trial folder."""
    where = trial.user_attrs.get("run_dir")
    if not where:
        return None
    job = Path(str(where))
    return job / "mmar" if (job / "mmar" / "config").is_dir() else job


def _record(trial: Any) -> RunRecord:

    again = retry_of(trial)
    name = f"trial {trial.number}" + (f" (retry of {again})" if again is not None else "")
    folder = _folder(trial)
    found = folder is not None and (folder / "config").is_dir()
    record = load_run(folder, name) if found and folder else RunRecord(name, Path(str(folder)))
    record.config = {}  # the trial's parameters are its columns, not every config key
    if not found:
        record.series = {}  # nothing to plot
    if trial.value is not None and record.stats.get("best_key_metric") is None:
        record.stats = {**record.stats, "best_key_metric": trial.value}
    record.status = _STATUS.get(trial.state.name, trial.state.name.lower())
    record.extra = {
        **{str(k): v for k, v in trial.params.items()},
        "value": trial.value,
        "worker": trial.user_attrs.get(WORKER),
        "run folder": str(folder) if folder else None,
    }
    return record


def load_study_runs(spec: str) -> list[RunRecord]:
    """The trials of ``optuna:URL/STUDY``, in trial order.

    Args:
        spec: ``optuna:`` then the storage URL, ``/`` and the study name.
    """

    url, name = split_spec(spec)
    storage = open_storage(StudySpec(url, name))
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        known = [s.study_name for s in storage.get_all_studies()]
        raise ConfigError(
            f"no study '{name}' in {masked(url)}",
            path="runs",
            expected="runs=optuna:URL/STUDY, one of: " + (", ".join(known) or "(none yet)"),
        ) from None
    except Exception as exc:  # noqa: BLE001 - the server went away, a broken database
        raise database_error(StudySpec(url, name), exc) from None
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return [_record(t) for t in trials if DUPLICATE_OF not in t.user_attrs]
