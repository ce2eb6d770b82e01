"""The section keys of an MMAR config: which hold transform lists, metrics, engines, or one
component. A leaf module: the reader, the resolver and AutoML's search space share it."""

from __future__ import annotations

__all__ = ["TRANSFORM_KEYS", "METRIC_KEYS", "ENGINE_KEYS", "SINGLE_KEYS", "VALIDATOR_MARKER"]

TRANSFORM_KEYS = ("pre_transforms", "post_transforms")
METRIC_KEYS = ("key_metric", "additional_metrics")
ENGINE_KEYS = ("trainer", "evaluator")  # ignite engines in Clara; the Lightning engine reads them
# keys that hold one component (a list there is a Clara AutoML list of alternatives)
SINGLE_KEYS = ("loss", "optimizer", "lr_scheduler", "dataset", "dataloader", "inferer")
VALIDATOR_MARKER = "validate"  # what train's "@evaluator" becomes: the engine's validation loop
