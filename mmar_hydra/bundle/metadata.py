"""``configs/metadata.json``: every key the MONAI Bundle Specification requires, from the MMAR.

Mandatory keys (docs.monai.io, "MONAI Bundle Specification"): version, monai_version,
pytorch_version, numpy_version, required_packages_version (the specification's older
``optional_packages_version``: MONAI >= 1.4 reads that name as a deprecated alias and
replaces it, so only the current one is written), task, description, authors, copyright,
network_data_format.
Task, description, authors and copyright come from the MMAR's docs when they say so; the
metrics measured by ``task=validate`` (``eval/metrics.csv``) become ``eval_metrics``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["REQUIRED_KEYS", "TENSOR_KEYS", "build_metadata", "read_eval_metrics", "docs_text"]

REQUIRED_KEYS = (
    "version",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "required_packages_version",
    "task",
    "description",
    "authors",
    "copyright",
    "network_data_format",
)
TENSOR_KEYS = (
    "type",
    "format",
    "modality",
    "num_channels",
    "spatial_shape",
    "dtype",
    "value_range",
    "is_patch_data",
    "channel_def",
)
SCHEMA = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
    "meta_schema_20240725.json"
)


def read_eval_metrics(path: Path) -> dict[str, float]:
    """``label,value`` lines of MetricsSaver's metrics.csv (what ``task=validate`` wrote)."""
    out: dict[str, float] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        label, _, value = line.partition(",")
        try:
            out[label.strip()] = float(value)
        except ValueError:
            continue
    return out


def docs_text(root: Path) -> str:
    """The MMAR's model description: docs/README.md, docs/Readme.md or another docs/*.md."""
    docs = root / "docs"
    for name in ("README.md", "Readme.md", "readme.md"):
        if (docs / name).is_file():
            return (docs / name).read_text(errors="replace")
    found = sorted(docs.glob("*.md")) if docs.is_dir() else []
    return found[0].read_text(errors="replace") if found else ""


def _title(text: str) -> str | None:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def _first_paragraph(text: str) -> str | None:
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if block and not block.startswith(("#", "```", "|", "-", "*")):
            return " ".join(block.split())
    return None


def _field(text: str, *names: str) -> str | None:
    for name in names:
        m = re.search(rf"^\W*{name}\W*:\s*(.+)$", text, re.M | re.I)
        if m:
            return m.group(1).strip()
    return None


def _copyright(root: Path) -> str | None:
    license_file = root / "docs" / "license.txt"
    if license_file.is_file():
        m = re.search(r"^.*copyright.*$", license_file.read_text(errors="replace"), re.M | re.I)
        if m:
            return m.group(0).strip()
    return None


def build_metadata(
    *,
    root: Path,
    data_format: Mapping[str, Any],
    versions: Mapping[str, str],
    processing_task: str,
    datalist: Mapping[str, Any] | None,
    datalist_info: Mapping[str, Any],
    required: Mapping[str, str],
    optional: Mapping[str, str],
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """The metadata dict; ``source`` records where the bundle came from (mmar_hydra key)."""
    text = docs_text(root)
    name = root.name
    task = _title(text) or f"{processing_task} ({name})"
    description = (
        _first_paragraph(text.split("\n", 1)[1] if _title(text) else text)
        or f"A {processing_task} model trained with Clara Train's MMAR {name}, converted by "
        "mmar_hydra."
    )
    authors = _field(text, "authors?", "authorship") or f"the authors of MMAR {name}"
    metrics = read_eval_metrics(root / str(source.get("eval_dir", "eval")) / "metrics.csv")
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "version": "0.1.0",
        "changelog": {"0.1.0": f"converted from the Clara MMAR {name} by mmar_hydra"},
        "monai_version": versions.get("monai", ""),
        "pytorch_version": versions.get("torch", "").split("+")[0],
        "numpy_version": versions.get("numpy", ""),
        "required_packages_version": dict(required),
        "task": task,
        "description": description,
        "authors": authors,
        "copyright": _copyright(root) or f"Copyright (c) {authors}",
        "data_source": str(datalist_info.get("name") or datalist_info.get("description") or ""),
        "data_type": "nibabel",
        "intended_use": "research only; not for clinical diagnosis",
        "network_data_format": dict(data_format),
        "eval_metrics": metrics,
        "mmar_hydra": {
            **dict(source),
            "converted": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "datalist": dict(datalist) if datalist else None,
            "versions": dict(versions),
            "optional_packages_version": dict(optional),
        },
    }
    return meta
