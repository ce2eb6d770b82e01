"""Check, then build, the components of a resolved MMAR config.

Input is the resolved normalized config (plain data, 4.1 wiring, no ``${}`` left). Each
section (``train``, ``validate`` or a flat config) is a :class:`Section` that builds its
components on demand, so ``@refs`` resolve in dependency order and a cycle is reported
instead of recursing forever. Clara's scoping: in ``validate``, ``@model`` is train's model;
in train, ``@evaluator`` is validate's evaluator (the engine interprets it); ``@conf`` is the
training config as plain data.

``check_config`` walks everything without building heavy objects and returns every problem;
``build_train`` / ``build_eval`` produce the dataclasses of :mod:`components.parts`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.components.cache_estimate import check_cache_fits
from mmar_hydra.components.code_strings import is_code_string, parse_code_string
from mmar_hydra.components.datalist import load_datalist, missing_files
from mmar_hydra.components.metrics import build_metric
from mmar_hydra.components.parts import EvalParts, HandlerPart, MetricPart, ModelSource, TrainParts
from mmar_hydra.components.registry import resolve_class
from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import ComponentError, ConfigError, DataError, MMARError, json_path
from mmar_hydra.mmar.layout import resolve_inside

__all__ = [
    "Section",
    "check_config",
    "build_train",
    "build_eval",
    "build_network",
    "VALIDATOR_MARKER",
    "PATH_ARGS",
]

VALIDATOR_MARKER = "validate"  # what train's "@evaluator" becomes: the engine's validation loop
_LIST_KEYS = ("pre_transforms", "post_transforms", "handlers", "additional_metrics")
_NOT_BUILT = ("trainer", "evaluator")  # ignite engines in Clara; the Lightning engine reads them
# args that name files or folders: relative values resolve against the MMAR root, as in Clara
PATH_ARGS = ("output_dir", "cache_dir", "save_dir", "log_dir", "load_path", "data_root_dir")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class Section:
    """The components of one section, built lazily with reference resolution."""

    def __init__(
        self,
        config: Mapping[str, Any],
        name: str,
        *,
        mmar_root: Path,
        allow_code: bool,
        rank: int,
        file: str | None,
        train_conf: dict[str, Any] | None = None,
        parent: Section | None = None,
        world_size: int = 1,
    ) -> None:
        self.spec = config
        self.world_size = world_size
        self.name = name
        self.mmar_root = mmar_root
        self.allow_code = allow_code
        self.rank = rank
        self.file = file
        self.train_conf = train_conf or {}
        self.parent = parent
        self._built: dict[str, Any] = {}
        self._building: list[str] = []

    # -- references -------------------------------------------------------------------
    def where(self, *parts: str | int) -> str:
        return json_path(self.name, *parts)

    def ref(self, name: str, where: str) -> Any:
        """The built object ``@name`` refers to, with Clara's scoping rules."""
        if name == "conf":
            return self.train_conf
        if name in self.spec:
            return self.get(name)
        if name == "evaluator" and self.name == "train":
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

    def get(self, key: str) -> Any:
        if key in self._built:
            return self._built[key]
        if key in self._building:
            raise _cycle_error(self, self._building, key)
        self._building.append(key)
        try:
            self._built[key] = self._build_key(key)
        finally:
            self._building.pop()
        return self._built[key]

    def value(self, obj: Any, where: str) -> Any:
        """Resolve @refs and code strings inside an args value."""
        if isinstance(obj, str):
            if obj.startswith("@") and obj[1:].isidentifier():
                return self.ref(obj[1:], where)
            if is_code_string(obj):
                code = parse_code_string(
                    obj, allow_code=self.allow_code, where=where, file=self.file
                )
                return code.evaluate({r: self.ref(r, where) for r in code.refs})
            return obj
        if isinstance(obj, Mapping):
            return {k: self.value(v, json_path(where, str(k))) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v, json_path(where, i)) for i, v in enumerate(obj)]
        return obj

    # -- building -----------------------------------------------------------------------
    def _build_key(self, key: str) -> Any:
        spec = self.spec[key]
        if key in ("pre_transforms", "post_transforms"):
            from monai.transforms import Compose

            return Compose(self.build_list(key))
        if key == "handlers":
            return self.build_list(key)
        if key == "key_metric":
            return self.metric(spec, self.where(key), is_key=True)
        if key == "additional_metrics":
            return self.build_list(key)
        if key in _NOT_BUILT:
            return self.value(spec.get("args", {}), self.where(key, "args"))
        if key == "model" and self.name == "":  # flat configs: ts / ckpt / network alternatives
            return _model_source(self)
        return self.component(spec, self.where(key), key=key)

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
            if isinstance(item, dict) and "ref" in item and "name" not in item:
                item = self._ref_transform(item["ref"], key, where)
            if not isinstance(item, dict):
                raise self.not_a_component(where)
            if _truthy(item.get("disabled", False)):
                continue
            if item.get("rank") is not None and int(item["rank"]) != self.rank:
                continue
            out.append((where, item))
        return out

    def _ref_transform(self, name: str, key: str, where: str) -> dict[str, Any]:
        source = self.parent.spec.get(key, []) if self.parent else []
        for item in source if isinstance(source, list) else []:
            if isinstance(item, dict) and str(item.get("name", "")).rsplit(".", 1)[-1] == name:
                return copy.deepcopy(item)
        names = [str(i.get("name")) for i in source if isinstance(i, dict)]
        raise ConfigError(
            f"'ref' to unknown train transform '{name}'",
            file=self.file,
            path=where,
            expected="a transform name of train." + key + ": " + ", ".join(names),
        )

    def build_list(self, key: str) -> list[Any]:
        out = []
        for where, item in self.expand(key):
            if key == "handlers":
                args = self.value(item.get("args", {}), json_path(where, "args"))
                out.append(HandlerPart(str(item.get("name")), args, where, item.get("rank")))
            elif key == "additional_metrics":
                out.append(self.metric(item, where, is_key=False))
            else:
                out.append(self.component(item, where))
        return out

    def metric(self, spec: Mapping[str, Any], where: str, *, is_key: bool) -> MetricPart:
        name = str(spec.get("name"))
        args = self.value(spec.get("args", {}), json_path(where, "args"))
        metric = build_metric(name, args, where=where, file=self.file)
        label = str(spec.get("log_label") or name)
        return MetricPart(name, label, metric, is_key, where)

    def safe_path(self, value: str, where: str) -> Path:
        """``value`` resolved against the MMAR root; a path leaving the MMAR is refused."""
        return resolve_inside(self.mmar_root, value, where=where, file=self.file)

    def resolve(self, spec: Mapping[str, Any], where: str) -> Any:
        return resolve_class(
            spec.get("name"),
            spec.get("path"),
            allow_code=self.allow_code,
            custom_dir=self.mmar_root / "custom",
            where=where,
            file=self.file,
        )

    def datalist(self, spec: Mapping[str, Any], where: str) -> list[dict[str, Any]] | None:
        if "data_list_file_path" not in spec:
            return None
        root = self.mmar_root
        list_path = root / str(spec["data_list_file_path"])
        base = root / str(spec.get("data_file_base_dir", list_path.parent))
        items = load_datalist(
            list_path, base, str(spec.get("data_list_key", "training")), where=where
        )
        if self.world_size > 1:
            from monai.data import partition_dataset

            # each rank builds (and caches) only its shard; training shards are padded to equal
            # length so DDP steps stay in lockstep, evaluation shards are not (no duplicated case)
            even = self.name == "train"
            shards = partition_dataset(items, num_partitions=self.world_size, even_divisible=even)
            items = shards[self.rank]
        return items

    def not_a_component(self, where: str) -> ConfigError:
        return ConfigError(
            "not a component", file=self.file, path=where, expected='{"name": ..., "args": {...}}'
        )

    def component(self, spec: Any, where: str, key: str = "") -> Any:
        if not isinstance(spec, Mapping):
            raise self.not_a_component(where)
        cls = self.resolve(spec, where)
        args = dict(self.value(spec.get("args", {}) or {}, json_path(where, "args")))
        data = self.datalist(spec, where)
        if data is not None:
            args["data"] = data
        for key in PATH_ARGS:
            if isinstance(args.get(key), str):
                args[key] = str(self.safe_path(args[key], json_path(where, "args", key)))
        if str(spec.get("name", "")).endswith("PersistentDataset") and "cache_dir" not in args:
            args["cache_dir"] = str(self.mmar_root / "cache" / f"persistent_{self.name or 'eval'}")
        check_args(
            cls,
            args,
            component=str(spec.get("name") or spec.get("path")),
            where=where,
            file=self.file,
        )
        if isinstance(cls, type) and any(c.__name__ == "CacheDataset" for c in cls.__mro__):
            check_cache_fits(args, where=where, file=self.file)
        try:
            return cls(**args)
        except MMARError:
            raise
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the config's
            raise ComponentError(
                f"building {spec.get('name') or spec.get('path')} failed: {type(exc).__name__}: {exc}",
                file=self.file,
                path=where,
                expected="arguments this class accepts",
                fix="check the component's args",
            ) from exc


