"""``task=compare runs=DIR|[DIR1,DIR2]|GLOB out=DIR``: compare experiment variants."""

from __future__ import annotations

from pathlib import Path

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError

__all__ = ["run"]


def run(ctx: TaskContext) -> Path:
    from omegaconf import OmegaConf

    from mmar_hydra.runs.collect import find_mmars, load_run
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
    roots = find_mmars(runs)
    if not roots:
        raise ConfigError(
            f"no MMAR found in {runs}",
            path="runs",
            expected="folders that hold config/ (and models/ once trained)",
        )
    names = _names(roots)
    records = [load_run(root, name) for root, name in zip(roots, names, strict=True)]
    out = Path(str(ctx.cfg.get("out") or "compare")).expanduser().resolve()
    columns, rows = compare_runs(records)
    csv_path, md_path, text = write_table(columns, rows, out)
    png = plot_curves(records, out)
    print(text)
    print(f"wrote {csv_path}\n      {md_path}\n      {png}")
    return out


def _names(roots: list[Path]) -> list[str]:
    """Short unique names: the job folder for sweep runs (``3/mmar`` -> ``3``), else the folder."""
    names = [r.parent.name if r.name == "mmar" else r.name for r in roots]
    if len(set(names)) < len(names):
        names = [str(r) for r in roots]
    return names
