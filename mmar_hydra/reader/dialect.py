"""Clara 4.0 (implicit wiring) rewritten into the Clara 4.1 shape (explicit ``@`` wiring).

Clara 4.0 filled trainer, evaluator, dataloader, optimizer and scheduler arguments itself
and listed metrics with ``is_key_metric``; 4.1 spells everything out. The builder only knows
the 4.1 shape, so both dialects travel the same path after this module.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["detect_dialect", "normalize_dialect", "SECTION_KEYS"]

# component keys of a train / validate section or of a flat (validation/inference) config
SECTION_KEYS = (
    "loss",
    "optimizer",
    "lr_scheduler",
    "model",
    "pre_transforms",
    "dataset",
    "dataloader",
    "inferer",
    "handlers",
    "post_transforms",
    "key_metric",
    "additional_metrics",
    "metrics",
    "trainer",
    "evaluator",
)

_SAVE_DICT_REFS = {
    "model": "@model",
    "optimizer": "@optimizer",
    "lr_scheduler": "@lr_scheduler",
    "train_conf": "@conf",
}


def _has_ref(obj: Any) -> bool:
    if isinstance(obj, str):
        return obj.startswith("@") or obj.startswith("#@")
    if isinstance(obj, Mapping):
        return any(_has_ref(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_ref(v) for v in obj)
    return False


def detect_dialect(config: Mapping[str, Any]) -> str:
    """ "4.1" when the file says so or uses ``@`` wiring, else "4.0"."""
    if str(config.get("CLARA_TRAIN_VERSION", "")).startswith("4.1"):
        return "4.1"
    return "4.1" if _has_ref(config) else "4.0"


def _args(component: Any) -> dict[str, Any] | None:
    if not isinstance(component, dict):
        return None
    return component.setdefault("args", {})


def _fill(component: Any, **defaults: Any) -> None:
    args = _args(component)
    if args is not None:
        for key, value in defaults.items():
            args.setdefault(key, value)


def _split_metrics(section: dict[str, Any]) -> None:
    metrics = section.pop("metrics", None)
    if not isinstance(metrics, list) or not metrics:
        return
    key_index = next((i for i, m in enumerate(metrics) if m.get("is_key_metric")), 0)
    cleaned = [{k: v for k, v in m.items() if k != "is_key_metric"} for m in metrics]
    section.setdefault("key_metric", cleaned[key_index])
    rest = [m for i, m in enumerate(cleaned) if i != key_index]
    if rest:
        section.setdefault("additional_metrics", rest)


def _wire_handlers(handlers: Any, *, is_train: bool) -> None:
    for handler in handlers if isinstance(handlers, list) else []:
        args = _args(handler)
        if args is None:
            continue
        name = handler.get("name", "")
        if name == "CheckpointLoader" and isinstance(args.get("load_dict"), list):
            args["load_dict"] = {k: _SAVE_DICT_REFS.get(k, f"@{k}") for k in args["load_dict"]}
        elif name == "CheckpointSaver" and isinstance(args.get("save_dict"), list):
            args["save_dict"] = {k: _SAVE_DICT_REFS.get(k, f"@{k}") for k in args["save_dict"]}
        elif name == "LrScheduleHandler" and is_train:
            args.setdefault("lr_scheduler", "@lr_scheduler")
        elif name == "ValidationHandler" and is_train:
            args.setdefault("validator", "@evaluator")


def _wire_section(section: dict[str, Any], *, is_train: bool, has_validate: bool) -> None:
    _split_metrics(section)
    _fill(section.get("dataset"), transform="@pre_transforms")
    _fill(section.get("dataloader"), dataset="@dataset")
    _wire_handlers(section.get("handlers"), is_train=is_train)
    has_post = "post_transforms" in section
    if is_train:
        _fill(section.get("optimizer"), params="#@model.parameters()")
        _fill(section.get("lr_scheduler"), optimizer="@optimizer")
        wiring = {
            "train_data_loader": "@dataloader",
            "network": "@model",
            "loss_function": "@loss",
            "optimizer": "@optimizer",
            "inferer": "@inferer",
            "train_handlers": "@handlers",
        }
        if has_post:
            wiring["postprocessing"] = "@post_transforms"
        if "key_metric" in section:
            wiring["key_train_metric"] = "@key_metric"
        _fill(section.get("trainer"), **wiring)
    else:
        wiring = {
            "val_data_loader": "@dataloader",
            "network": "@model",
            "inferer": "@inferer",
            "val_handlers": "@handlers",
        }
        if has_post:
            wiring["postprocessing"] = "@post_transforms"
        if "key_metric" in section:
            wiring["key_val_metric"] = "@key_metric"
        if "additional_metrics" in section:
            wiring["additional_metrics"] = "@additional_metrics"
        _fill(section.get("evaluator"), **wiring)


def normalize_dialect(config: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A 4.1-shaped copy of ``config`` and the dialect it was written in."""
    dialect = detect_dialect(config)
    out = copy.deepcopy(dict(config))
    if dialect == "4.1":
        # 4.1 files may still list metrics with is_key_metric; normalize that part only
        for section in _sections(out):
            _split_metrics(section)
        return out, dialect
    if isinstance(out.get("train"), dict):
        _wire_section(out["train"], is_train=True, has_validate="validate" in out)
        if isinstance(out.get("validate"), dict):
            _wire_section(out["validate"], is_train=False, has_validate=True)
    else:
        _wire_section(out, is_train=False, has_validate=False)
    return out, dialect


def _sections(config: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(config.get("train"), dict):
        return [s for s in (config.get("train"), config.get("validate")) if isinstance(s, dict)]
    return [config]
