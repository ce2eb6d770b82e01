"""Check, then build, a resolved MMAR config: the components layer's public functions.

Input is the resolved normalized config (plain data, 4.1 wiring, no ``${}`` left). Both
uses run the same walk of :mod:`components.resolver`, over every key of every section:
``check_config`` with ``instantiate=False`` (every problem found, nothing built), the
``build_*`` functions with ``instantiate=True`` (the dataclasses of
:mod:`components.parts`). A config that the check accepts therefore builds, and one that it
rejects fails to build for the same reason.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mmar_hydra.components.cache_estimate import estimate_cache_bytes
from mmar_hydra.components.first_case import check_first_case
from mmar_hydra.components.hooks import HookContext
from mmar_hydra.components.parts import EvalParts, ModelSource, TrainParts
from mmar_hydra.components.resolver import Resolver, Walk
from mmar_hydra.errors import ConfigError, MMARError
from mmar_hydra.mmar.keys import VALIDATOR_MARKER
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.settings import parse_bool

__all__ = [
    "check_config",
    "build_train",
    "build_eval",
    "build_network",
    "estimate_dataset_cache",
    "VALIDATOR_MARKER",
]


def _file(cfg: Mapping[str, Any]) -> str | None:
    return (cfg.get("mmar_source") or {}).get("config_file")


def _resolvers(
    cfg: Mapping[str, Any],
    paths: RunPaths,
    *,
    instantiate: bool,
    allow_code: bool,
    rank: int = 0,
    world_size: int = 1,
    data: bool = True,
    guard_cases: bool = False,
) -> tuple[Resolver | None, Resolver | None]:
    """(train, validate) of a training config, or (None, flat) of a flat one."""
    walk = Walk(instantiate=instantiate)

    def hooks(section: str) -> HookContext:
        return HookContext(
            paths=paths,
            section=section,
            file=_file(cfg),
            allow_code=allow_code,
            rank=rank,
            world_size=world_size,
            instantiate=instantiate,
            data=data,
            guard_cases=guard_cases,
            origins=walk.origins,
        )

    if isinstance(cfg.get("train"), Mapping):
        conf = {k: copy.deepcopy(v) for k, v in cfg.items() if k != "mmar_source"}
        common: dict[str, Any] = {"walk": walk, "allow_code": allow_code, "train_conf": conf}
        train = Resolver(cfg["train"], "train", hooks=hooks("train"), **common)
        validate = None
        if isinstance(cfg.get("validate"), Mapping) and cfg["validate"]:
            validate = Resolver(
                cfg["validate"], "validate", hooks=hooks("validate"), parent=train, **common
            )
        return train, validate
    flat = Resolver(cfg, "", walk=walk, hooks=hooks(""), allow_code=allow_code)
    return None, flat


def check_config(
    cfg: Mapping[str, Any],
    *,
    paths: RunPaths,
    allow_code: bool = False,
    check_data: bool = True,
) -> list[MMARError]:
    """Every problem of a resolved config, found by the build walk without building.

    With ``check_data`` the datalists are read (their files must exist) and the first case
    goes through the pre-transforms; without, only the components are checked.
    """
    train, other = _resolvers(cfg, paths, instantiate=False, allow_code=allow_code, data=check_data)
    sections = [s for s in (train, other) if s is not None]
    for section in sections:
        section.resolve_all()
    problems = sections[0].walk.problems if sections else []
    if check_data and not problems:
        built_train, built_flat = _resolvers(cfg, paths, instantiate=True, allow_code=allow_code)
        problems += check_first_case(built_train or built_flat)
    return problems


def _flag(value: Any) -> bool:
    try:
        return parse_bool(value, key="amp")
    except MMARError:
        return bool(value)


def build_train(
    cfg: Mapping[str, Any],
    *,
    paths: RunPaths,
    allow_code: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> TrainParts:
    """Build everything config_train.json's ``train`` (and ``validate``) sections describe.

    With ``world_size > 1`` each rank's datasets hold only its shard of the datalists.
    """
    train, validate = _resolvers(
        cfg,
        paths,
        instantiate=True,
        allow_code=allow_code,
        rank=rank,
        world_size=world_size,
        guard_cases=True,  # bad cases met mid-run: faults.bad_cases
    )
    if train is None:
        raise ConfigError(
            "not a training config: no 'train' section",
            file=_file(cfg),
            expected="config_train.json with train and validate sections",
        )
    train.resolve_all()
    if validate is not None:
        validate.resolve_all()
    built = train.built
    trainer = built.get("trainer") or {}
    parts = TrainParts(
        network=built.get("model"),
        loss=built.get("loss"),
        optimizer=built.get("optimizer"),
        lr_scheduler=built.get("lr_scheduler"),
        dataloader=built.get("dataloader"),
        inferer=built.get("inferer"),
        post_transforms=built.get("post_transforms"),
        pre_transforms=built.get("pre_transforms"),
        metrics=[built["key_metric"]] if "key_metric" in built else [],
        handlers=built.get("handlers") or [],
        max_epochs=int(trainer.get("max_epochs", cfg.get("epochs", 1))),
        amp=_flag(trainer.get("amp", cfg.get("amp", False))),
        train_conf=train.train_conf,
        iteration=trainer.get("iteration_update", built.get("iteration")),
        origins=train.walk.origins,
    )
    if validate is not None:
        parts.validate = _eval_parts(validate, cfg)
    return parts


def _eval_parts(section: Resolver, cfg: Mapping[str, Any]) -> EvalParts:
    built = section.built
    evaluator = built.get("evaluator") or {}
    metrics = [built["key_metric"]] if "key_metric" in built else []
    metrics += built.get("additional_metrics") or []
    return EvalParts(
        dataloader=built.get("dataloader"),
        inferer=built.get("inferer"),
        post_transforms=built.get("post_transforms"),
        pre_transforms=built.get("pre_transforms"),
        metrics=metrics,
        handlers=built.get("handlers") or [],
        amp=_flag(evaluator.get("amp", cfg.get("amp", False))),
        iteration=evaluator.get("iteration_update", built.get("iteration")),
        origins=section.walk.origins,
    )


def build_network(
    train_cfg: Mapping[str, Any],
    *,
    paths: RunPaths,
    allow_code: bool = False,
) -> Any:
    """Only the network of a training config (export, validation from a checkpoint)."""
    train, _ = _resolvers(train_cfg, paths, instantiate=True, allow_code=allow_code)
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
    paths: RunPaths,
    allow_code: bool = False,
    rank: int = 0,
    section: str | None = None,
    train_model: Any = None,
    world_size: int = 1,
) -> EvalParts:
    """Build a flat validation/inference config (with ``train_model`` as its network), or
    with ``section="validate"`` a training config's validate section."""
    train, flat = _resolvers(
        cfg,
        paths,
        instantiate=True,
        allow_code=allow_code,
        rank=rank,
        world_size=world_size,
        guard_cases=True,  # engine.evaluation stops at a bad case, naming it
    )
    if section == "validate":
        if flat is None or train is None:
            raise ConfigError("the training config has no 'validate' section", file=_file(cfg))
        flat.resolve_all()  # train's components are built only where validate refers to them
        return _eval_parts(flat, cfg)
    if train is not None or flat is None:
        raise ConfigError(
            "not a flat validation/inference config",
            file=_file(cfg),
            expected="config_validation.json / config_inference.json layout",
        )
    if train_model is not None:
        flat.built["model"] = ModelSource("network", network=train_model)
    flat.resolve_all()
    parts = _eval_parts(flat, cfg)
    parts.model = flat.built.get("model")
    return parts


def estimate_dataset_cache(
    cfg: Mapping[str, Any], section: str, *, paths: RunPaths, allow_code: bool = False
) -> int | None:
    """Bytes a memory cache of ``section``'s whole dataset would take (one case through its
    deterministic transforms, times the cases); ``None`` without a datalist or transforms."""

    train, validate = _resolvers(cfg, paths, instantiate=True, allow_code=allow_code)
    resolver = train if section == "train" else validate
    spec = resolver.spec.get("dataset") if resolver is not None else None
    if resolver is None or not isinstance(spec, Mapping):
        return None
    prepared = resolver.component(spec, resolver.where("dataset"), instantiate=False)
    data, transform = prepared.args.get("data"), prepared.args.get("transform")
    if not data or transform is None:
        return None
    return estimate_cache_bytes(data, transform, cache_num=len(data), cache_rate=1.0)
