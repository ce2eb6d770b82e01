"""One config section with Clara's ``@ref`` scoping, built lazily and cycle-safe.

A :class:`Section` is ``train``, ``validate`` or a flat validation/inference config. Its
components are built on demand when something refers to them, so ``@refs`` resolve in
dependency order whatever the JSON order, and a loop is reported (``a -> b -> a``) instead of
recursing forever. Clara's scoping (clara_mmar_format.md section 4):

- ``@name`` is the built object under ``name`` in the same section;
- in ``validate``, names it lacks (``@model``) are train's;
- in ``train``, ``@evaluator`` is validate's evaluator, which the engine runs itself, so it is
  represented by :data:`VALIDATOR_MARKER`;
- ``@conf`` is the training config as plain data (stored as ``train_conf`` in checkpoints);
- ``@pre_transforms`` / ``@post_transforms`` are a monai ``Compose`` of the enabled items.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.components.cache_estimate import check_cache_fits
from mmar_hydra.components.code_strings import is_code_string, parse_code_string
from mmar_hydra.components.datalist import load_datalist
from mmar_hydra.components.metrics import build_metric
from mmar_hydra.components.parts import HandlerPart, MetricPart
from mmar_hydra.components.registry import resolve_class
from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import ComponentError, ConfigError, MMARError, json_path
from mmar_hydra.mmar.layout import resolve_inside

__all__ = [
    "Section",
    "VALIDATOR_MARKER",
    "PATH_ARGS",
    "LIST_KEYS",
    "NOT_BUILT",
    "truthy",
    "ref_name",
    "refs_of",
    "cycle_error",
]

VALIDATOR_MARKER = "validate"  # what train's "@evaluator" becomes: the engine's validation loop
LIST_KEYS = ("pre_transforms", "post_transforms", "handlers", "additional_metrics")
NOT_BUILT = ("trainer", "evaluator")  # ignite engines in Clara; the Lightning engine reads them
# args that name files or folders: relative values resolve against the MMAR root, as in Clara
PATH_ARGS = ("output_dir", "cache_dir", "save_dir", "log_dir", "load_path", "data_root_dir")
_NOT_REFERABLE = ("mmar_source",)  # plain data of the framework, never a component
_CODE_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


def truthy(value: Any) -> bool:
    """Clara flags after substitution may be bools or strings such as ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def ref_name(value: Any) -> str | None:
    """``"model"`` for ``"@model"``; None for anything that is not a whole-string reference."""
    if isinstance(value, str) and value.startswith("@") and value[1:].isidentifier():
        return value[1:]
    return None


def refs_of(obj: Any) -> list[str]:
    """Every name referred to inside ``obj`` (``@name`` strings and ``@name`` in code strings)."""
    if isinstance(obj, str):
        name = ref_name(obj)
        if name is not None:
            return [name]
        return _CODE_REF.findall(obj) if is_code_string(obj) else []
    if isinstance(obj, Mapping):
        return [r for v in obj.values() for r in refs_of(v)]
    if isinstance(obj, list):
        return [r for v in obj for r in refs_of(v)]
    return []


def cycle_error(file: str | None, where: str, stack: list[str], key: str) -> ConfigError:
    """The error for ``key`` being referred to again while it is being built."""
    cycle = " -> ".join([*stack[stack.index(key) :], key])
    return ConfigError(
        f"reference cycle: {cycle}",
        file=file,
        path=where,
        expected="components that do not refer to each other in a loop",
        fix="remove one of the references",
    )


def _is_component(spec: Any) -> bool:
    return isinstance(spec, Mapping) and ("name" in spec or "path" in spec)


