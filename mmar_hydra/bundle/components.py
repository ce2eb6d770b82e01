"""Clara components and sections -> bundle components and sections.

A Clara component ``{"name"|"path", "args", "disabled", "rank", "log_label",
"data_list_*"}`` becomes ``{"_target_": ..., **args}``. Short names MONAI's bundle parser
finds stay short; torch classes get their module (``torch.optim.Adam``); ``path`` classes
from ``custom/`` point into the bundle's ``scripts/``. Lists become ``Compose`` (transforms),
handler lists, and metric dicts keyed by ``log_label``; ``{"ref": ...}`` items become ``%``
macros of the train transform they name. What has no bundle equivalent is reported.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.values import DROP, Scope
from mmar_hydra.components.registry import SEARCH_MODULES
from mmar_hydra.errors import json_path

__all__ = ["Section", "bundle_target", "custom_modules", "picked_keys", "METRIC_TARGETS"]

# Clara metric name -> the ignite metric handler a bundle uses
METRIC_TARGETS = {
    "MeanDice": "MeanDice",
    "Accuracy": "ignite.metrics.Accuracy",
    "ROCAUC": "ROCAUC",
    "HausdorffDistance": "HausdorffDistance",
    "SurfaceDistance": "SurfaceDistance",
    "MeanIoU": "MeanIoUHandler",
    "ConfusionMatrix": "ConfusionMatrix",
}
_LISTS = ("pre_transforms", "post_transforms", "handlers", "additional_metrics")


@functools.cache
def _locator() -> Any:
    from monai.bundle.config_item import ComponentLocator

    return ComponentLocator()


@functools.cache
def bundle_target(name: str) -> str:
    """The ``_target_`` for a Clara short name: itself when MONAI's parser finds exactly one
    class of that name, else ``module.Name`` from the first search module that has it."""

    if "." in name:
        return name
    if isinstance(_locator().get_component_module_name(name), str):
        return name
    import importlib

    for mod in SEARCH_MODULES:
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue
        if getattr(module, name, None) is not None:
            return f"{mod}.{name}"
    return name


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class Section:
    """One Clara section (raw with ``${VAR}``s, and resolved) translated into bundle syntax.

    Args:
        raw: the section as the reader wrote it (interpolations kept).
        resolved: the same section with every value resolved (for ``disabled``, ``rank``).
        scope: name translation for this section.
        custom_modules: top-level module names the MMAR's ``custom/`` folder holds.
        train_transforms: for validate, train's kept transforms (name, bundle index) per list
            key, which ``{"ref": name}`` items become ``%`` macros of.
    """

    def __init__(
        self,
        raw: Mapping[str, Any],
        resolved: Mapping[str, Any],
        scope: Scope,
        custom_modules: frozenset[str],
        train_transforms: Mapping[str, list[tuple[str, int]]] | None = None,
    ) -> None:
        self.raw, self.resolved, self.scope = raw, resolved, scope
        self.custom = custom_modules
        self.report = scope.report
        self.train_transforms = train_transforms or {}
        self.ranks: dict[str, list[Any]] = {}
        self.kept: dict[str, list[tuple[str, int]]] = {}  # list key -> (name, bundle index)

    def path(self, *parts: str | int) -> str:
        return json_path(self.scope.section, *parts)

    def target(self, spec: Mapping[str, Any], where: str) -> str:
        if spec.get("path"):
            path = str(spec["path"])
            top = path.split(".", 1)[0]
            if top in self.custom:
                self.report.add(
                    "code",
                    self.scope.where(where),
                    f"custom component '{path}' needed allow_code=true; the bundle imports "
                    f"scripts.{path} from its scripts/ folder",
                )
                return f"scripts.{path}"
            return path
        return bundle_target(str(spec.get("name")))

    def component(self, raw: Any, resolved: Any, where: str) -> Any:
        if not isinstance(raw, Mapping) or not ("name" in raw or "path" in raw):
            return self.scope.value(raw, where)
        out: dict[str, Any] = {"_target_": self.target(raw, where)}
        args = self.scope.value(raw.get("args") or {}, json_path(where, "args"))
        out.update(args)
        if "data_list_file_path" in raw:
            out["data"] = self._datalist(raw, resolved, where)
        if _truthy((resolved or {}).get("disabled", False)):
            out["_disabled_"] = True
        return out

    def _datalist(self, raw: Mapping[str, Any], resolved: Mapping[str, Any], where: str) -> str:
        def expr(value: Any, key: str) -> str:
            v = self.scope.value(value, json_path(where, key))
            if isinstance(v, str) and v.startswith("@"):
                return v
            return f"({v[1:]})" if isinstance(v, str) and v.startswith("$") else repr(v)

        key = str(resolved.get("data_list_key", "training"))
        args = [expr(raw["data_list_file_path"], "data_list_file_path"), "True", repr(key)]
        if "data_file_base_dir" in raw:
            args.append(expr(raw["data_file_base_dir"], "data_file_base_dir"))
        return f"$monai.data.load_decathlon_datalist({', '.join(args)})"

    def items(self, key: str) -> list[tuple[int, Any, Any]]:
        """(Clara index, raw, resolved) of the enabled items of a list key."""
        raw, res = self.raw.get(key) or [], self.resolved.get(key) or []
        out = []
        for i, item in enumerate(raw):
            r = res[i] if i < len(res) else {}
            if isinstance(r, Mapping) and _truthy(r.get("disabled", False)):
                name = item.get("name") or item.get("path") or item.get("ref")
                self.report.add(
                    "info", self.scope.where(self.path(key, i)), f"{name} is disabled: left out"
                )
                continue
            out.append((i, item, r))
        return out

    def transforms(self, key: str) -> dict[str, Any]:
        out, kept = [], []
        for i, raw, res in self.items(key):
            where = self.path(key, i)
            if isinstance(raw, Mapping) and "ref" in raw and "name" not in raw:
                out.append(self._macro(key, str(raw["ref"]), where))
            else:
                out.append(self.component(raw, res, where))
            kept.append((str(raw.get("name", raw.get("ref", ""))).rsplit(".", 1)[-1], len(out) - 1))
        self.kept[key] = kept
        return {"_target_": "Compose", "transforms": out}

    def _macro(self, key: str, name: str, where: str) -> Any:
        for train_name, index in self.train_transforms.get(key, []):
            if train_name == name:
                sub = "preprocessing" if key == "pre_transforms" else "postprocessing"
                return f"%train#{sub}#transforms#{index}"
        self.report.add("dropped", self.scope.where(where), f"'ref' to unknown transform {name}")
        return DROP

    def handlers(self) -> list[Any]:
        import monai.handlers

        out, ranks = [], []
        for i, raw, res in self.items("handlers"):
            where = self.path("handlers", i)
            name = str(raw.get("name") or raw.get("path"))
            short = name.rsplit(".", 1)[-1]
            if not raw.get("path") and getattr(monai.handlers, short, None) is None:
                self.report.add(
                    "dropped",
                    self.scope.where(where),
                    f"{name} is a Clara-only handler with no MONAI equivalent: not converted",
                )
                continue
            item = self.component(raw, res, where)
            if not raw.get("path"):
                item["_target_"] = short
                self.from_engine(raw, item, where)
            if short == "CheckpointLoader" and "load_dict" not in item:
                item["load_dict"] = {"model": "@network"}  # Clara's loader filled in the model
                self.report.add(
                    "changed",
                    self.scope.where(where),
                    "CheckpointLoader without load_dict (Clara loaded the model): "
                    "load_dict {'model': '@network'}",
                )
            out.append(item)
            ranks.append(res.get("rank") if isinstance(res, Mapping) else None)
        self.ranks["handlers"] = ranks
        return out

    def metric(self, raw: Mapping[str, Any], res: Mapping[str, Any], where: str) -> tuple:
        name = str(raw.get("name") or raw.get("path"))
        short = name.rsplit(".", 1)[-1]
        label = str((res or {}).get("log_label") or raw.get("log_label") or short)
        if raw.get("path") or short not in METRIC_TARGETS:
            return label, self.component(raw, res, where)
        args = self.scope.value(raw.get("args") or {}, json_path(where, "args"))
        self.from_engine(raw, args, where)
        return label, {"_target_": METRIC_TARGETS[short], **args}

    def from_engine(self, raw: Mapping[str, Any], args: dict[str, Any], where: str) -> None:
        """Clara's ``output_transform`` lambdas read a batched dict; MONAI's engines hand
        handlers and metrics decollated lists: ``monai.handlers.from_engine`` reads those."""
        text = (raw.get("args") or {}).get("output_transform")
        keys = picked_keys(text)
        if not keys:
            return
        first = ", first=True" if len(keys) == 1 else ""  # one value, not a list of one
        args["output_transform"] = f"$monai.handlers.from_engine({keys!r}{first})"
        self.report.add(
            "changed",
            self.scope.where(json_path(where, "args", "output_transform")),
            f"{text!r} -> {args['output_transform'][1:]!r} (decollated engine output)",
        )

    def metrics(self, key: str) -> dict[str, Any]:
        if key == "key_metric":
            label, item = self.metric(self.raw[key], self.resolved.get(key) or {}, self.path(key))
            return {label: item}
        out = {}
        for i, raw, res in self.items(key):
            label, item = self.metric(raw, res, self.path(key, i))
            out[label] = item
        return out

    def translate(self, key: str) -> Any:
        """The bundle form of the Clara section key ``key``."""
        if key in ("pre_transforms", "post_transforms"):
            return self.transforms(key)
        if key == "handlers":
            return self.handlers()
        if key in ("key_metric", "additional_metrics"):
            return self.metrics(key)
        raw, res = self.raw[key], self.resolved.get(key)
        if key in ("trainer", "evaluator") and isinstance(raw, Mapping):
            item = self.component(raw, res, self.path(key))
            item.setdefault("device", "@device")
            return item
        return self.component(raw, res, self.path(key))


def picked_keys(text: Any) -> list[str] | None:
    """``"lambda x: (x['pred'], x['label'])"`` -> ``["pred", "label"]``, ``"lambda x:
    x['loss']"`` -> ``["loss"]``; None for any other expression."""
    if not isinstance(text, str) or "lambda" not in text:
        return None
    try:
        tree = ast.parse(text.strip().lstrip("#").strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.Lambda) or len(tree.args.args) != 1:
        return None
    arg = tree.args.args[0].arg
    items = tree.body.elts if isinstance(tree.body, ast.Tuple) else [tree.body]
    keys = [
        e.slice.value
        for e in items
        if isinstance(e, ast.Subscript)
        and isinstance(e.value, ast.Name)
        and e.value.id == arg
        and isinstance(e.slice, ast.Constant)
        and isinstance(e.slice.value, str)
    ]
    return keys if items and len(keys) == len(items) else None


def custom_modules(custom_dir: Path) -> frozenset[str]:
    """Top-level module names in an MMAR's ``custom/`` folder."""
    if not custom_dir.is_dir():
        return frozenset()
    names = {p.stem for p in custom_dir.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in custom_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return frozenset(names)
