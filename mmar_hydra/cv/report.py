"""The CV report: ``cv_report.csv`` / ``.md`` / ``.png`` in the CV folder.

One row per fold (cases, best key metric and its epoch from ``train_stats.json``, the
out-of-fold value of the key metric, training time, status), then the mean and the standard
deviation over the folds. The PNG shows every fold's validation curve and a box plot of the
per-case out-of-fold values. When ``task=postprocess`` has run, its decision table is part of
the Markdown report.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.runs.collect import curves, load_run
from mmar_hydra.writers.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["fold_rows", "per_case_values", "write_report", "POSTPROCESS_CSV"]

POSTPROCESS_CSV = "postprocess.csv"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return "-" if value is None else str(value)


def _count(path: Path, key: str) -> int | None:
    return len(json.loads(path.read_text()).get(key, [])) if path.is_file() else None


def fold_rows(folder: CVFolder) -> tuple[str, list[dict[str, Any]]]:
    """(key metric name, one row per fold)."""
    record = json.loads(folder.record.read_text())
    train_key, val_key = record.get("train_key", "training"), record.get("val_key", "validation")
    rows, metric = [], None
    for fold in folder.folds():
        run = load_run(folder.fold_mmar(fold), name=f"fold_{fold}")
        oof_file = folder.oof_dir(fold) / "oof.json"
        oof = json.loads(oof_file.read_text()) if oof_file.is_file() else {}
        metric = metric or run.stats.get("key_metric_name") or oof.get("key_metric")
        rows.append(
            {
                "fold": str(fold),
                "train cases": _count(folder.split_file(fold), train_key),
                "val cases": _count(folder.split_file(fold), val_key),
                "best": run.stats.get("best_key_metric"),
                "best epoch": run.stats.get("best_key_metric_epoch"),
                "out-of-fold": oof.get("value"),
                "train time (s)": run.stats.get("total_time"),
                "status": run.status if run.root.is_dir() else "not started",
            }
        )
    return metric or "key metric", rows


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mean: dict[str, Any] = {"fold": "mean"}
    sd: dict[str, Any] = {"fold": "sd"}
    for column in ("best", "out-of-fold", "train time (s)"):
        values = [float(r[column]) for r in rows if isinstance(r.get(column), int | float)]
        mean[column] = float(np.mean(values)) if values else None
        sd[column] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return [mean, sd]


def per_case_values(folder: CVFolder, metric: str) -> dict[int, list[float]]:
    """The per-case out-of-fold values of ``metric`` (the ``mean`` column of its raw CSV)."""
    out: dict[int, list[float]] = {}
    for fold in folder.folds():
        raw = folder.oof_dir(fold) / f"{metric}_raw.csv"
        if raw.is_file():
            with raw.open() as fh:
                out[fold] = [float(r["mean"]) for r in csv.DictReader(fh)]
    return out


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _plot(folder: CVFolder, metric: str, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_curve, ax_box) = plt.subplots(1, 2, figsize=(12, 5))
    for fold in folder.folds():
        series = curves(folder.fold_mmar(fold), (metric,)).get(metric)
        if series:
            ax_curve.plot(*zip(*series, strict=True), marker="o", label=f"fold {fold}")
    ax_curve.set(title=f"validation {metric} per fold", xlabel="epoch", ylabel=metric)
    ax_curve.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_curve.grid(alpha=0.3)
    if ax_curve.get_legend_handles_labels()[0]:
        ax_curve.legend(fontsize=8)
    values = per_case_values(folder, metric)
    if values:
        data = [values[f] for f in values] + [[v for f in values for v in values[f]]]
        ax_box.boxplot(data, tick_labels=[f"fold {f}" for f in values] + ["all"])
    ax_box.set(title=f"out-of-fold {metric} per case", ylabel=metric)
    ax_box.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def write_report(folder: CVFolder) -> tuple[list[Path], str]:
    """Write cv_report.csv / .md / .png; returns the paths and the Markdown text."""
    metric, rows = fold_rows(folder)
    rows += _summary(rows)
    columns = list(rows[0]) if rows else []
    named = {"best": f"best {metric}", "out-of-fold": f"out-of-fold {metric}"}
    header = [named.get(c, c) for c in columns]
    with_names = [{named.get(k, k): v for k, v in r.items()} for r in rows]
    lines = [",".join(header)]
    lines += [",".join(_fmt(r.get(c)) for c in header) for r in with_names]
    csv_path = folder.root / "cv_report.csv"
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    mean, sd = rows[-2], rows[-1]
    text = f"# Cross-validation: {len(rows) - 2} folds\n\n" + _table(header, with_names)
    if mean.get("best") is not None:
        text += f"\nbest {metric}: {_fmt(mean['best'])} +- {_fmt(sd.get('best'))} (mean +- sd)\n"
    post = folder.root / POSTPROCESS_CSV
    if post.is_file():
        with post.open() as fh:
            decisions = list(csv.DictReader(fh))
        if decisions:
            text += "\n## Post-processing chosen on the out-of-fold predictions\n\n"
            text += _table(list(decisions[0]), decisions)
    md_path = folder.root / "cv_report.md"
    atomic_write_text(md_path, text)
    png = folder.root / "cv_report.png"
    _plot(folder, metric, png)
    return [csv_path, md_path, png], text