def _file(cfg: Mapping[str, Any]) -> str | None:
    return (cfg.get("mmar_source") or {}).get("config_file")


def _train_conf(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in cfg.items() if k != "mmar_source"}


def _sections(  # noqa: ANN202
    cfg: Mapping[str, Any], mmar_root: Path, allow_code: bool, rank: int, world_size: int = 1
):
    file = _file(cfg)
    common = {
        "mmar_root": mmar_root,
        "allow_code": allow_code,
        "rank": rank,
        "file": file,
        "world_size": world_size,
    }
    if isinstance(cfg.get("train"), Mapping):
        conf = _train_conf(cfg)
        train = Section(cfg["train"], "train", train_conf=conf, **common)
        validate = None
        if isinstance(cfg.get("validate"), Mapping) and cfg["validate"]:
            validate = Section(cfg["validate"], "validate", train_conf=conf, parent=train, **common)
        return train, validate
    return None, Section(cfg, "", **common)


def build_train(
    cfg: Mapping[str, Any],
    *,
    mmar_root: Path,
    allow_code: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> TrainParts:
    """Build everything config_train.json's ``train`` (and ``validate``) sections describe.

    With ``world_size > 1`` each rank's datasets hold only its shard of the datalists.
    """
    train, validate = _sections(cfg, Path(mmar_root), allow_code, rank, world_size)
    if train is None:
        raise ConfigError(
            "not a training config: no 'train' section",
            file=_file(cfg),
            expected="config_train.json with train and validate sections",
        )
    trainer = train.get("trainer") if "trainer" in train.spec else {}
    spec = train.spec
    parts = TrainParts(
        network=train.get("model"),
        loss=train.get("loss"),
        optimizer=train.get("optimizer"),
        lr_scheduler=train.get("lr_scheduler") if "lr_scheduler" in spec else None,
        dataloader=train.get("dataloader"),
        inferer=train.get("inferer") if "inferer" in spec else None,
        post_transforms=train.get("post_transforms") if "post_transforms" in spec else None,
        pre_transforms=train.get("pre_transforms") if "pre_transforms" in spec else None,
        metrics=[train.get("key_metric")] if "key_metric" in spec else [],
        handlers=train.get("handlers") if "handlers" in spec else [],
        max_epochs=int(trainer.get("max_epochs", cfg.get("epochs", 1))),
        amp=_truthy(trainer.get("amp", cfg.get("amp", False))),
        train_conf=train.train_conf,
    )
    if validate is not None:
        parts.validate = _eval_parts(validate, cfg)
    return parts


def _eval_parts(section: Section, cfg: Mapping[str, Any]) -> EvalParts:
    spec = section.spec
    evaluator = section.get("evaluator") if "evaluator" in spec else {}
    metrics = [section.get("key_metric")] if "key_metric" in spec else []
    metrics += section.get("additional_metrics") if "additional_metrics" in spec else []
    return EvalParts(
        dataloader=section.get("dataloader"),
        inferer=section.get("inferer") if "inferer" in spec else None,
        post_transforms=section.get("post_transforms") if "post_transforms" in spec else None,
        pre_transforms=section.get("pre_transforms") if "pre_transforms" in spec else None,
        metrics=metrics,
        handlers=section.get("handlers") if "handlers" in spec else [],
        amp=_truthy(evaluator.get("amp", cfg.get("amp", False))),
    )


def _model_source(section: Section) -> ModelSource | None:
    model = section.spec.get("model")
    where = section.where("model")
    options = model if isinstance(model, list) else [model] if model is not None else []
    enabled = [(i, m) for i, m in enumerate(options) if not _truthy(m.get("disabled", False))]
    if not options:
        return None
    if len(enabled) != 1:
        raise ConfigError(
            f"{len(enabled)} of the model alternatives are enabled",
            file=section.file,
            path=where,
            expected="exactly one enabled model (ts_path, ckpt_path or a network spec)",
            fix="set dont_load_ts_model / dont_load_ckpt_model so that exactly one is enabled",
        )
    i, chosen = enabled[0]
    if "ts_path" in chosen:
        return ModelSource("ts", str(section.mmar_root / str(chosen["ts_path"])))
    network = None
    if "name" in chosen or "path" in chosen:
        network = section.component(
            chosen, json_path(where, i) if isinstance(model, list) else where
        )
    path = chosen.get("ckpt_path")
    return ModelSource(
        "ckpt" if path else "network", str(section.mmar_root / str(path)) if path else None, network
    )


def build_network(
    train_cfg: Mapping[str, Any], *, mmar_root: Path, allow_code: bool = False
) -> Any:
    """Only the network of a training config (export, validation from a checkpoint)."""
    train, _ = _sections(train_cfg, Path(mmar_root), allow_code, 0)
    if train is None or "model" not in train.spec:
        raise ConfigError(
            "cannot rebuild the network: the training config has no train.model",
            file=_file(train_cfg),
            expected="config_train.json with train.model, or a checkpoint with train_conf",
            fix="pass config_file=config/config_train.json",
        )
    return train.get("model")


def build_eval(
    cfg: Mapping[str, Any],
    *,
    mmar_root: Path,
    allow_code: bool = False,
    rank: int = 0,
    section: str | None = None,
    train_model: Any = None,
    world_size: int = 1,
) -> EvalParts:
    """Build a flat validation/inference config (``section=None``) or train's ``validate``."""
    train, flat = _sections(cfg, Path(mmar_root), allow_code, rank, world_size)
    if section == "validate":
        if flat is None:
            raise ConfigError("the training config has no 'validate' section", file=_file(cfg))
        return _eval_parts(flat, cfg)
    if train is not None or flat is None:
        raise ConfigError(
            "not a flat validation/inference config",
            file=_file(cfg),
            expected="config_validation.json / config_inference.json layout",
        )
    if train_model is not None:
        flat._built["model"] = ModelSource("network", network=train_model)
    parts = _eval_parts(flat, cfg)
    parts.model = flat.get("model") if "model" in flat.spec else None
    return parts


# -- check ------------------------------------------------------------------------------
def _check_section(section: Section, problems: list[MMARError], check_data: bool) -> None:
    from mmar_hydra.components.metrics import is_clara_metric

    def guard(fn, *args) -> Any:  # noqa: ANN001
        try:
            return fn(*args)
        except MMARError as exc:
            problems.append(exc)
            return None

    def check_refs(obj: Any, where: str) -> None:
        if isinstance(obj, str):
            if obj.startswith("@") and obj[1:].isidentifier():
                name = obj[1:]
                if name in section.spec:
                    _cycle_check(section, name, [])
                else:
                    section.ref(name, where) if name in ("conf", "evaluator") else _ref_exists(
                        section, name, where
                    )
            elif is_code_string(obj):
                code = parse_code_string(
                    obj, allow_code=section.allow_code, where=where, file=section.file
                )
                for r in code.refs:
                    _ref_exists(section, r, where)
        elif isinstance(obj, Mapping):
            for k, v in obj.items():
                check_refs(v, json_path(where, str(k)))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                check_refs(v, json_path(where, i))

    def check_component(spec: Mapping[str, Any], where: str, key: str) -> None:
        args = spec.get("args", {}) or {}
        check_refs(args, json_path(where, "args"))
        if (
            key in ("key_metric", "additional_metrics")
            or is_clara_metric(str(spec.get("name", "")))
            and key != "model"
        ):
            build_metric(
                str(spec.get("name")),
                {k: v for k, v in args.items() if not is_code_string(v)},
                where=where,
                file=section.file,
            )
            return
        if key == "handlers" or key in _NOT_BUILT:
            return
        cls = section.resolve(spec, where)
        provided = ["data"] if "data_list_file_path" in spec else []
        check_args(
            cls,
            args,
            component=str(spec.get("name") or spec.get("path")),
            where=where,
            file=section.file,
            provided=provided,
        )
        if check_data and "data_list_file_path" in spec:
            items = section.datalist(spec, where)
            missing = missing_files(items or [])
            if missing:
                shown = "\n            ".join(missing[:5])
                raise DataError(
                    f"{len(missing)} data file(s) of the datalist are missing",
                    file=str(section.mmar_root / str(spec["data_list_file_path"])),
                    path=f"{where}.data_list_key={spec.get('data_list_key', 'training')}",
                    expected=f"existing files; first missing:\n            {shown}",
                    fix="set DATA_ROOT to the folder the datalist's relative paths start from",
                )

    for key, spec in section.spec.items():
        if key in _LIST_KEYS:
            for where, item in guard(section.expand, key) or []:
                guard(check_component, item, where, key)
        elif key == "model" and (
            isinstance(spec, list)
            or (isinstance(spec, Mapping) and "name" not in spec and "path" not in spec)
        ):
            guard(_model_source_check, section)
        elif isinstance(spec, Mapping) and ("name" in spec or "path" in spec):
            guard(check_component, spec, section.where(key), key)


def _model_source_check(section: Section) -> None:
    model = section.spec.get("model")
    options = model if isinstance(model, list) else [model]
    enabled = [m for m in options if not _truthy(m.get("disabled", False))]
    if len(enabled) != 1:
        _model_source(section)  # raises the explained error


def _ref_exists(section: Section, name: str, where: str) -> None:
    if name in ("conf",) or name in section.spec:
        return
    if name == "evaluator" and section.name == "train":
        return
    if section.parent is not None and name in section.parent.spec:
        return
    section.ref(name, where)  # raises the explained error


def _refs_of(obj: Any) -> list[str]:
    if isinstance(obj, str):
        if obj.startswith("@") and obj[1:].isidentifier():
            return [obj[1:]]
        if obj.startswith("#"):
            import re

            return re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)", obj)
        return []
    if isinstance(obj, Mapping):
        return [r for v in obj.values() for r in _refs_of(v)]
    if isinstance(obj, list):
        return [r for v in obj for r in _refs_of(v)]
    return []


