"""``task=compare``'s case-by-case outputs, from the runs and their per-case values.

Writes ``paired.csv`` (every variant against the baseline per metric and class),
``per_case.csv`` (every value read), ``curves.png``, the paired table appended to
``compare.md`` and ``report.html`` (:mod:`.report_html`). Returns what it wrote and the
Markdown text for the terminal.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mmar_hydra.comparison.cv_variants import cv_fold_table, fold_of, is_cv_folder
from mmar_hydra.comparison.paired import (
    Comparison,
    compare_cases,
    comparison_records,
    comparison_rows,
    missing_cases,
    per_case_csv,
)
from mmar_hydra.comparison.report_figures import svg_of
from mmar_hydra.comparison.report_html import ReportData, config_diff_table, write_html
from mmar_hydra.comparison.variant_cases import GatheredCases
from mmar_hydra.mmar.keys import flatten
from mmar_hydra.runs.collect import RunRecord, differing_keys
from mmar_hydra.runs.compare import (
    LOWER_IS_BETTER,
    curves_figure,
    key_metric_of,
    label_of,
    markdown_table,
    normalized_configs,
)
from mmar_hydra.writers.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["build_outputs"]

_LISTED = 10  # missing case ids named in a note (the rest counted)


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _missing_notes(gathered: GatheredCases) -> list[str]:
    notes = []
    for name, cases in missing_cases(gathered.tables).items():
        shown = ", ".join(cases[:_LISTED]) + (
            f" and {len(cases) - _LISTED} more" if len(cases) > _LISTED else ""
        )
        notes.append(f"{name} has no result for {len(cases)} case(s) other variants have: {shown}")
    return notes


def _comparisons(
    gathered: GatheredCases, baseline: str, seed: int
) -> tuple[list[Comparison], list[str]]:
    if baseline not in gathered.tables:
        return [], [f"the baseline {baseline} has no per-case results: no paired comparison"]
    if len(gathered.tables) < 2:
        return [], ["fewer than two variants have per-case results: no paired comparison"]
    comparisons = compare_cases(
        gathered.tables, baseline, seed=seed, lower_is_better=LOWER_IS_BETTER
    )
    notes = [
        f"{c.variant} and {baseline} share no case on {c.metric} ({c.column}): not compared"
        for c in comparisons
        if not c.cases
    ]
    return comparisons, notes


def _fold_tables(records: list[RunRecord]) -> dict[str, Any]:
    """Per-fold tables of the CV folders among the runs (or whose folds the runs are)."""
    folders: dict[Path, str] = {}
    for run in records:
        if is_cv_folder(run.root):
            folders.setdefault(run.root, run.name)
        elif (fold := fold_of(run.root)) is not None:
            folders.setdefault(fold[0].root, fold[0].root.name)
    return {name: cv_fold_table(root) for root, name in folders.items()}


def _curves(records: list[RunRecord], out: Path) -> tuple[Path, str]:
    """curves.png and the same figure as SVG ("" when no run logged a curve)."""
    fig = curves_figure(records)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    png = out / "curves.png"
    atomic_write_bytes(png, buffer.getvalue())
    drawn = any(ax.lines for ax in fig.axes)
    svg = svg_of(fig)
    return png, svg if drawn else ""


def build_outputs(
    records: list[RunRecord],
    gathered: GatheredCases,
    baseline: str,
    out: Path,
    table: tuple[list[str], list[dict[str, Any]]],
    *,
    seed: int,
) -> dict[str, Any]:
    """Write the case-by-case files and the report; returns their paths and the Markdown.

    Args:
        records: the compared runs.
        gathered: their per-case values and notes.
        baseline: the baseline's name.
        out: the output folder (exists: compare.csv / compare.md are in it).
        table: ``compare_runs``'s (columns, rows).
        seed: the bootstrap seed.
    """
    comparisons, notes = _comparisons(gathered, baseline, seed)
    notes = [*gathered.notes, *_missing_notes(gathered), *notes]
    columns, rows = comparison_rows(comparisons)
    written: dict[str, Any] = {}
    if comparisons:
        full = comparison_records(comparisons)
        written["paired"] = out / "paired.csv"
        atomic_write_text(written["paired"], _csv(list(full[0]), full))
    if gathered.tables:
        written["per_case"] = out / "per_case.csv"
        atomic_write_text(written["per_case"], per_case_csv(gathered.tables))
    markdown = f"\n## Paired per-case differences against {baseline}\n\n"
    markdown += markdown_table(columns, rows) if rows else "No paired comparison.\n"
    markdown += "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    md_path = out / "compare.md"
    atomic_write_text(md_path, md_path.read_text() + markdown)
    written["markdown"] = markdown
    written["curves"], curves_svg = _curves(records, out)
    keys = differing_keys(normalized_configs(records))
    flats = {r.name: flatten(c) for r, c in zip(records, normalized_configs(records), strict=True)}
    labels = {r.name: _legend(r.name, label_of(r, keys)) for r in records}
    data = ReportData(
        baseline=baseline,
        seed=seed,
        variants=table,
        labels=labels,
        tables=gathered.tables,
        comparisons=comparisons,
        key_metric=key_metric_of(records),
        notes=notes,
        config_diff=config_diff_table(keys, flats),
        curves_svg=curves_svg,
        fold_tables=_fold_tables(records),
    )
    written["report"] = write_html(out, data)
    return written


def _legend(name: str, label: str) -> str:
    return name if label == name else f"{name}: {label}"
