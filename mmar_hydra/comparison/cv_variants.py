"""A whole cross-validation run as one variant of ``task=compare``.

``runs=[cv_a,cv_b]`` compares two CV runs (two MMARs' ``task=cv`` folders) on their
out-of-fold predictions: every case of the CV pool has exactly one, from the fold that did not
train on it, so the two runs pair on every case. The variant's row sums the folds' training
times, averages their best key metric, lists their best epochs and keeps the largest peak
memory; its learning curve is the mean over the folds. ``runs=cv_dir`` alone compares the
folds with each other (they share no case, so there is no paired test between them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mmar_hydra.comparison.per_case import CaseValues, cv_cases
from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.report import fold_rows
from mmar_hydra.runs.collect import RunRecord, curves, load_run

__all__ = ["is_cv_folder", "load_cv_run", "cv_case_values", "cv_fold_table", "fold_of"]

_TAGS = ("train_loss_epoch",)


def is_cv_folder(path: Path) -> bool:
    """``path`` is a ``task=cv`` folder (it holds ``cv.json``)."""
    return CVFolder(path).record.is_file()


def fold_of(root: Path) -> tuple[CVFolder, int] | None:
    """(CV folder, fold) when ``root`` is a fold's MMAR run folder ``<cv>/fold_<i>/mmar``."""
    fold_dir = root.parent
    if root.name != "mmar" or not fold_dir.name.startswith("fold_"):
        return None
    number = fold_dir.name.removeprefix("fold_")
    folder = CVFolder(fold_dir.parent)
    return (folder, int(number)) if number.isdigit() and is_cv_folder(folder.root) else None


def _mean_series(runs: list[RunRecord], tags: tuple[str, ...]) -> dict[str, list]:
    """Per tag, the mean over the folds at each epoch every fold reached."""
    found = [curves(r.root, tags) for r in runs]
    out: dict[str, list[tuple[int, float]]] = {}
    for tag in tags:
        series = [dict(s[tag]) for s in found if s.get(tag)]
        if series and len(series) == len(runs):
            epochs = sorted(set.intersection(*(set(s) for s in series)))
            out[tag] = [(e, float(np.mean([s[e] for s in series]))) for e in epochs]
    return out


def _stats(runs: list[RunRecord]) -> dict[str, Any]:
    def values(key: str) -> list[Any]:
        return [r.stats[key] for r in runs if r.stats.get(key) is not None]

    best, times, rss = values("best_key_metric"), values("total_time"), values("peak_rss_mb")
    metric = next(iter(values("key_metric_name")), None)
    stats: dict[str, Any] = {
        "key_metric_name": metric,
        "best_key_metric": float(np.mean(best)) if best else None,
        "best_key_metric_epoch": "/".join(str(e) for e in values("best_key_metric_epoch")) or None,
        "epochs_completed": sum(values("epochs_completed")) or None,
        "total_time": round(float(sum(times)), 3) if times else None,
        "peak_rss_mb": max(rss) if rss else None,
        "last_metrics": {},
    }
    cuda = values("peak_cuda_mb")
    if cuda:
        stats["peak_cuda_mb"] = max(cuda)
    return stats


def load_cv_run(path: Path, name: str) -> RunRecord:
    """One variant for a whole CV folder (see the module docstring)."""
    folder = CVFolder(path.resolve())
    runs = [load_run(folder.fold_mmar(f)) for f in folder.folds() if folder.fold_mmar(f).is_dir()]
    done = sum(r.status == "finished" for r in runs)
    total = len(folder.folds())
    stats = _stats(runs)
    config = dict(runs[0].config) if runs else {}
    config.pop("DATASET_JSON", None)  # the fold's own split file
    tags = (stats["key_metric_name"] or "val_mean_dice", *_TAGS)
    return RunRecord(
        name=name,
        root=folder.root,
        config=json.loads(json.dumps(config, default=str).replace(str(folder.root), "<cv>")),
        stats=stats,
        params=runs[0].params if runs else None,
        status="finished" if total and done == total else f"{done} of {total} folds finished",
        series=_mean_series(runs, tags) if runs else {},
    )


def cv_case_values(path: Path) -> CaseValues:
    """The out-of-fold per-case values of every fold of the CV folder ``path``."""
    folder = CVFolder(path)
    return cv_cases(folder.root, folder.folds(), {f: folder.oof_dir(f) for f in folder.folds()})


def cv_fold_table(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): the CV report's per-fold rows (cases, best, epoch, out-of-fold...)."""
    metric, rows = fold_rows(CVFolder(path))
    named = {"best": f"best {metric}", "out-of-fold": f"out-of-fold {metric}"}
    renamed = [{named.get(k, k): v for k, v in r.items()} for r in rows]
    return (list(renamed[0]) if renamed else []), renamed