def _cycle_error(section: Section, stack: list[str], key: str) -> ConfigError:
    cycle = " -> ".join([*stack[stack.index(key) :], key])
    return ConfigError(
        f"reference cycle: {cycle}",
        file=section.file,
        path=section.where(key),
        expected="components that do not refer to each other in a loop",
        fix="remove one of the references",
    )


def _cycle_check(section: Section, key: str, stack: list[str]) -> None:
    if key in stack:
        raise _cycle_error(section, stack, key)
    for ref in _refs_of(section.spec.get(key)):
        if ref in section.spec:
            _cycle_check(section, ref, [*stack, key])


def _sample_check(section: Section, problems: list[MMARError]) -> None:
    """Run the first training case through the pre-transforms (no caching)."""
    from monai.transforms import Compose

    spec = section.spec.get("dataset")
    if not isinstance(spec, Mapping) or "pre_transforms" not in section.spec:
        return
    try:
        items = section.datalist(spec, section.where("dataset"))
        if not items or missing_files(items[:1]):
            return
        transforms = section.get("pre_transforms")
        # shapes are compared as loaded: crops and resampling later would hide a mismatch
        steps = list(transforms.transforms)
        loaded = steps[0](copy.deepcopy(items[0])) if steps else items[0]
        if steps[1:]:
            Compose(steps[1:])(loaded)  # the rest must run too; its output is not needed
    except MMARError as exc:
        problems.append(exc)
        return
    except Exception as exc:  # noqa: BLE001 - report what the transforms said
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        failing = str(exc).splitlines()[0].replace("applying transform ", "")[:160]
        problems.append(
            DataError(
                f"the pre_transforms failed on the first case ({failing}): "
                f"{type(root).__name__}: {str(root).splitlines()[0][:300]}",
                file=section.file,
                path=section.where("pre_transforms"),
                expected="transforms that accept this data",
                fix="run with debug=true to see which transform failed",
            )
        )
        return
    if section.name != "train":  # evaluation configs may keep labels in their own space
        return
    for s in [loaded] if isinstance(loaded, dict) else []:
        img, lbl = s.get("image"), s.get("label")
        if hasattr(img, "shape") and hasattr(lbl, "shape") and len(lbl.shape) == len(img.shape):
            if tuple(img.shape) != tuple(lbl.shape):
                problems.append(
                    DataError(
                        f"image and label shapes differ as loaded: "
                        f"{tuple(img.shape)} vs {tuple(lbl.shape)}",
                        file=str(items[0].get("label")),
                        path=section.where("dataset"),
                        expected="labels on the same grid as their images",
                        fix="check the case's label file, or add a resampling transform for the label",
                    )
                )
                return


def check_config(
    cfg: Mapping[str, Any], *, mmar_root: Path, allow_code: bool = False, check_data: bool = True
) -> list[MMARError]:
    """Every problem of a resolved config, found without building anything heavy."""
    problems: list[MMARError] = []
    train, other = _sections(cfg, Path(mmar_root), allow_code, 0)
    for section in (train, other):
        if section is not None:
            _check_section(section, problems, check_data)
    if check_data and not problems:
        _sample_check(train or other, problems)
    return problems
