"""``task=compare runs=DIR|[DIR1,DIR2]|GLOB|mlflow:EXP|optuna:URL/STUDY out=DIR``: compare
experiment variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError
from mmar_hydra.runs.collect import RunRecord
from mmar_hydra.runs.mlflow_runs import is_mlflow_spec
from mmar_hydra.study.listing import is_optuna_spec, load_study_runs
from mmar_hydra.tasks.records import record_run

__all__ = ["run"]


def run(ctx: TaskContext) -> Path:
    from omegaconf import OmegaConf

    from mmar_hydra.runs.compare import compare_runs, plot_curves, write_table

    runs = ctx.cfg.get("runs")
    if not runs:
        raise ConfigError(
            "task=compare needs runs",
            path="runs",
            expected="runs=SWEEP_DIR, runs=[A,B] or runs='models/*/'",
            fix="e.g. `python -m mmar_hydra task=compare runs=demo/runs/multirun_X out=cmp`",
        )
    runs = OmegaConf.to_container(runs) if not isinstance(runs, str) else runs
    assert isinstance(runs, str | list)  # a string or a list on the command line
    if is_optuna_spec(runs):  # a shared study's trials (issue #30)
        records = load_study_runs(str(runs))
    elif isinstance(runs, str) and is_mlflow_spec(runs):
        records = _mlflow_records(ctx, runs)
    else:
        records = _folder_records(runs)
    if not records:
        raise ConfigError(
            f"no run found in {runs}",
            path="runs",
            expected="folders that hold config/ (and models/ once trained), "
            "mlflow:EXPERIMENT with training runs, or optuna:URL/STUDY with trials",
        )
    out = Path(str(ctx.cfg.get("out") or "compare")).expanduser().resolve()
    columns, rows = compare_runs(records)
    csv_path, md_path, text = write_table(columns, rows, out)
    png = plot_curves(records, out)
    record_run(ctx, out, extra={"runs": runs})
    print(text)
    print(f"wrote {csv_path}\n      {md_path}\n      {png}")
    return out


def _folder_records(runs: str | list[Any]) -> list[RunRecord]:
    from mmar_hydra.runs.collect import find_mmars, load_run

    roots = find_mmars(runs)
    return [load_run(root, name) for root, name in zip(roots, _names(roots), strict=True)]


def _mlflow_records(ctx: TaskContext, runs: str) -> list[RunRecord]:
    """``runs=mlflow:EXPERIMENT[/SWEEP]`` from ``tracking_uri`` (default with ``mmar=``: the
    MMAR's own ``runs/mlflow.db``)."""
    from mmar_hydra.hydra_config import runs_dir
    from mmar_hydra.runs.mlflow_runs import load_mlflow_runs
    from mmar_hydra.tracking.mlflow_store import store_location

    mmar = ctx.settings.mmar
    uri, _ = store_location(ctx.settings.tracking_uri, Path(runs_dir(mmar)) if mmar else None)
    return load_mlflow_runs(runs, uri)


def _names(roots: list[Path]) -> list[str]:
    """Short unique names: the job folder for sweep runs (``3/mmar`` -> ``3``), else the folder."""
    names = [r.parent.name if r.name == "mmar" else r.name for r in roots]
    if len(set(names)) < len(names):
        names = [str(r) for r in roots]
    return names
