"""One resolver for the components of a resolved MMAR config: it checks and it builds.

A :class:`Resolver` holds one section (``train``, ``validate`` or a flat config) and resolves
its keys on demand, so ``@refs`` resolve in dependency order. The same walk serves both
uses, as MONAI's ``ReferenceResolver.get_resolved_content(instantiate=...)`` does:

- **build** (``instantiate=True``): each component becomes its object; the first problem
  raises;
- **check** (``instantiate=False``): every problem is recorded in :attr:`Walk.problems` and
  the walk goes on. MONAI's data + transform datasets (``Dataset``, ``CacheDataset``,
  ``PersistentDataset``, ``SmartCacheDataset``...) are not constructed, since that fills
  their caches: they become an :class:`Unbuilt` (class + prepared args), and so does
  whatever takes one (a DataLoader); the data check (:mod:`components.first_case`) runs their
  first case through the transforms instead. Everything else is cheap to construct and is
  constructed, so a constructor that rejects its values is found by the check too.

The steps of a component, in both modes: the class (registry + the allowlist of
:mod:`components.trust`), the args with their ``@refs`` and code strings resolved, the
signature check, the preparation hooks of :mod:`components.hooks`, then the constructor. Scoping is Clara's: in ``validate``, ``@model`` and any other name validate
lacks are train's; in ``train``, ``@evaluator`` walks validate's evaluator (so a cycle
across the sections is found) and stands for the engine's validation loop; ``@conf`` is the
training config as plain data. References are found by the code-string parser only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmar_hydra.components.code_strings import is_code_string, parse_code_string
from mmar_hydra.components.eval_handlers import build_ignite_handler, runs_as_ignite
from mmar_hydra.components.hooks import (
    HookContext,
    is_pipeline_dataset,
    prepare,
    provided_by_hooks,
)
from mmar_hydra.components.iteration import ITERATION_KEY, build_iteration
from mmar_hydra.components.legacy_arrays import legacy_arrays
from mmar_hydra.components.metrics import build_metric
from mmar_hydra.components.origins import Origin, Origins
from mmar_hydra.components.parts import HandlerPart, MetricPart, ModelSource
from mmar_hydra.components.registry import resolve_class
from mmar_hydra.components.signature_check import check_args, check_int
from mmar_hydra.components.spec_checks import handler_rank, reference_name, spec_args
from mmar_hydra.errors import (
    ComponentError,
    ConfigError,
    MMARError,
    first_line,
    json_path,
)
from mmar_hydra.mmar.keys import ENGINE_KEYS, SINGLE_KEYS, TRANSFORM_KEYS, VALIDATOR_MARKER
from mmar_hydra.settings import parse_bool

__all__ = [
    "Resolver",
    "Walk",
    "Unbuilt",
    "FAILED",
    "is_enabled",
    "is_pipeline_dataset",
]


@dataclass(frozen=True)
class Unbuilt:
    """What check mode gives for a component: its class and prepared args, not an instance."""

    cls: Any
    args: Mapping[str, Any]
    where: str


class _Failed:
    """A key whose check failed; what depends on it is still checked, not reported again."""

    def __repr__(self) -> str:
        return "<failed>"


FAILED = _Failed()


def is_enabled(item: Mapping[str, Any]) -> bool:
    """``disabled`` false or absent (it may be a bool or a resolved ``"{var}"`` string)."""
    value = item.get("disabled", False)
    try:
        return not parse_bool(value, key="disabled")
    except MMARError:
        return not bool(value)


@dataclass
class Walk:
    """What all resolvers of one config share: the mode, the problems, the reference stack."""

    instantiate: bool
    problems: list[MMARError] = field(default_factory=list)
    stack: list[tuple[str, str]] = field(default_factory=list)  # (section, key) being resolved
    origins: Origins = field(default_factory=Origins)  # what was built, from where (build mode)


class Resolver:
    """The components of one section, resolved on demand.

    Args:
        spec: the section's plain data (a resolved config; no ``${}`` left).
        name: ``"train"``, ``"validate"`` or ``""`` for a flat validation/inference config.
        walk: the shared :class:`Walk` (mode, problems, stack).
        hooks: what the preparation hooks need (paths, rank, file...).
        train_conf: the training config as plain data (``@conf``).
        parent: train's resolver, for validate's references to it.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        name: str,
        *,
        walk: Walk,
        hooks: HookContext,
        allow_code: bool,
        train_conf: dict[str, Any] | None = None,
        parent: Resolver | None = None,
    ) -> None:
        self.spec = spec
        self.name = name
        self.walk = walk
        self.hooks = hooks
        self.allow_code = allow_code
        self.file = hooks.file
        self.train_conf = train_conf or {}
        self.parent = parent
        self.child: Resolver | None = None  # train's validate, for "@evaluator"
        self.built: dict[str, Any] = {}
        if parent is not None:
            parent.child = self

    # -- the walk --------------------------------------------------------------------
    def where(self, *parts: str | int) -> str:
        return json_path(self.name, *parts)

    def resolve_all(self) -> None:
        """Every key of the section, in order (check mode records each key's problems)."""
        for key in self.spec:
            self.get(key)

    def get(self, key: str) -> Any:
        """The resolved ``key``: its object (build) or :class:`Unbuilt` (check)."""
        if key in self.built:
            return self.built[key]
        entry = (self.name, key)
        if entry in self.walk.stack:
            raise _cycle_error(self, self.walk.stack, entry)
        self.walk.stack.append(entry)
        try:
            self.built[key] = self._resolve_key(key)
        except MMARError as exc:
            if self.walk.instantiate:
                raise
            self.walk.problems.append(exc)
            self.built[key] = FAILED
        finally:
            self.walk.stack.pop()
        return self.built[key]

    def ref(self, name: str, where: str) -> Any:
        """What ``@name`` refers to, with Clara's scoping."""
        if name == "conf":
            return self.train_conf
        if name in self.spec:
            return self.get(name)
        if name == "evaluator" and self.name == "train":
            if self.child is not None and "evaluator" in self.child.spec:
                self.child.get("evaluator")  # walked: its references are checked too
            return VALIDATOR_MARKER
        if self.parent is not None and name in self.parent.spec:
            return self.parent.get(name)
        available = sorted(k for k in self.spec if isinstance(self.spec[k], dict | list))
        raise ConfigError(
            f"unknown reference '@{name}'",
            file=self.file,
            path=where,
            expected="@ + a component key of this section: " + ", ".join(available),
            fix="check the spelling of the reference",
        )

    def value(self, obj: Any, where: str) -> Any:
        """``obj`` with its ``@refs`` and code strings resolved (nested dicts and lists too)."""
        if isinstance(obj, str):
            if obj.startswith("@"):
                return self.ref(reference_name(obj, where, self.file), where)
            if is_code_string(obj):
                code = parse_code_string(
                    obj, allow_code=self.allow_code, where=where, file=self.file
                )
                scope = {r: self.ref(r, where) for r in code.refs}
                if any(_pending(v) for v in scope.values()):
                    return Unbuilt(None, {"code": obj}, where)
                built = code.evaluate(scope)
                origin = Origin(f"the code string {obj[:200]!r}", where, self.file)
                self.walk.origins.add_code(where, origin)
                if callable(built):
                    self.walk.origins.add(built, origin)
                return built
            return obj
        if isinstance(obj, Mapping):
            return {k: self.value(v, json_path(where, str(k))) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v, json_path(where, i)) for i, v in enumerate(obj)]
        if isinstance(obj, int) and not isinstance(obj, bool):
            check_int(obj, where=where, file=self.file)
        return obj

    # -- kinds of keys ---------------------------------------------------------------
    def _resolve_key(self, key: str) -> Any:
        spec = self.spec[key]
        where = self.where(key)
        if key in TRANSFORM_KEYS:
            return self._compose(self.items(key), where)
        if key == "handlers":
            return [self.handler(item, w) for w, item in self.items(key)]
        if key == "key_metric":
            return self.metric(spec, where, is_key=True)
        if key == "additional_metrics":
            return [self.metric(item, w, is_key=False) for w, item in self.items(key)]
        if key in ENGINE_KEYS:
            if not isinstance(spec, Mapping):
                raise self.not_a_component(where)
            return self.args_of(spec, where)
        if key == ITERATION_KEY and isinstance(spec, Mapping):  # deepgrow's Interaction
            return build_iteration(
                spec,
                where,
                component=self.component,
                compose=self._compose,
                enabled=is_enabled,
                file=self.file,
            )
        if key == "model" and self.name == "":  # flat configs: ts / ckpt / network alternatives
            return self.model_source()
        if isinstance(spec, list) and (key in SINGLE_KEYS or key == "model"):
            raise ConfigError(
                f"'{key}' is a list of {len(spec)} alternatives: a Clara AutoML search space",
                file=self.file,
                path=where,
                expected=f"one {key} component",
                fix="mmar_hydra runs one configuration at a time: keep one alternative "
                "(Clara's medl.apps.automl searched over them)",
            )
        if isinstance(spec, Mapping) and ("name" in spec or "path" in spec):
            return self.component(spec, where)
        if key in (*SINGLE_KEYS, "model") and spec is not None and not isinstance(spec, Mapping):
            raise self.not_a_component(where)  # a number as the inferer: called in every step
        return self.value(spec, where)

    def items(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """(JSON path, spec) of each enabled item of a list, ``{"ref": ...}`` expanded."""
        items = self.spec.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(
                f"'{key}' must be a list",
                file=self.file,
                path=self.where(key),
                expected="[...]",
                fix=f'write \'{key}\' as a list of components: [{{"name": ..., "args": ...}}]',
            )
        out = []
        for i, item in enumerate(items):
            where = self.where(key, i)
            if isinstance(item, dict) and "ref" in item and "name" not in item:
                item = self._train_transform(str(item["ref"]), key, where)
            if not isinstance(item, dict):
                raise self.not_a_component(where)
            if not is_enabled(item):
                continue
            rank = item.get("rank")
            if rank is not None and handler_rank(rank, where, self.file) != self.hooks.rank:
                continue
            out.append((where, item))
        return out

    def _train_transform(self, name: str, key: str, where: str) -> dict[str, Any]:
        """The train transform a validate ``{"ref": name}`` reuses (a copy with its args)."""
        source = self.parent.spec.get(key, []) if self.parent else []
        source = source if isinstance(source, list) else []
        for item in source:
            if isinstance(item, dict) and str(item.get("name", "")).rsplit(".", 1)[-1] == name:
                if not is_enabled(item):
                    raise ConfigError(
                        f"'ref' to train transform '{name}', which is disabled",
                        file=self.file,
                        path=where,
                        expected=f"a ref to an enabled transform of train.{key}",
                        fix=f"enable train.{key} '{name}', or write the transform out here",
                    )
                return copy.deepcopy(item)
        names = [str(i.get("name")) for i in source if isinstance(i, dict)]
        raise ConfigError(
            f"'ref' to unknown train transform '{name}'",
            file=self.file,
            path=where,
            expected="a transform name of train." + key + ": " + ", ".join(names),
            fix="use one of those names, or write the transform out here",
        )

    def _compose(self, items: list[tuple[str, dict[str, Any]]], where: str) -> Any:
        built = [self.guarded(self.component, item, w) for w, item in items]
        if any(_pending(t) for t in built):
            return Unbuilt(None, {"transforms": built}, where)
        from monai.transforms import Compose

        return Compose([legacy_arrays(t) for t in built])  # custom/ transforms: numpy, as then

    def guarded(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; in check mode a problem is recorded and FAILED returned instead."""
        try:
            return fn(*args)
        except MMARError as exc:
            if self.walk.instantiate:
                raise
            self.walk.problems.append(exc)
            return FAILED

    # -- one item --------------------------------------------------------------------
    def not_a_component(self, where: str) -> ConfigError:
        return ConfigError(
            "not a component",
            file=self.file,
            path=where,
            expected='{"name": ..., "args": {...}}',
            fix="write it as an object with a 'name' (or 'path') and its 'args', or remove it",
        )

    def args_of(self, spec: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A component's ``args`` with refs and code strings resolved (an object, or absent)."""
        return dict(self.value(spec_args(spec, where, self.file), json_path(where, "args")))

    def resolve(self, spec: Mapping[str, Any], where: str) -> Any:
        return resolve_class(
            spec.get("name"),
            spec.get("path"),
            allow_code=self.allow_code,
            custom_dir=self.hooks.paths.custom_dir,
            where=where,
            file=self.file,
        )

    def component(self, spec: Any, where: str, *, instantiate: bool | None = None) -> Any:
        """Class, args, signature check, hooks, then the object (build) or Unbuilt (check).

        ``instantiate=False`` stops before the constructor in build mode too: the data check
        reads a dataset's prepared args (its datalist, its built transforms) that way.
        """
        if not isinstance(spec, Mapping):
            raise self.not_a_component(where)
        cls = self.resolve(spec, where)
        label = str(spec.get("name") or spec.get("path"))
        args = self.args_of(spec, where)
        provided = provided_by_hooks(cls, spec)
        check_args(cls, args, component=label, where=where, file=self.file, provided=provided)
        args = prepare(self.hooks, cls, spec, args, where)
        if instantiate is None:  # check mode constructs all but caching datasets and users
            instantiate = self.walk.instantiate or not (
                is_pipeline_dataset(cls)
                or hasattr(cls, "first_case")  # checks its first case itself (SmartCache WSI)
                or any(_pending(v) for v in _leaves(args))
            )
        if not instantiate:
            return Unbuilt(cls, args, where)
        try:
            obj = cls(**args)
            self.walk.origins.add(obj, Origin(label, where, self.file))
            return obj
        except MMARError:
            raise
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the config's
            missing = type(exc).__name__ == "OptionalImportError"  # MONAI: a package is missing
            raise ComponentError(
                f"building {label} failed: {type(exc).__name__}: "
                + (first_line(exc, 10_000) if missing else str(exc)),
                file=self.file,
                path=where,
                expected="arguments this class accepts",
                fix="install that package (the build matching your torch), or disable the "
                f"component: {where.replace('[', '.').replace(']', '')}.disabled=true"
                if missing
                else "check the component's args",
            ) from exc

    def handler(self, spec: dict[str, Any], where: str) -> Any:
        """A Clara handler: the engine maps it by name; a qualified one must pass the allowlist."""

        def resolve() -> HandlerPart:
            name = str(spec.get("name") or spec.get("path") or "")
            named = runs_as_ignite(name)
            cls = self.resolve(spec, where) if spec.get("path") or "." in name or named else None
            ignite = runs_as_ignite(name, cls)  # run by its section's loop (ignite_bridge)
            args = prepare(self.hooks, None, spec, self.args_of(spec, where), where)
            obj = build_ignite_handler(
                cls if ignite else None,
                args,
                label=name,
                where=where,
                file=self.file,
                instantiate=self.walk.instantiate,
            )
            return HandlerPart(name, args, where, spec.get("rank"), obj, self.file)

        return self.guarded(resolve)

    def metric(self, spec: Any, where: str, *, is_key: bool) -> Any:
        """A Clara metric as a cumulative MONAI metric (cheap: built in both modes)."""

        def resolve() -> MetricPart:
            if not isinstance(spec, Mapping):
                raise self.not_a_component(where)
            name = str(spec.get("name"))
            args = self.args_of(spec, where)
            args = {k: v for k, v in args.items() if not isinstance(v, Unbuilt)}
            metric = build_metric(name, args, where=where, file=self.file)
            self.walk.origins.add(metric, Origin(name, where, self.file))
            output = args.get("output_transform")  # 4.0: lambda x: (x['pred_inverted'], ...)
            label = str(spec.get("log_label") or name)
            return MetricPart(
                name, label, metric, is_key, where, output if callable(output) else None
            )

        return self.guarded(resolve)

    def model_source(self) -> ModelSource | None:
        """A flat config's model: exactly one enabled of TorchScript, checkpoint or network."""
        model = self.spec.get("model")
        where = self.where("model")
        options = model if isinstance(model, list) else [model] if model is not None else []
        if not options:
            return None
        if not all(isinstance(m, Mapping) for m in options):
            raise self.not_a_component(where)
        enabled = [(i, m) for i, m in enumerate(options) if is_enabled(m)]
        if len(enabled) != 1:
            raise ConfigError(
                f"{len(enabled)} of the model alternatives are enabled",
                file=self.file,
                path=where,
                expected="exactly one enabled model (ts_path, ckpt_path or a network spec)",
                fix="set dont_load_ts_model / dont_load_ckpt_model so that exactly one is enabled",
            )
        i, chosen = enabled[0]
        at = json_path(where, i) if isinstance(model, list) else where
        read_path = self.hooks.paths.read
        if "ts_path" in chosen:
            ts = read_path(str(chosen["ts_path"]), where=json_path(at, "ts_path"), file=self.file)
            return ModelSource("ts", str(ts))
        network = self.component(chosen, at) if "name" in chosen or "path" in chosen else None
        path = chosen.get("ckpt_path")
        at = json_path(at, "ckpt_path")
        read = str(read_path(str(path), where=at, file=self.file)) if path else None
        return ModelSource("ckpt" if path else "network", read, network)


def _pending(value: Any) -> bool:
    """Not a built object: check mode's placeholder, or a failed key."""
    return isinstance(value, Unbuilt) or value is FAILED


def _leaves(obj: Any) -> list[Any]:
    if isinstance(obj, Mapping):
        return [x for v in obj.values() for x in _leaves(v)]
    if isinstance(obj, list | tuple):
        return [x for v in obj for x in _leaves(v)]
    return [obj]


def _cycle_error(resolver: Resolver, stack: list[tuple[str, str]], entry: tuple[str, str]) -> Any:
    loop = [*stack[stack.index(entry) :], entry]
    cycle = " -> ".join(json_path(section, key) for section, key in loop)
    return ConfigError(
        f"reference cycle: {cycle}",
        file=resolver.file,
        path=json_path(*entry),
        expected="components that do not refer to each other in a loop",
        fix="remove one of the references",
    )
