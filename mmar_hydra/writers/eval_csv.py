"""The evaluation files Clara's MetricsSaver wrote, in MONAI's ``write_metrics_reports`` format.

``metrics.csv`` (one ``label,value`` line per metric), ``<label>_raw.csv`` (one row per case:
filename, one column per class, mean) and ``<label>_summary.csv`` (per class: mean, median,
max, min, 90percentile, std, notnans). Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["write_metric_files", "write_metrics_saver", "SUMMARY_OPS"]

SUMMARY_OPS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": np.nanmean,
    "median": np.nanmedian,
    "max": np.nanmax,
    "min": np.nanmin,
    "90percentile": lambda x: np.nanpercentile(x, 90),
    "std": np.nanstd,
    "notnans": lambda x: float((~np.isnan(x)).sum()),
}


def _pick(names: object, mapping: Mapping) -> dict:
    """MetricsSaver's ``metrics`` / ``metric_details`` selection: ``"*"``, a name or a list."""
    if names in ("*", None) or names == ["*"]:
        return dict(mapping)
    wanted = [names] if isinstance(names, str) else list(names)  # type: ignore[call-overload]
    return {k: v for k, v in mapping.items() if k in wanted}


def write_metrics_saver(
    save_dir: str | Path,
    saver_args: Mapping[str, object],
    metrics: Mapping[str, float],
    details: Mapping[str, tuple[Sequence[str], np.ndarray]],
) -> list[Path]:
    """The files a Clara MetricsSaver with ``saver_args`` writes (metrics, details, ops)."""
    return write_metric_files(
        save_dir,
        _pick(saver_args.get("metrics", "*"), metrics),
        _pick(saver_args.get("metric_details", "*"), details),
        summary_ops=saver_args.get("summary_ops", "*"),  # type: ignore[arg-type]
        deli=str(saver_args.get("delimiter", ",")),
    )


def _ops(summary_ops: str | Sequence[str] | None) -> list[str]:
    if summary_ops is None:
        return []
    ops = [summary_ops] if isinstance(summary_ops, str) else list(summary_ops)
    return list(SUMMARY_OPS) if "*" in ops else [o for o in ops if o in SUMMARY_OPS]


def write_metric_files(
    save_dir: str | Path,
    metrics: Mapping[str, float],
    details: Mapping[str, tuple[Sequence[str], np.ndarray]],
    summary_ops: str | Sequence[str] | None = "*",
    class_names: Sequence[str] | None = None,
    deli: str = ",",
) -> list[Path]:
    """Write the files; ``details`` maps a label to (filenames, per-case values [N, C])."""
    save_dir = Path(save_dir)
    written = []
    if metrics:
        path = save_dir / "metrics.csv"
        atomic_write_text(path, "".join(f"{k}{deli}{v}\n" for k, v in metrics.items()))
        written.append(path)
    for label, (files, values) in details.items():
        v = np.asarray(values, dtype=float)
        v = v.reshape(-1, 1) if v.ndim <= 1 else v.reshape(v.shape[0], -1)
        names = list(class_names) if class_names else [f"class{i}" for i in range(v.shape[1])]
        names += ["mean"]
        with np.errstate(all="ignore"):
            v = np.concatenate([v, np.nanmean(v, axis=1, keepdims=True)], axis=1)
        rows = [f"filename{deli}{deli.join(names)}"]
        for i, row in enumerate(v):
            name = files[i] if i < len(files) else str(i)
            rows.append(f"{name}{deli}{deli.join(f'{c:.4f}' for c in row)}")
        path = save_dir / f"{label}_raw.csv"
        atomic_write_text(path, "\n".join(rows) + "\n")
        written.append(path)
        ops = _ops(summary_ops)
        if ops:
            lines = [f"class{deli}{deli.join(ops)}"]
            with np.errstate(all="ignore"):
                for i, column in enumerate(v.T):
                    lines.append(
                        f"{names[i]}{deli}{deli.join(f'{SUMMARY_OPS[o](column):.4f}' for o in ops)}"
                    )
            path = save_dir / f"{label}_summary.csv"
            atomic_write_text(path, "\n".join(lines) + "\n")
            written.append(path)
    return written
