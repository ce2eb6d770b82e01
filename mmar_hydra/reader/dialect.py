"""Clara 4.0 (implicit wiring) rewritten into the Clara 4.1 shape (explicit ``@`` wiring).

Three dialects, told apart by their content (no file carries a trustworthy version):

- **4.1**: ``CLARA_TRAIN_VERSION: 4.1.x`` or explicit ``@`` wiring;
- **4.0 early access** (``"4.0-ea"``, Jan-Mar 2021): 4.0's implicit wiring, with MONAI 0.4's
  loaders (``LoadNiftid``, ``LoadNumpyd``, ``LoadPNGd``), or trainers / evaluators given
  with no args and no ``dont_load_*`` switches;
- **4.0**: the rest.

Clara 4.0 filled trainer, evaluator, dataloader, optimizer and scheduler arguments itself
and listed metrics with ``is_key_metric``; 4.1 spells everything out. The builder only knows
the 4.1 shape, so every dialect travels the same path after this module (the early-access
renames are compat translations). Lambda strings are left as written: all accept them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mmar_hydra.errors import ConfigError, json_path

__all__ = ["detect_dialect", "normalize_dialect", "COMPONENT_KEYS", "DIALECTS"]

# component keys of a train / validate section or of a flat (validation/inference) config
COMPONENT_KEYS = (
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
    "iteration",  # deepgrow: Clara's iteration_update (an Interaction run in every step)
)

# 4.0 list entries of load_dict / save_dict -> the 4.1 reference
_DICT_REFS = {
    "model": "@model",
    "optimizer": "@optimizer",
    "lr_scheduler": "@lr_scheduler",
    "train_conf": "@conf",
}


def _has_ref(obj: Any) -> bool:
    if isinstance(obj, str):
        return obj.startswith(("@", "#@"))
    if isinstance(obj, Mapping):
        return any(_has_ref(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_ref(v) for v in obj)
    return False


_EA_LOADERS = frozenset(
    {"LoadNiftid", "LoadNifti", "LoadNumpyd", "LoadNumpy", "LoadPNGd", "LoadPNG"}
)
DIALECTS = {"4.1": "Clara 4.1", "4.0": "Clara 4.0", "4.0-ea": "Clara 4.0 early access"}


def _names(obj: Any) -> set[str]:
    if isinstance(obj, Mapping):
        own = {
            str(obj[k]).rsplit(".", 1)[-1] for k in ("name", "ref") if isinstance(obj.get(k), str)
        }
        return own.union(*(_names(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_names(v) for v in obj))
    return set()


def _engines_without_args(config: Mapping[str, Any]) -> bool:
    sections = [config.get("train"), config.get("validate"), config]
    engines = [
        s[key]
        for s in sections
        if isinstance(s, Mapping)
        for key in ("trainer", "evaluator")
        if isinstance(s.get(key), Mapping)
    ]
    return bool(engines) and all("args" not in e for e in engines)


def detect_dialect(config: Mapping[str, Any]) -> str:
    """``"4.1"``, ``"4.0-ea"`` or ``"4.0"``, from the file's content (see the module doc)."""
    if str(config.get("CLARA_TRAIN_VERSION", "")).startswith("4.1") or _has_ref(config):
        return "4.1"
    if _names(config) & _EA_LOADERS:
        return "4.0-ea"
    switches = any(str(k).startswith("dont_load_") for k in config)
    return "4.0-ea" if _engines_without_args(config) and not switches else "4.0"


