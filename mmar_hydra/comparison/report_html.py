"""``report.html``: the whole comparison in one file that opens anywhere, offline.

No script, no stylesheet or font to fetch: CSS is inline and every figure is an SVG
(matplotlib's SVG backend, text drawn as paths) in a ``data:`` URI. Sections:

1. the variants (settings that differ, best key metric, epochs to best, epochs, wall time,
   parameters, peak memory, device) with each one's paired difference from the baseline on
   the key metric, significant ones marked;
2. the paired per-case statistics of every metric (and class) against the baseline;
3. where each variant's per-case results came from, and notes: missing or unpaired cases,
   stale results, validations this compare ran;
4. learning curves, per-case paired dot plots, box plots per metric;
5. the config diff (the JSON paths whose values differ);
6. per-fold results of CV runs.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.comparison.paired import Comparison, comparison_rows, missing_cases
from mmar_hydra.comparison.per_case import CaseValues, case_ids
from mmar_hydra.comparison.report_figures import boxes, paired_dots
from mmar_hydra.comparison.stats import ALPHA, RESAMPLES
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["ReportData", "write_html", "config_diff_table", "REPORT_NAME"]

REPORT_NAME = "report.html"
Table = tuple[list[str], list[dict[str, Any]]]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr.sig-better td{background:#e3f1e3}tr.sig-worse td{background:#f8e1de}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs img{max-width:100%;border:1px solid #eee}
.note{color:#555}code{background:#f5f5f5;padding:0 3px}.wide{overflow-x:auto}
"""


@dataclass
class ReportData:
    """What the report shows.

    Args:
        baseline: the baseline variant's name.
        seed: the bootstrap seed.
        variants: ``compare_runs``'s (columns, rows).
        labels: variant -> its differing settings (legend text).
        tables: variant -> its per-case values.
        comparisons: every paired comparison against the baseline.
        key_metric: the key metric's label.
        notes: lines for the notes section.
        config_diff: (columns, rows) of the differing JSON paths.
        curves_svg: the learning-curve figure.
        fold_tables: CV folder name -> its per-fold (columns, rows).
    """

    baseline: str
    seed: int
    variants: Table
    labels: dict[str, str]
    tables: dict[str, CaseValues]
    comparisons: list[Comparison]
    key_metric: str | None
    notes: list[str] = field(default_factory=list)
    config_diff: Table = ([], [])
    curves_svg: str = ""
    fold_tables: dict[str, Table] = field(default_factory=dict)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>' if value == value else "<td>-</td>"
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape('-' if value is None else str(value))}</td>"


def _table(table: Table, table_id: str, row_class: Sequence[str] = ()) -> str:
    columns, rows = table
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if i < len(row_class) and row_class[i] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def _row_class(c: Comparison) -> str:
    verdict = c.verdict()
    return f"sig-{verdict}" if verdict in ("better", "worse") else ""


def _variants(data: ReportData) -> tuple[Table, list[str]]:
    """The variants table, with each one's paired key-metric difference from the baseline
    right after its name (significant rows coloured)."""
    columns, rows = data.variants
    by_name = {
        c.variant: c for c in data.comparisons if c.metric == data.key_metric and c.column == "mean"
    }
    versus = f"vs baseline: mean diff of {data.key_metric or 'the key metric'} [95% CI], p"
    out, classes = [], []
    for row in rows:
        name = str(row["run"])
        comparison = by_name.get(name)
        out.append(
            {**row, versus: "baseline" if name == data.baseline else _difference(comparison)}
        )
        classes.append(_row_class(comparison) if comparison else "")
    at = columns.index("run") + 1 if "run" in columns else 0
    return ([*columns[:at], versus, *columns[at:]], out), classes


def _sources(data: ReportData, missing: Mapping[str, list[str]]) -> Table:
    """Where each variant's per-case results came from, and how many cases it lacks."""
    rows = []
    for row in data.variants[1]:
        name = str(row["run"])
        table = data.tables.get(name)
        rows.append(
            {
                "variant": name,
                "per-case results": table.source if table else "none",
                "cases": len(table.cases()) if table else 0,
                "missing cases": len(missing.get(name, [])),
            }
        )
    return ["variant", "per-case results", "cases", "missing cases"], rows


