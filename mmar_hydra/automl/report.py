"""The search's results: ranking, pruning beyond ``num_mmars_to_keep``, the report files.

``automl_report.csv`` / ``.md``: one row per trial (rank, sampled values, best key metric,
its epoch, training time, status, folder); ``automl_report.png``: the key metric against the
trial number with the running best (skipped with a note when matplotlib is missing).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.writers.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["TrialResult", "rank_trials", "prune_trials", "write_report", "REPORT_NAME"]

REPORT_NAME = "automl_report"


@dataclass
class TrialResult:
    """One trial of the search.

    Args:
        trial: its number (0, 1, ...), also its folder ``trial_<n>``.
        sample: the sampler's values (parameter name -> float / enum row).
        settings: what they mean in the config (:func:`~.describe.describe_sample`).
        best: the best validation key metric (None: no validation ran or the trial failed).
        epoch: the epoch of ``best``.
        seconds: training time.
        status: ``finished``, ``failed`` or ``pruned`` (its folder was removed).
        error: the one-line error of a failed trial.
        folder: the trial MMAR.
    """

    trial: int
    sample: dict[str, Any]
    settings: dict[str, Any]
    best: float | None = None
    epoch: int | None = None
    seconds: float = 0.0
    status: str = "finished"
    error: str = ""
    folder: str = ""
    rank: int | None = field(default=None)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _score(t: TrialResult) -> float:
    return -math.inf if t.best is None or math.isnan(t.best) else t.best


def rank_trials(trials: Sequence[TrialResult]) -> list[TrialResult]:
    """Best key metric first (ties: the earlier trial); failed trials last. Sets ``rank``."""
    ranked = sorted(trials, key=lambda t: (-_score(t), t.trial))
    for i, t in enumerate(ranked, start=1):
        t.rank = i
    return ranked


def prune_trials(ranked: Sequence[TrialResult], keep: int) -> list[TrialResult]:
    """Remove the folders of trials ranked below ``keep``; returns the pruned trials."""
    pruned = []
    for t in ranked[max(keep, 0) :]:
        if t.folder and Path(t.folder).is_dir():
            shutil.rmtree(t.folder)
        t.status = "pruned" if t.status == "finished" else f"{t.status}, pruned"
        pruned.append(t)
    return pruned


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _rows(trials: Sequence[TrialResult], metric: str) -> tuple[list[str], list[list[str]]]:
    labels = list(dict.fromkeys(k for t in trials for k in t.settings))
    header = ["trial", "rank", *labels, f"best {metric}", "epoch", "time (s)", "status", "folder"]
    rows = []
    for t in sorted(trials, key=lambda t: t.trial):
        values = [t.settings.get(k) for k in labels]
        rows.append(
            [str(t.trial), _fmt(t.rank), *map(_fmt, values), _fmt(t.best), _fmt(t.epoch)]
            + [f"{t.seconds:.1f}", t.status + (f": {t.error}" if t.error else ""), t.folder]
        )
    return header, rows


def _plot(trials: Sequence[TrialResult], metric: str, path: Path) -> str | None:
    """The PNG, or a note why there is none."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    done = sorted((t for t in trials if t.best is not None), key=lambda t: t.trial)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs, ys = [t.trial for t in done], [float(t.best or 0.0) for t in done]
    ax.plot(xs, ys, "o", label=metric)
    running, best = [], -math.inf
    for y in ys:
        best = max(best, y)
        running.append(best)
    ax.step(xs, running, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return None


def write_report(
    folder: Path, trials: Sequence[TrialResult], metric: str, notes: Sequence[str] = ()
) -> tuple[list[Path], str]:
    """Write the CSV, Markdown and PNG report into ``folder``; returns (paths, Markdown).

    Args:
        folder: the search folder.
        trials: every trial, ranked (:func:`rank_trials`).
        metric: the key metric's label.
        notes: lines added under the table (early stop, exhausted space, pruning).
    """
    header, rows = _rows(trials, metric)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    csv_path, md_path = folder / f"{REPORT_NAME}.csv", folder / f"{REPORT_NAME}.md"
    atomic_write_text(csv_path, buf.getvalue())
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    png_path = folder / f"{REPORT_NAME}.png"
    plot_note = _plot(trials, metric, png_path)
    all_notes = [*notes, *([plot_note] if plot_note else [])]
    text = "\n".join([f"# AutoML search: {folder.name}", "", *lines, "", *all_notes]) + "\n"
    atomic_write_text(md_path, text)
    return [csv_path, md_path, *([] if plot_note else [png_path])], text
