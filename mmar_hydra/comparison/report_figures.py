"""The figures of the HTML report, as SVG text (matplotlib's SVG backend, text as paths).

- :func:`paired_dots`: per metric, a panel per variant against the baseline, one line per
  case, so a shift that holds case by case is visible even when the boxes overlap;
- :func:`boxes`: per metric, a box per variant with every case's value on it;
- :func:`svg_of`: any figure as a self-contained ``<svg>`` (no fonts, no links to fetch).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["svg_of", "paired_dots", "boxes"]

_JITTER_SEED = 0


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def svg_of(fig: Any) -> str:
    """The figure as SVG text without the XML prolog (closes the figure)."""
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, count=1, flags=re.S)


def paired_dots(
    metric: str,
    values: Mapping[str, Mapping[str, float]],
    order: Sequence[str],
    labels: Mapping[str, str],
) -> str:
    """One metric column: a panel per variant against the baseline (``order[0]``), each case
    a line from its baseline value to its variant value (blue: higher, red: lower).

    Args:
        metric: the axis title.
        values: variant -> case id -> value.
        order: the variants, baseline first.
        labels: variant -> its legend text.
    """
    plt = _pyplot()
    base_name, others = order[0], list(order[1:]) or [order[0]]
    base = values.get(base_name, {})
    fig, axes = plt.subplots(
        1, len(others), figsize=(max(4.5, 3.2 * len(others)), 4.2), sharey=True, squeeze=False
    )
    from matplotlib.collections import LineCollection

    for ax, name in zip(axes[0], others, strict=True):
        theirs = values.get(name, {})
        pairs = np.array([(base[c], theirs[c]) for c in sorted(set(base) & set(theirs))])
        pairs = pairs.reshape(-1, 2)
        colors = np.where(
            pairs[:, 1] > pairs[:, 0],
            "#2a7ab9",
            np.where(pairs[:, 1] < pairs[:, 0], "#c8553d", "#888"),
        )
        segments = np.stack(
            [np.zeros(len(pairs)), pairs[:, 0], np.ones(len(pairs)), pairs[:, 1]], 1
        )
        lines = list(segments.reshape(-1, 2, 2))  # one ((0, a), (1, b)) segment per case
        ax.add_collection(LineCollection(lines, colors=colors, alpha=0.6, lw=1))
        for x in (0, 1):
            ax.scatter(np.full(len(pairs), x), pairs[:, x], c=colors, s=12, alpha=0.8, zorder=3)
        ax.autoscale_view()
        ax.set_xticks([0, 1], [base_name, name], fontsize=8)
        ax.set_title(_wrap(labels.get(name, name), 40), fontsize=8)
        ax.set_xlim(-0.3, 1.3)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(metric)
    fig.suptitle(f"{metric} per case against {base_name} (line: one case)", fontsize=11)
    fig.subplots_adjust(top=0.8, wspace=0.08)
    return svg_of(fig)


def boxes(
    metric: str,
    values: Mapping[str, Sequence[float]],
    order: Sequence[str],
    labels: Mapping[str, str],
) -> str:
    """One metric column: a box per variant over its cases, with the cases as dots."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.9 * len(order)), 4.2))
    data = [np.asarray([v for v in values.get(n, []) if v == v], dtype=float) for n in order]
    shown = [i for i, d in enumerate(data) if len(d)]
    if shown:
        ax.boxplot([data[i] for i in shown], positions=shown, widths=0.5, showmeans=True)
    rng = np.random.default_rng(_JITTER_SEED)
    for i in shown:
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(data[i])), data[i], s=9, alpha=0.6, zorder=3)
    ax.set_xticks(range(len(order)), [_wrap(labels.get(n, n)) for n in order], fontsize=8)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set(title=f"{metric} per case (triangle: mean)", ylabel=metric)
    ax.grid(alpha=0.3, axis="y")
    return svg_of(fig)


def _wrap(text: str, width: int = 22) -> str:
    """Break a legend label (``name: key=value, key=value``) after the name and at its commas."""
    name, sep, rest = text.partition(": ")
    out, line = ([f"{name}:"], "") if sep else ([], "")
    for part in (rest if sep else text).split(", "):
        if line and len(line) + len(part) > width:
            out.append(line)
            line = part
        else:
            line = f"{line}, {part}" if line else part
    return "\n".join([*out, line])
