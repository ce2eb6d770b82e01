"""A flat ``config_validation.json`` for a trial MMAR, from its training config's ``validate``.

Clara's AutoML MMARs ship training configs only. A trial MMAR gets the validation config
Clara's own MMARs carry beside config_train.json, so ``task=validate`` (and ``infer``,
``export``) work on it: the training config's model, the ``validate`` section with every
``{"ref": ...}`` replaced by the training component it names, a CheckpointLoader of
``{MMAR_CKPT}`` and a MetricsSaver of the key and additional metrics; the checkpoint saver and
the TensorBoard writer of the training run are left out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["validation_config", "VALIDATION_FILE"]

VALIDATION_FILE = "config_validation.json"
_DROPPED = ("CheckpointSaver", "TensorBoardStatsHandler", "TensorBoardImageHandler")


def _by_name(train: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for value in train.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping) and item.get("name"):
                found.setdefault(str(item["name"]), item)
    return found


def _inline(node: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(n, named) for n in node]
    if isinstance(node, Mapping) and set(node) == {"ref"} and str(node["ref"]) in named:
        return copy.deepcopy(named[str(node["ref"])])
    return copy.deepcopy(node)


def _labels(validate: Mapping[str, Any]) -> list[str]:
    key = validate.get("key_metric")
    extra = validate.get("additional_metrics") or []
    metrics = ([key] if isinstance(key, Mapping) else []) + list(extra)
    return [str(m["log_label"]) for m in metrics if isinstance(m, Mapping) and m.get("log_label")]


def validation_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flat validation config of a (plain, one-alternative) training config.

    Args:
        config: the trial's training config as written (Clara's JSON, variables as ``{VAR}``).
    """
    train, validate = config.get("train") or {}, config.get("validate") or {}
    out: dict[str, Any] = {k: v for k, v in config.items() if k not in ("train", "validate")}
    out["dont_load_ckpt_model"] = False
    out["model"] = copy.deepcopy(train.get("model"))
    named = _by_name(train)
    for key, value in validate.items():
        if key != "handlers":
            out[key] = _inline(value, named)
    handlers: list[Any] = [
        {
            "name": "CheckpointLoader",
            "disabled": "{dont_load_ckpt_model}",
            "args": {"load_path": "{MMAR_CKPT}", "load_dict": {"model": "@model"}},
        }
    ]
    handlers += [
        copy.deepcopy(h)
        for h in validate.get("handlers") or []
        if isinstance(h, Mapping) and h.get("name") not in _DROPPED
    ]
    labels = _labels(validate)
    if labels:
        handlers.append(
            {
                "name": "MetricsSaver",
                "args": {
                    "save_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                    "metrics": labels,
                    "metric_details": labels[:1],
                    "summary_ops": "*",
                    "save_rank": 0,
                },
            }
        )
    out["handlers"] = handlers
    return out