def _difference(c: Comparison | None) -> str:
    if c is None or c.stats is None:
        return "-"
    s = c.stats
    p = s.p_holm if s.p_holm is not None and c.family > 1 else s.p_value
    mark = " *" if c.verdict() in ("better", "worse") else ""
    p_text = "-" if p is None else f"{p:.3g}"
    return f"{s.mean_diff:+.4f} [{s.mean_ci[0]:+.4f}, {s.mean_ci[1]:+.4f}], p={p_text}{mark}"


def _figures(data: ReportData) -> str:
    order = [data.baseline, *[n for n in data.tables if n != data.baseline]]
    ids = case_ids({n: t.cases() for n, t in data.tables.items()})
    parts = []
    metrics = sorted({m for t in data.tables.values() for m in t.values})
    for metric in metrics:
        columns = list(dict.fromkeys(c.column for c in data.comparisons if c.metric == metric))
        columns = columns or ["mean"]
        for column in columns:
            values = {
                n: {ids[c]: v for c, v in t.values.get(metric, {}).get(column, {}).items()}
                for n, t in data.tables.items()
            }
            title = metric if column == "mean" else f"{metric} ({column})"
            parts.append(_img(paired_dots(title, values, order, data.labels), f"{title} paired"))
            listed = {n: list(v.values()) for n, v in values.items()}
            parts.append(_img(boxes(title, listed, order, data.labels), f"{title} box plot"))
    return "".join(parts)


def _notes(lines: list[str]) -> str:
    if not lines:
        return '<p class="note">Every variant has a value for every case.</p>'
    return "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in lines) + "</ul>"


def write_html(out: Path, data: ReportData) -> Path:
    """Write ``out/report.html`` (atomically) and return its path."""
    variants, classes = _variants(data)
    paired = comparison_rows(data.comparisons)
    paired_classes = [_row_class(c) for c in data.comparisons]
    families = max((c.family for c in data.comparisons), default=0)
    method = (
        f"Paired on case id. Differences are variant - baseline; 95% CIs from a paired bootstrap "
        f"({RESAMPLES} resamples, BCa, seed {data.seed}); p from the two-sided Wilcoxon "
        f"signed-rank test"
        + (f", Holm-corrected over the {families} variants per metric" if families > 1 else "")
        + f". * marks a difference with p < {ALPHA}."
    )
    sections = [
        f"<h1>Comparison of {len(data.variants[1])} variants</h1>",
        f"<p>Baseline: <b>{html.escape(data.baseline)}</b>. {html.escape(method)}</p>",
        "<h2>Variants</h2>",
        f'<div class="wide">{_table(variants, "variants", classes)}</div>',
        "<h2>Paired per-case differences against the baseline</h2>",
        _table(paired, "paired", paired_classes)
        if paired[1]
        else '<p class="note">No paired comparison: see the notes.</p>',
        "<h2>Per-case results and notes</h2>",
        _table(_sources(data, missing_cases(data.tables)), "sources"),
        _notes(data.notes),
        "<h2>Learning curves</h2>",
        f'<div class="figs">{_img(data.curves_svg, "learning curves")}</div>'
        if data.curves_svg
        else '<p class="note">No learning curve was logged (TensorBoard or MLflow).</p>',
        "<h2>Per case</h2>",
        f'<div class="figs">{_figures(data)}</div>',
        "<h2>Config diff</h2>",
        _table(data.config_diff, "config-diff")
        if data.config_diff[1]
        else '<p class="note">The configs do not differ.</p>',
    ]
    for i, (name, table) in enumerate(data.fold_tables.items()):
        sections += [f"<h2>Per-fold results: {html.escape(name)}</h2>", _table(table, f"folds-{i}")]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>mmar_hydra compare</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    path = out / REPORT_NAME
    atomic_write_text(path, page)
    return path


def config_diff_table(
    keys: list[str], configs: Mapping[str, Mapping[str, Any]], limit: int = 120
) -> Table:
    """(columns, rows): one row per differing JSON path, one column per variant.

    Args:
        keys: the flattened JSON paths that differ.
        configs: variant -> its flattened config.
        limit: longer values are cut (with ``...``).
    """
    missing = object()
    rows = []
    for key in keys:
        row: dict[str, Any] = {"JSON path": key}
        for name, flat in configs.items():
            value = flat.get(key, missing)
            text = "(absent)" if value is missing else json.dumps(value, default=str)
            row[name] = text if len(text) <= limit else text[: limit - 3] + "..."
        rows.append(row)
    return ["JSON path", *configs], rows
