"""Compare experiment variants: what differs between them and how well each trained.

The table has one row per run: the config keys whose values differ between the runs (and
nothing else), the best key metric and its epoch, the final metrics, the training time and
the parameter count, the peak memory and the device, ranked by the key metric with the best
marked. The figure shows the validation key metric and the training loss per epoch for every
variant.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from mmar_hydra.mmar.keys import flatten
from mmar_hydra.runs.collect import RunRecord, curves, differing_keys
from mmar_hydra.writers.atomic import atomic_write_text
from mmar_hydra.writers.run_info import read_run_info

__all__ = [
    "compare_runs",
    "label_of",
    "write_table",
    "curves_figure",
    "markdown_table",
    "normalized_configs",
    "key_metric_of",
    "LOWER_IS_BETTER",
]

LOWER_IS_BETTER = ("hausdorff", "surface_distance")


def _short(key: str) -> str:
    return key.removeprefix("train.").replace(".args.", ".")


def _priority(key: str) -> tuple[int, str]:
    """Globals and component names first: they name a variant best."""
    return (0 if "." not in key else 1 if key.endswith(".name") else 2, key)


def label_of(run: RunRecord, keys: list[str]) -> str:
    """A variant's name in legends: its differing settings, e.g. ``learning_rate=0.001``."""
    flat = flatten(run.config)
    ranked = sorted(keys, key=_priority)
    named = [k for k in ranked if _priority(k)[0] < 2] or ranked
    parts = [f"{_short(k)}={flat.get(k, '-')}" for k in named[:3]]
    return ", ".join(parts) if parts else run.name


def normalized_configs(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Configs with each run's own folder written as ``<mmar>``: paths derived from where a run
    lives (save_dir, log_dir) are not a difference between experiments."""
    import json

    return [
        json.loads(json.dumps(r.config, default=str).replace(str(r.root), "<mmar>")) for r in runs
    ]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def key_metric_of(runs: list[RunRecord]) -> str | None:
    """The key metric's name the runs' train_stats.json give (the first that gives one)."""
    return next(
        (str(r.stats["key_metric_name"]) for r in runs if r.stats.get("key_metric_name")), None
    )


def _device(run: RunRecord) -> str | None:
    """The device the run trained on, from its ``models/run_info.json``."""

    sections = read_run_info(run.root / "models")
    section = sections.get("train") or sections.get("finetune") or {}
    env = section.get("environment") if isinstance(section, dict) else None
    if not isinstance(env, dict):
        return None
    devices = env.get("devices") or []
    return str(devices[0]) if devices else str(env.get("cpu") or "CPU")


def _resources(run: RunRecord, cuda: bool) -> dict[str, Any]:
    """Time, size and memory columns: what a variant costs."""
    row: dict[str, Any] = {
        "epochs": run.stats.get("epochs_completed"),
        "train time (s)": run.stats.get("total_time"),
        "params": run.params,
        "peak RSS (MB)": run.stats.get("peak_rss_mb"),
    }
    if cuda:
        row["peak CUDA (MB)"] = run.stats.get("peak_cuda_mb")
    row["device"] = _device(run)
    return row


def compare_runs(runs: list[RunRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of the comparison table, best run first."""
    keys = sorted(differing_keys(normalized_configs(runs)), key=_priority)
    metric = key_metric_of(runs)
    lower = bool(metric) and any(s in str(metric).lower() for s in LOWER_IS_BETTER)
    cuda = any("peak_cuda_mb" in r.stats for r in runs)
    final_names = sorted(
        {k for r in runs for k in (r.stats.get("last_metrics") or {}) if k.startswith("val_")}
    )
    rows = []
    for run in runs:
        flat = flatten(run.config)
        row: dict[str, Any] = {"run": run.name, **{_short(k): v for k, v in run.extra.items()}}
        row.update({_short(k): flat.get(k) for k in keys if _short(k) not in row})
        best = run.stats.get("best_key_metric")
        row[f"best {metric or 'key metric'}"] = best
        row["best epoch"] = run.stats.get("best_key_metric_epoch")
        for name in final_names:
            row[f"final {name}"] = (run.stats.get("last_metrics") or {}).get(name)
        row.update(_resources(run, cuda))
        row["status"] = run.status
        rows.append(row)

    def score(row: dict[str, Any]) -> float:
        value = row[f"best {metric or 'key metric'}"]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.inf
        return float(value) if lower else -float(value)

    rows.sort(key=score)
    for rank, row in enumerate(rows, 1):
        row["rank"] = f"{rank} (best)" if rank == 1 and score(row) != math.inf else str(rank)
    columns = ["rank", *[c for c in rows[0] if c != "rank"]] if rows else []
    return columns, rows


def write_table(
    columns: list[str], rows: list[dict[str, Any]], out: Path
) -> tuple[Path, Path, str]:
    """CSV + Markdown files, and the Markdown text for the terminal."""

    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "compare.csv", out / "compare.md"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows([[_fmt(r.get(c)) for c in columns] for r in rows])
    text = markdown_table(columns, rows)
    atomic_write_text(md_path, text)
    return csv_path, md_path, text


def markdown_table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (numbers to 4 significant digits, None as ``-``)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def curves_figure(runs: list[RunRecord]) -> Any:
    """The learning-curve figure (matplotlib, Agg): key metric and training loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = differing_keys(normalized_configs(runs))
    metric = key_metric_of(runs) or "val_mean_dice"
    fig, (ax_metric, ax_loss) = plt.subplots(1, 2, figsize=(12, 5.5))
    for run in runs:
        series = (
            run.series if run.series is not None else curves(run.root, (metric, "train_loss_epoch"))
        )
        label = label_of(run, keys)
        if metric in series:
            ax_metric.plot(*zip(*series[metric], strict=True), marker="o", label=label)
        if "train_loss_epoch" in series:
            ax_loss.plot(*zip(*series["train_loss_epoch"], strict=True), marker=".", label=label)
    ax_metric.set(title=f"validation {metric}", xlabel="epoch", ylabel=metric)
    ax_loss.set(title="training loss", xlabel="epoch", ylabel="loss")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_metric, ax_loss):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = ax_metric.get_legend_handles_labels() or ax_loss.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, title="variant")
    fig.subplots_adjust(bottom=0.28, wspace=0.25)
    return fig
