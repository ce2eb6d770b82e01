"""``task=compare runs=DIR|[DIR1,DIR2]|GLOB|mlflow:EXP|optuna:URL/STUDY out=DIR [baseline=A]
[validate_missing=true]``.

Compares experiment variants: the table of settings, training metrics and costs
(``compare.csv`` / ``.md``, ``curves.png``), and case by case against the baseline, with
paired statistics (``paired.csv``, ``per_case.csv``, the Markdown's second table) and one
self-contained ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmar_hydra.comparison.cv_variants import is_cv_folder, load_cv_run
from mmar_hydra.comparison.report_build import build_outputs
from mmar_hydra.comparison.variant_cases import gather_cases, validate_argv
from mmar_hydra.context import TaskContext
from mmar_hydra.cv.launch import run_child
from mmar_hydra.errors import ConfigError
from mmar_hydra.hydra_config import runs_dir
from mmar_hydra.runs.collect import RunRecord, find_mmars, load_run
from mmar_hydra.runs.compare import compare_runs, write_table
from mmar_hydra.runs.mlflow_runs import is_mlflow_spec, load_mlflow_runs
from mmar_hydra.study.listing import is_optuna_spec, load_study_runs
from mmar_hydra.tasks.records import record_run
from mmar_hydra.tracking.mlflow_store import store_location

__all__ = ["run"]


def run(ctx: TaskContext) -> Path:

    runs = ctx.settings.runs
    if not runs:
        raise ConfigError(
            "task=compare needs runs",
            path="runs",
            expected="runs=SWEEP_DIR, runs=[A,B] or runs='models/*/'",
            fix="e.g. `python -m mmar_hydra task=compare runs=demo/runs/multirun_X out=cmp`",
        )
    runs = [str(r) for r in runs] if isinstance(runs, list | tuple) else str(runs)
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
    baseline = _baseline(ctx.settings.baseline, records)
    out = Path(ctx.settings.out or "compare").expanduser().resolve()
    columns, rows = compare_runs(records)
    csv_path, md_path, text = write_table(columns, rows, out)
    written = _case_by_case(ctx, records, baseline, out, (columns, rows))
    record_run(ctx, out, extra={"runs": runs, "baseline": baseline})
    print(text)
    print(written["markdown"])
    print(f"wrote {csv_path}\n      {md_path}")
    for name in ("curves", "paired", "per_case", "report"):
        if written.get(name):
            print(f"      {written[name]}")
    return out


def _case_by_case(
    ctx: TaskContext,
    records: list[RunRecord],
    baseline: str,
    out: Path,
    table: tuple[list[str], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Per-case results, paired statistics and the HTML report (see comparison/report_build.py)."""

    def validate(root: Path) -> int:
        argv = validate_argv(root, allow_code=ctx.allow_code)
        print(f"validate_missing: python -m mmar_hydra {' '.join(argv)}")
        return run_child(argv)

    gathered = gather_cases(
        records, validate_missing=ctx.settings.validate_missing, validate=validate
    )
    return build_outputs(records, gathered, baseline, out, table, seed=ctx.settings.seed)


def _baseline(value: str | None, records: list[RunRecord]) -> str:
    """The baseline's name: ``baseline=`` as a variant name or its folder; default the first."""
    if not value:
        return records[0].name
    for run in records:
        if value == run.name:
            return run.name
    path = Path(value).expanduser().resolve()
    for run in records:
        root = run.root.resolve()
        if path in (root, root.parent if root.name == "mmar" else root):
            return run.name
    raise ConfigError(
        f"baseline={value} is none of the compared runs",
        path="baseline",
        expected="a run's name or folder: " + ", ".join(r.name for r in records),
        fix="name one of them, or leave baseline out to use the first",
    )


def _folder_records(runs: str | list[Any]) -> list[RunRecord]:
    """Runs in folders: a CV folder among several items is one variant, else its folds are."""

    items = [runs] if isinstance(runs, str) else [str(r) for r in runs]
    cv_items = [Path(i).expanduser().resolve() for i in items if is_cv_folder(Path(i).expanduser())]
    if len(items) < 2:
        cv_items = []  # runs=cv_dir alone: its folds are the variants (as a sweep's jobs)
    roots = find_mmars([i for i in items if Path(i).expanduser().resolve() not in cv_items])
    every = [*roots, *cv_items]
    names = dict(zip(every, _names(every), strict=True))
    records = [load_run(root, names[root]) for root in roots]
    records += [load_cv_run(root, names[root]) for root in cv_items]
    order = {Path(i).expanduser().resolve(): n for n, i in enumerate(items)}
    return sorted(records, key=lambda r: _position(r.root, order))


def _position(root: Path, order: dict[Path, int]) -> int:
    """Where ``root`` came in ``runs=`` (a sweep's jobs share their sweep's place)."""
    for item, index in order.items():
        if root == item or root.is_relative_to(item):
            return index
    return len(order)


def _mlflow_records(ctx: TaskContext, runs: str) -> list[RunRecord]:
    """``runs=mlflow:EXPERIMENT[/SWEEP]`` from ``tracking_uri`` (default with ``mmar=``: the
    MMAR's own ``runs/mlflow.db``)."""

    mmar = ctx.settings.mmar
    uri, _ = store_location(ctx.settings.tracking_uri, Path(runs_dir(mmar)) if mmar else None)
    return load_mlflow_runs(runs, uri)


def _names(roots: list[Path]) -> list[str]:
    """Short unique names: the job folder for sweep runs (``3/mmar`` -> ``3``), else the folder;
    the shortest tails of the paths that tell them apart when those repeat (``a/cv``, ``b/cv``)."""
    tails = [r.parent if r.name == "mmar" else r for r in roots]
    for depth in range(1, max((len(t.parts) for t in tails), default=1) + 1):
        names = ["/".join(t.parts[-depth:]) for t in tails]
        if len(set(names)) == len(names):
            return names
    return [str(r) for r in roots]