class Section:
    """The components of one section, built lazily with reference resolution.

    Args:
        config: the section's dict (``cfg["train"]``, ``cfg["validate"]`` or a flat config).
        name: ``"train"``, ``"validate"`` or ``""`` (flat): the JSON path prefix.
        rank: the process rank; items with ``"rank": N`` are kept only when equal. ``None``
            keeps every item (used by ``check_config`` so rank-only items are checked too).
        train_conf: what ``@conf`` means.
        parent: train's section, for validate's fallbacks (``@model``, ``{"ref": ...}``).
        world_size: with more than one process each rank keeps only its shard of datalists.
        special: keys the caller builds itself: key -> function of this section.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        name: str,
        *,
        mmar_root: Path,
        allow_code: bool,
        rank: int | None,
        file: str | None,
        train_conf: dict[str, Any] | None = None,
        parent: Section | None = None,
        world_size: int = 1,
        special: Mapping[str, Callable[[Section], Any]] | None = None,
    ) -> None:
        self.spec = config
        self.name = name
        self.mmar_root = Path(mmar_root)
        self.allow_code = allow_code
        self.rank = rank
        self.file = file
        self.train_conf = train_conf or {}
        self.parent = parent
        self.world_size = world_size
        self.special = dict(special or {})
        self._built: dict[str, Any] = {}
        self._building: list[str] = []

    # -- references -------------------------------------------------------------------
    def where(self, *parts: str | int) -> str:
        return json_path(self.name, *parts)

    def has(self, key: str) -> bool:
        """Whether ``key`` is a component (or component list) of this section."""
        return key in self.spec and key not in _NOT_REFERABLE and not _is_plain(self.spec[key])

    def enabled(self, spec: Any) -> bool:
        """False for ``"disabled": true`` and for ``"rank": N`` on another rank."""
        if not isinstance(spec, Mapping):
            return True
        if truthy(spec.get("disabled", False)):
            return False
        return spec.get("rank") is None or self.rank is None or int(spec["rank"]) == self.rank

    def owner(self, name: str, where: str) -> Section | None:
        """The section ``@name`` is looked up in; None for ``@conf`` / train's ``@evaluator``."""
        if name == "conf":
            return None
        if self.has(name):
            return self
        if name == "evaluator" and self.name == "train":
            return None
        if self.parent is not None and self.parent.has(name):
            return self.parent
        available = sorted(k for k in self.spec if self.has(k))
        if self.parent is not None:
            available += [f"{k} (train)" for k in self.parent.spec if self.parent.has(k)]
        raise ConfigError(
            f"unknown reference '@{name}'",
            file=self.file,
            path=where,
            expected="@ + a component key: " + ", ".join(["conf", *available]),
            fix="check the spelling of the reference",
        )

    def ref(self, name: str, where: str) -> Any:
        """The built object ``@name`` refers to, with Clara's scoping rules."""
        section = self.owner(name, where)
        if section is None:
            return self.train_conf if name == "conf" else VALIDATOR_MARKER
        if not section.enabled(section.spec[name]):
            raise ConfigError(
                f"'@{name}' refers to a component that is disabled (or for another rank)",
                file=self.file,
                path=where,
                expected=f"an enabled {section.where(name)}",
                fix=f"enable {section.where(name)} or remove the reference",
            )
        return section.get(name)

    def get(self, key: str) -> Any:
        """The built component under ``key`` (None when it is disabled or for another rank)."""
        if key in self._built:
            return self._built[key]
        if key in self._building:
            raise cycle_error(self.file, self.where(key), self._building, key)
        self._building.append(key)
        try:
            spec = self.spec[key]
            self._built[key] = self._build_key(key) if self.enabled(spec) else None
        finally:
            self._building.pop()
        return self._built[key]

    def value(self, obj: Any, where: str) -> Any:
        """``obj`` with ``@refs`` replaced by built objects and code strings evaluated."""
        if isinstance(obj, str):
            name = ref_name(obj)
            if name is not None:
                return self.ref(name, where)
            if is_code_string(obj):
                code = parse_code_string(obj, allow_code=self.allow_code, where=where, file=self.file)
                return code.evaluate({r: self.ref(r, where) for r in code.refs})
            return obj
        if isinstance(obj, Mapping):
            return {k: self.value(v, json_path(where, str(k))) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v, json_path(where, i)) for i, v in enumerate(obj)]
        return obj

    # -- lists ------------------------------------------------------------------------
    def expand(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """(json path, spec) of each enabled item of a list, with ``{"ref": ...}`` expanded."""
        items = self.spec.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(
                f"'{key}' must be a list", file=self.file, path=self.where(key), expected="[...]"
            )
        out = []
        for i, item in enumerate(items):
            where = self.where(key, i)
            if isinstance(item, Mapping) and "ref" in item and not _is_component(item):
                if not self.enabled(item):
                    continue
                item = self._ref_transform(str(item["ref"]), key, where)
            if not isinstance(item, Mapping):
                raise self.not_a_component(where)
            if self.enabled(item):
                out.append((where, dict(item)))
        return out

    def _ref_transform(self, name: str, key: str, where: str) -> dict[str, Any]:
        """A copy of train's transform of class ``name`` (validate's ``{"ref": name}``)."""
        source = self.parent.spec.get(key, []) if self.parent else []
        source = source if isinstance(source, list) else []
        for item in source:
            if isinstance(item, Mapping) and str(item.get("name", "")).rsplit(".", 1)[-1] == name:
                return copy.deepcopy(dict(item))
        names = [str(i.get("name")) for i in source if isinstance(i, Mapping)]
        raise ConfigError(
            f"'ref' to unknown train transform '{name}'",
            file=self.file,
            path=where,
            expected=f"a transform name of train.{key}: " + (", ".join(names) or "(none)"),
            fix="use the class name of a transform in train." + key,
        )

    def build_list(self, key: str) -> list[Any]:
        out = []
        for where, item in self.expand(key):
            if key == "handlers":
                args = self.value(item.get("args", {}) or {}, json_path(where, "args"))
                out.append(HandlerPart(str(item.get("name")), args, where, item.get("rank")))
            elif key == "additional_metrics":
                out.append(self.metric(item, where, is_key=False))
            else:
                out.append(self.component(item, where))
        return out

    # -- building -----------------------------------------------------------------------
    def _build_key(self, key: str) -> Any:
        spec = self.spec[key]
        if key in ("pre_transforms", "post_transforms"):
            from monai.transforms import Compose

            return Compose(self.build_list(key))
        if key in ("handlers", "additional_metrics"):
            return self.build_list(key)
        if key == "key_metric":
            return self.metric(spec, self.where(key), is_key=True)
        if key in NOT_BUILT:
            return self.value(spec.get("args", {}) or {}, self.where(key, "args"))
        if key in self.special:  # e.g. a flat config's model alternatives (ts / ckpt / network)
            return self.special[key](self)
        return self.component(spec, self.where(key))

    def metric(self, spec: Mapping[str, Any], where: str, *, is_key: bool) -> MetricPart:
        name = str(spec.get("name"))
        args = self.value(spec.get("args", {}) or {}, json_path(where, "args"))
        metric = build_metric(name, args, where=where, file=self.file)
        return MetricPart(name, str(spec.get("log_label") or name), metric, is_key, where)

    def resolve(self, spec: Mapping[str, Any], where: str) -> Any:
        """The class (or function) a component spec names."""
        return resolve_class(
            spec.get("name"),
            spec.get("path"),
            allow_code=self.allow_code,
            custom_dir=self.mmar_root / "custom",
            where=where,
            file=self.file,
        )

    def list_paths(self, spec: Mapping[str, Any]) -> tuple[Path, Path, str]:
        """(datalist file, base dir, split key) of a dataset spec, resolved against the MMAR."""
        list_path = self.mmar_root / str(spec["data_list_file_path"])
        base = spec.get("data_file_base_dir")
        base_dir = self.mmar_root / str(base) if base not in (None, "") else list_path.parent
        return list_path, base_dir, str(spec.get("data_list_key", "training"))

    def datalist(self, spec: Mapping[str, Any], where: str) -> list[dict[str, Any]] | None:
        """The dataset's cases (this rank's shard with several processes), or None."""
        if "data_list_file_path" not in spec:
            return None
        list_path, base_dir, key = self.list_paths(spec)
        items = load_datalist(list_path, base_dir, key, where=where)
        if self.world_size > 1 and self.rank is not None:
            from monai.data import partition_dataset

            # each rank builds (and caches) only its shard; training shards are padded to equal
            # length so DDP steps stay in lockstep, evaluation shards are not (no duplicated case)
            even = self.name == "train"
            shards = partition_dataset(items, num_partitions=self.world_size, even_divisible=even)
            items = shards[self.rank]
        return items

    def not_a_component(self, where: str) -> ConfigError:
        return ConfigError(
            "not a component",
            file=self.file,
            path=where,
            expected='{"name": ..., "args": {...}} (or {"path": ...})',
            fix="give the item a 'name' (a MONAI/torch class) or a 'path' (module.Class)",
        )

    def component_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The constructor args of ``spec``: refs resolved, datalist as ``data``, paths inside."""
        args = dict(self.value(spec.get("args", {}) or {}, json_path(where, "args")))
        data = self.datalist(spec, where)
        if data is not None:
            args["data"] = data
        for key in PATH_ARGS:
            if isinstance(args.get(key), str):
                path = resolve_inside(
                    self.mmar_root, args[key], where=json_path(where, "args", key), file=self.file
                )
                args[key] = str(path)
        if str(spec.get("name", "")).endswith("PersistentDataset") and "cache_dir" not in args:
            args["cache_dir"] = str(self.mmar_root / "cache" / f"persistent_{self.name or 'eval'}")
        return args

    def component(self, spec: Any, where: str) -> Any:
        """Build one component: resolve, check its args, then ``cls(**args)``."""
        if not _is_component(spec):
            raise self.not_a_component(where)
        label = str(spec.get("name") or spec.get("path"))
        cls = self.resolve(spec, where)
        args = self.component_args(spec, where)
        check_args(cls, args, component=label, where=where, file=self.file)
        if isinstance(cls, type) and any(c.__name__ == "CacheDataset" for c in cls.__mro__):
            check_cache_fits(args, where=where, file=self.file)
        try:
            return cls(**args)
        except MMARError:
            raise
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the config's
            raise ComponentError(
                f"building {label} failed: {type(exc).__name__}: {exc}",
                file=self.file,
                path=where,
                expected="arguments this class accepts",
                fix="check the component's args",
            ) from exc


def _is_plain(value: Any) -> bool:
    """Globals such as ``epochs`` or ``DATA_ROOT`` in a flat config are not referable."""
    return not isinstance(value, Mapping | list)