class _Wiring:
    """Rewrites the sections of one config in place; knows the file for error messages."""

    def __init__(self, file: str, globals_: Mapping[str, Any]) -> None:
        self.file = file
        self.globals = globals_

    @staticmethod
    def fill(component: Any, **defaults: Any) -> None:
        if isinstance(component, dict):
            args = component.setdefault("args", {})
            if isinstance(args, dict):
                for key, value in defaults.items():
                    args.setdefault(key, value)

    def split_metrics(self, section: dict[str, Any], where: str) -> None:
        """``metrics: [...]`` -> ``key_metric`` (the is_key_metric one, else the first) + rest."""
        if "metrics" not in section:
            return
        metrics = section.pop("metrics")
        path = json_path(where, "metrics")
        if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
            raise ConfigError(
                "'metrics' must be a list of metric components",
                file=self.file,
                path=path,
                expected='[{"name": "MeanDice", "log_label": ..., "is_key_metric": true}, ...]',
                fix="write each metric as an object with name/log_label/args",
            )
        if not metrics:
            return
        if "key_metric" in section:
            raise ConfigError(
                "both 'metrics' (Clara 4.0) and 'key_metric' (Clara 4.1) are given",
                file=self.file,
                path=path,
                expected="either a metrics list or key_metric + additional_metrics",
                fix="keep one form: move the metrics into key_metric/additional_metrics",
            )
        key_index = next((i for i, m in enumerate(metrics) if m.get("is_key_metric")), 0)
        cleaned = [{k: v for k, v in m.items() if k != "is_key_metric"} for m in metrics]
        section["key_metric"] = cleaned[key_index]
        rest = [m for i, m in enumerate(cleaned) if i != key_index]
        if rest:
            section["additional_metrics"] = [*section.get("additional_metrics", []), *rest]

    @staticmethod
    def handlers(handlers: Any, *, is_train: bool) -> None:
        for handler in handlers if isinstance(handlers, list) else []:
            if not isinstance(handler, dict):
                continue
            if handler.get("args") is None:
                handler["args"] = {}
            args = handler["args"]
            if not isinstance(args, dict):
                continue  # the resolver says what args must be
            name = str(handler.get("name", "")).rsplit(".", 1)[-1]
            if name == "CheckpointLoader" and _is_name_list(args.get("load_dict")):
                args["load_dict"] = {k: _DICT_REFS.get(k, f"@{k}") for k in args["load_dict"]}
            elif name == "CheckpointSaver" and _is_name_list(args.get("save_dict")):
                args["save_dict"] = {k: _DICT_REFS.get(k, f"@{k}") for k in args["save_dict"]}
            elif name == "LrScheduleHandler" and is_train:
                args.setdefault("lr_scheduler", "@lr_scheduler")
            elif name == "ValidationHandler" and is_train:
                args.setdefault("validator", "@evaluator")
            elif name == "SmartCacheHandler":
                args.setdefault("smartcacher", "@dataset")

    def section(self, section: dict[str, Any], where: str, *, is_train: bool) -> None:
        self.split_metrics(section, where)
        if "pre_transforms" in section:
            self.fill(section.get("dataset"), transform="@pre_transforms")
        self.fill(section.get("dataloader"), dataset="@dataset")
        self.handlers(section.get("handlers"), is_train=is_train)
        common = {"network": "@model", "inferer": "@inferer"}
        if "iteration" in section:  # Clara 4.0 passed it as the engine's iteration_update
            common["iteration_update"] = "@iteration"
        if "post_transforms" in section:
            common["postprocessing"] = "@post_transforms"
        if "amp" in self.globals:
            common["amp"] = "{amp}"  # Clara 4.0 passed the global through
        if is_train:
            self.fill(section.get("optimizer"), params="#@model.parameters()")
            if "optimizer" in section:
                self.fill(section.get("lr_scheduler"), optimizer="@optimizer")
            wiring = {
                "train_data_loader": "@dataloader",
                "loss_function": "@loss",
                "optimizer": "@optimizer",
                "train_handlers": "@handlers",
                **common,
            }
            if "key_metric" in section:
                wiring["key_train_metric"] = "@key_metric"
            self.fill(section.get("trainer"), **wiring)
        else:
            wiring = {"val_data_loader": "@dataloader", "val_handlers": "@handlers", **common}
            if "key_metric" in section:
                wiring["key_val_metric"] = "@key_metric"
            if "additional_metrics" in section:
                wiring["additional_metrics"] = "@additional_metrics"
            self.fill(section.get("evaluator"), **wiring)


def _is_name_list(value: Any) -> bool:
    """A Clara 4.0 ``load_dict`` / ``save_dict``: a list of component names."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _sections(config: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(JSON path, section, is_train) of each section of a config."""
    if kind == "train":
        return [
            (key, config[key], key == "train")
            for key in ("train", "validate")
            if isinstance(config.get(key), dict)
        ]
    return [("", config, False)]


def normalize_dialect(
    config: Mapping[str, Any], *, kind: str, file: str = ""
) -> tuple[dict[str, Any], str]:
    """A 4.1-shaped copy of ``config`` and the dialect it was written in.

    ``kind`` is ``"train"`` (train + validate sections) or ``"flat"`` (validation/inference).
    A 4.1 file is only touched where it still uses a 4.0 ``metrics`` list; the input is never
    mutated.
    """
    dialect = detect_dialect(config)
    out = copy.deepcopy(dict(config))
    globals_ = {k: v for k, v in out.items() if k not in ("train", "validate", *COMPONENT_KEYS)}
    wiring = _Wiring(file, globals_)
    for where, section, is_train in _sections(out, kind):
        if dialect == "4.1":
            wiring.split_metrics(section, where)
        else:
            wiring.section(section, where, is_train=is_train)
    return out, dialect
