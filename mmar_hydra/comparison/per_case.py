"""Per-case results of a variant, as MetricsSaver wrote them, and case ids to pair them on.

Where they come from:

- an MMAR (a clone, a ``cp -r`` copy, a sweep job's ``mmar/`` folder, an AutoML trial): the
  ``<label>_raw.csv`` files of its eval folder (``MMAR_EVAL_OUTPUT_PATH`` of its
  environment.json), which ``task=validate`` writes;
- a CV folder: the out-of-fold ``oof/fold_<i>/<label>_raw.csv`` of every fold.

A raw CSV has one row per case: the image file, one column per class and ``mean``. The same
case has another absolute path in a copied MMAR, so a case's id is the shortest tail of its
path (``spleen_003.nii.gz``, else ``imagesTr/spleen_003.nii.gz``...) that names every case of
every variant uniquely.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from mmar_hydra.writers.run_info import read_run_info

__all__ = [
    "CaseValues",
    "EvalState",
    "read_raw_csv",
    "eval_dir_of",
    "eval_state",
    "mmar_cases",
    "cv_cases",
    "case_ids",
]

_RAW = "_raw.csv"
_EVAL_TASKS = ("validate", "ensemble")  # run_info.json sections of tasks that wrote eval CSVs


@dataclass
class CaseValues:
    """One variant's per-case values.

    Args:
        values: metric label -> column (``mean``, ``class0``...) -> case file -> value.
        source: where they were read, for the report.
        folds: case file -> fold, for CV runs.
    """

    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    source: str = ""
    folds: dict[str, int] = field(default_factory=dict)

    def cases(self) -> set[str]:
        return {c for columns in self.values.values() for col in columns.values() for c in col}


@dataclass(frozen=True)
class EvalState:
    """What a variant's eval folder holds.

    Args:
        state: ``ok``; ``missing`` (trained, never validated); ``untrained`` (no model and no
            results); ``stale`` (older than ``models/model.pt``); ``training`` (written by the
            training run's own MetricsSaver: its last validation, not ``model.pt``).
        files: the ``<label>_raw.csv`` files found.
    """

    state: str
    files: tuple[Path, ...]

    @property
    def usable(self) -> bool:
        return bool(self.files)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_raw_csv(path: Path) -> dict[str, dict[str, float]]:
    """column -> case file -> value, from one ``<label>_raw.csv`` (any delimiter MetricsSaver
    was given). A file listed twice keeps both rows (``file#2``)."""
    text = path.read_text()
    header = text.splitlines()[0] if text else ""
    try:
        delimiter = csv.Sniffer().sniff(header, delimiters=",\t;| ").delimiter
    except csv.Error:  # one column, or an empty file: nothing to split
        delimiter = ","
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    if not rows:
        return {}
    names = rows[0][1:]
    out: dict[str, dict[str, float]] = {name: {} for name in names}
    first = out[names[0]] if names else {}
    for row in rows[1:]:
        if not row:
            continue
        case, seen = row[0], 1
        while case in first:
            seen += 1
            case = f"{row[0]}#{seen}"
        for name, value in zip(names, row[1:], strict=False):
            out[name][case] = _float(value)
    return out


def eval_dir_of(root: Path) -> Path:
    """The MMAR's ``MMAR_EVAL_OUTPUT_PATH`` (relative to its root), default ``eval``."""
    env_file = root / "config" / "environment.json"
    try:
        env = json.loads(env_file.read_text()) if env_file.is_file() else {}
    except ValueError:
        env = {}
    value = env.get("MMAR_EVAL_OUTPUT_PATH") if isinstance(env, dict) else None
    path = Path(str(value or "eval")).expanduser()
    return path if path.is_absolute() else root / path


def eval_state(root: Path) -> EvalState:
    """Whether ``root``'s eval folder holds per-case results of its current model."""
    folder = eval_dir_of(root)
    files = tuple(sorted(folder.glob(f"*{_RAW}"))) if folder.is_dir() else ()
    model = next(
        (p for p in (root / "models" / n for n in ("model.pt", "final_model.pt")) if p.is_file()),
        None,
    )
    if not files:
        return EvalState("missing" if model else "untrained", ())
    if model is not None and min(f.stat().st_mtime_ns for f in files) < model.stat().st_mtime_ns:
        return EvalState("stale", files)
    if not any(task in read_run_info(folder) for task in _EVAL_TASKS):
        return EvalState("training", files)
    return EvalState("ok", files)


def _label(path: Path) -> str:
    return path.name[: -len(_RAW)]


def mmar_cases(root: Path, files: tuple[Path, ...]) -> CaseValues:
    """The per-case values in an MMAR's eval folder."""
    where = ", ".join(_shown(f, root) for f in files)
    return CaseValues({_label(f): read_raw_csv(f) for f in files}, source=where)


def cv_cases(cv_root: Path, folds: list[int], oof_dir: Mapping[int, Path]) -> CaseValues:
    """The out-of-fold values of every fold of a CV folder, with each case's fold."""
    out = CaseValues(source=f"out-of-fold: {_shown(cv_root / 'oof', cv_root.parent)}")
    for fold in folds:
        for path in sorted(oof_dir[fold].glob(f"*{_RAW}")):
            for column, cases in read_raw_csv(path).items():
                out.values.setdefault(_label(path), {}).setdefault(column, {}).update(cases)
                out.folds.update(dict.fromkeys(cases, fold))
    return out


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def case_ids(files: Mapping[str, set[str]]) -> dict[str, str]:
    """case file -> id: the shortest path tail that is unique within every variant.

    Args:
        files: variant -> its case files.
    """
    everything = {f for cases in files.values() for f in cases}
    depth = max((len(PurePath(f).parts) for f in everything), default=1)
    for k in range(1, depth + 1):
        ok = all(len({_tail(f, k) for f in cases}) == len(cases) for cases in files.values())
        if ok:
            return {f: _tail(f, k) for f in everything}
    return {f: f for f in everything}


def _tail(path: str, k: int) -> str:
    parts = PurePath(path).parts
    return "/".join(parts[-k:])
