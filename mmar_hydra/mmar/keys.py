"""The keys of an MMAR config: which sections hold transform lists, metrics, engines, or one
component, and a config as dotted key paths. A leaf module: the reader, the resolver,
AutoML's search space, the run records and the trackers share it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "TRANSFORM_KEYS",
    "METRIC_KEYS",
    "ENGINE_KEYS",
    "SINGLE_KEYS",
    "VALIDATOR_MARKER",
    "flatten",
]

TRANSFORM_KEYS = ("pre_transforms", "post_transforms")
METRIC_KEYS = ("key_metric", "additional_metrics")
ENGINE_KEYS = ("trainer", "evaluator")  # ignite engines in Clara; the Lightning engine reads them
# keys that hold one component (a list there is a Clara AutoML list of alternatives)
SINGLE_KEYS = ("loss", "optimizer", "lr_scheduler", "dataset", "dataloader", "inferer")
VALIDATOR_MARKER = "validate"  # what train's "@evaluator" becomes: the engine's validation loop


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as ``{"train.model.args.channels": [...], ...}`` (lists kept whole
    when they hold scalars, indexed when they hold components)."""
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and any(isinstance(v, Mapping | list) for v in obj):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}"))
        return out
    return {prefix: obj}
