"""Every variant against the baseline, case by case: the rows of the paired comparison.

For each metric label the variants share (and, for multi-class metrics, each class column as
well as the per-case ``mean``), each variant is paired with the baseline on the case ids
(:func:`~mmar_hydra.comparison.per_case.case_ids`); cases one of the two lacks are listed, never
dropped silently. The p-values of one metric column are one family for Holm's correction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmar_hydra.comparison.per_case import CaseValues, case_ids
from mmar_hydra.comparison.stats import ALPHA, PairedStats, paired_stats, with_holm

__all__ = [
    "Comparison",
    "compare_cases",
    "comparison_records",
    "comparison_rows",
    "per_case_csv",
    "missing_cases",
]


@dataclass(frozen=True)
class Comparison:
    """One variant against the baseline on one metric column.

    Args:
        metric: the metric label (``val_mean_dice``).
        column: ``mean`` or a class column (``class1``).
        variant: the variant's name.
        baseline: the baseline's name.
        cases: the case ids both have (in order).
        only_baseline: case ids the variant lacks.
        only_variant: case ids the baseline lacks.
        stats: the paired statistics (None: no common case).
        lower_is_better: the metric is a distance.
        family: how many variants share this Holm family.
    """

    metric: str
    column: str
    variant: str
    baseline: str
    cases: tuple[str, ...]
    only_baseline: tuple[str, ...]
    only_variant: tuple[str, ...]
    stats: PairedStats | None
    lower_is_better: bool
    family: int

    def verdict(self, alpha: float = ALPHA) -> str:
        """``better`` / ``worse`` (significant), ``no significant difference`` or ``-``."""
        if self.stats is None or self.stats.p_value is None:
            return "-"
        if not self.stats.significant(alpha):
            return "no significant difference"
        up = self.stats.mean_diff > 0 if self.stats.mean_diff != 0 else self.stats.median_diff > 0
        return "better" if up != self.lower_is_better else "worse"


def _columns(tables: Mapping[str, CaseValues], metric: str) -> list[str]:
    """``mean``, then the class columns when the metric has more than one class."""
    found: list[str] = []
    for table in tables.values():
        for column in table.values.get(metric, {}):
            if column not in found:
                found.append(column)
    classes = [c for c in found if c != "mean"]
    return ["mean", *classes] if len(classes) > 1 else ["mean"] if "mean" in found else classes


def compare_cases(
    tables: Mapping[str, CaseValues],
    baseline: str,
    *,
    seed: int = 0,
    lower_is_better: tuple[str, ...] = (),
) -> list[Comparison]:
    """Every variant with per-case values against ``baseline``, per metric column.

    Args:
        tables: variant name -> its per-case values (the baseline among them).
        baseline: the baseline's name.
        seed: the bootstrap seed.
        lower_is_better: substrings of metric names for which smaller is better.
    """
    ids = case_ids({name: t.cases() for name, t in tables.items()})
    base = tables[baseline]
    others = [name for name in tables if name != baseline]
    out: list[Comparison] = []
    for metric in sorted({m for t in tables.values() for m in t.values}):
        lower = any(s in metric.lower() for s in lower_is_better)
        for column in _columns(tables, metric):
            a = {ids[c]: v for c, v in base.values.get(metric, {}).get(column, {}).items()}
            family: list[tuple[str, tuple, tuple, tuple, PairedStats | None]] = []
            for name in others:
                values = tables[name].values.get(metric, {}).get(column)
                if values is None:
                    continue  # the variant has no such metric: listed in the notes
                b = {ids[c]: v for c, v in values.items()}
                common = tuple(sorted(set(a) & set(b)))
                result = (
                    paired_stats([a[c] for c in common], [b[c] for c in common], seed=seed)
                    if common
                    else None
                )
                family.append((name, common, _minus(a, b), _minus(b, a), result))
            tested = with_holm([f[4] for f in family if f[4] is not None])
            adjusted = iter(tested)
            for name, common, only_a, only_b, result in family:
                stats = next(adjusted) if result is not None else None
                out.append(
                    Comparison(
                        metric, column, name, baseline, common, only_a, only_b, stats, lower,
                        len(tested),
                    )
                )  # fmt: skip
    return out


def _minus(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[str, ...]:
    return tuple(sorted(set(a) - set(b)))


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def comparison_records(comparisons: list[Comparison]) -> list[dict[str, Any]]:
    """One row per comparison at full precision: the rows of ``paired.csv``."""
    rows = []
    nan = float("nan")
    for c in comparisons:
        s = c.stats
        rows.append(
            {
                "metric": c.metric,
                "class": c.column,
                "variant": c.variant,
                "baseline": c.baseline,
                "cases": s.n if s else 0,
                "unpaired": len(c.only_baseline) + len(c.only_variant),
                "baseline mean": s.baseline_mean if s else nan,
                "variant mean": s.variant_mean if s else nan,
                "mean diff": s.mean_diff if s else nan,
                "mean diff CI low": s.mean_ci[0] if s else nan,
                "mean diff CI high": s.mean_ci[1] if s else nan,
                "median diff": s.median_diff if s else nan,
                "median diff CI low": s.median_ci[0] if s else nan,
                "median diff CI high": s.median_ci[1] if s else nan,
                "Wilcoxon p": s.p_value if s and s.p_value is not None else nan,
                "Holm p": s.p_holm if s and s.p_holm is not None and c.family > 1 else nan,
                "CI method": s.ci_method if s else "none",
                "verdict": c.verdict(),
            }
        )
    return rows


def comparison_rows(comparisons: list[Comparison]) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of the paired tables (Markdown, HTML): rounded, significant rows starred."""
    columns = [
        "metric", "class", "variant", "baseline", "cases", "baseline mean", "variant mean",
        "mean diff", "mean diff 95% CI", "median diff", "median diff 95% CI",
        "Wilcoxon p", "Holm p", "verdict",
    ]  # fmt: skip
    rows = []
    for r in comparison_records(comparisons):
        shown = {k: _num(v) if isinstance(v, float) else str(v) for k, v in r.items()}
        if r["unpaired"]:
            shown["cases"] += f" (+{r['unpaired']} unpaired)"
        for stat in ("mean diff", "median diff"):
            low, high = shown[f"{stat} CI low"], shown[f"{stat} CI high"]
            shown[f"{stat} 95% CI"] = f"[{low}, {high}]" if low != "-" else "-"
        if r["verdict"] in ("better", "worse"):
            shown["verdict"] = f"* {r['verdict']}"
        rows.append({k: shown[k] for k in columns})
    return columns, rows


def _unpaired(c: Comparison) -> bool:
    return bool(c.only_baseline or c.only_variant)


def missing_cases(tables: Mapping[str, CaseValues]) -> dict[str, list[str]]:
    """variant -> the case ids other variants have and it lacks (only variants that lack some)."""
    ids = case_ids({name: t.cases() for name, t in tables.items()})
    have = {name: {ids[c] for c in t.cases()} for name, t in tables.items()}
    every = set().union(*have.values()) if have else set()
    return {name: sorted(every - cases) for name, cases in have.items() if every - cases}


def per_case_csv(tables: Mapping[str, CaseValues]) -> str:
    """``per_case.csv``: one row per case, variant, metric and column (fold for CV runs)."""
    ids = case_ids({name: t.cases() for name, t in tables.items()})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["case", "variant", "metric", "class", "value", "fold", "file"])
    for name, table in tables.items():
        for metric, columns in table.values.items():
            for column, cases in columns.items():
                for case, value in cases.items():
                    fold = table.folds.get(case)
                    writer.writerow(
                        [ids[case], name, metric, column, value, "" if fold is None else fold, case]
                    )
    return buffer.getvalue()
