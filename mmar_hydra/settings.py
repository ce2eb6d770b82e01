"""The framework's own keys (``mmar=``, ``task=``, ``allow_code=``...): one typed schema.

These keys steer mmar_hydra and are not part of the MMAR. :class:`Settings` is the only
list of them: Hydra's primary config gets its defaults from it (``conf/config.yaml`` lists
``_settings_`` first in its defaults), ``--help`` prints its help texts, the reader's
override rewriting and the resolved MMAR config leave its keys out, and every task reads
them typed, through :func:`parse_settings`. A value of the wrong type is a ConfigError
naming the key; booleans accept what shell scripts write (``no``, ``off``, ``0``...).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = [
    "Settings",
    "SETTINGS_KEYS",
    "FRAMEWORK_KEYS",
    "parse_settings",
    "parse_bool",
    "is_true",
    "settings_defaults",
]

_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")


def _key(help_text: str, default: Any = None, *, choices: tuple[str, ...] = (), **kw: Any) -> Any:
    """A settings field; ``choices``: words a boolean switch also takes (``resume=auto``)."""
    meta = {"help": help_text, "choices": choices}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class Settings:
    """mmar_hydra's own command-line keys, with their types and defaults."""

    mmar: str | None = _key("path of the MMAR root (Clara's -m)")
    task: str = _key("what to run; see the task list above", "check")
    config_file: str | None = _key("config file relative to the MMAR (Clara's -c)")
    env_file: str | None = _key("environment file (Clara's -e), default config/environment.json")
    debug: bool = _key(
        "show tracebacks on errors; debug=fast_dev_run|overfit|limit|profiler|anomaly: a debug "
        "preset (conf/debug/, tracebacks on too)",
        False,
    )
    verbose: bool = _key("also show other libraries' INFO log lines (hidden by default)", False)
    print_conf: bool = _key("print the resolved configuration (Clara's print_conf=True)", False)
    allow_code: bool = _key(
        "trust this MMAR: run code strings, custom/ code, any component, write anywhere", False
    )
    allow_write: list[str] = _key(
        "folders outside the MMAR a trusted MMAR may write to, e.g. [/data/debug]", []
    )
    infer_data_list_key: str | None = _key(
        "task=validate do_validation=false: the datalist split to infer (null: the config's)",
        "test",
    )
    fast: bool = _key(
        "task=train/finetune: rewrite the data pipeline for speed (caches, threads, bf16/AMP)",
        False,
    )
    resume: bool | str = _key(
        "task=train: true: continue from MMAR_CKPT_DIR/resume_state.pt; auto: continue when "
        "it exists, else start fresh (for requeued jobs)",
        False,
        choices=("auto",),
    )
    # faults survived (mmar_hydra/faults/)
    ddp_timeout: int = _key(
        "seconds a DDP rank waits for the others at a collective before it stops", 600
    )
    skip_bad_cases: bool = _key(
        "task=train: log, skip and count (train_stats.json) cases that cannot be loaded, "
        "instead of stopping at the first",
        False,
    )
    max_bad_fraction: float = _key(
        "task=train with skip_bad_cases: stop when more than this share of a dataset's "
        "cases are bad",
        0.1,
    )
    runs: Any = _key(
        "task=compare: a sweep folder, [dir1,dir2], a glob, mlflow:EXP or optuna:URL/STUDY"
    )
    baseline: str | None = _key(
        "task=compare: the variant the others are tested against (its name or folder; "
        "null: the first)"
    )
    validate_missing: bool = _key(
        "task=compare: run task=validate first on trained variants without per-case results",
        False,
    )
    out: str | None = _key("output folder of task=demo_data / import / clone / compare")
    seed: int = _key(
        "seed of task=demo_data, of task=prepare_dataset's split and of task=compare's bootstrap",
        0,
    )
    force: bool = _key("task=demo_data / clone: overwrite existing files", False)
    clone_models: bool = _key("task=clone: copy models/ too", False)
    # MONAI bundles (task=bundle / parity, mmar_hydra/bundle/)
    deploy: bool = _key(
        "task=bundle: also write triton/<name>/ (ONNX model + config.pbtxt) and models/model.onnx",
        True,
    )
    parity: bool = _key(
        "task=bundle: also write the parity certificate (docs/parity.json, docs/parity.md)", False
    )
    bundle: str | None = _key("task=parity: the bundle folder to certify against the MMAR")
    # cross-validation and ensembles (task=cv / ensemble / postprocess; validate / infer members)
    folds: int | None = _key(
        "task=cv: the number of folds (null: the datalist's fold keys, else 5)"
    )
    cv_pool: str = _key("task=cv: split `train` (training only) or `all` (+ validation)", "train")
    group_key: str | None = _key("task=cv: datalist key kept within one fold (a patient id)")
    cv_dir: str | None = _key("the CV folder, relative to the MMAR (null: cv)")
    cv_fold: int | None = _key("set by task=cv on each fold's training job (the fold number)")
    models: Any = _key("ensemble members: [models/a.pt, other/model.ts, ...] instead of cv_dir")
    ensemble: str = _key(
        "mean (average the outputs) | vote (majority of the members' labels)", "mean"
    )
    tta: str | None = _key("flip: flip test-time augmentation over the spatial axes")
    tta_axes: Any = _key("spatial axes tta=flip mirrors, e.g. [0,1] (null: all of them)")
    model_path: str | None = _key("task=export: the checkpoint to export (default MMAR_CKPT)")
    output_path: str | None = _key("task=export: where model.ts goes (default MMAR_TORCHSCRIPT)")
    input_shape: Any = _key("task=export: e.g. [1,1,96,96,96] (default from the config)")
    ignore_verify: bool = _key("task=export: skip the exported-vs-eager checks", False)
    format: Any = _key("task=export: torchscript (default), onnx, pt2, or a list: [onnx,pt2]")
    tracking_uri: str | None = _key(
        "logger=mlflow / task=compare runs=mlflow:X: the store, sqlite:///path.db or a folder "
        "(default: $MLFLOW_TRACKING_URI, else sqlite:///<MMAR>/runs/mlflow.db)"
    )
    progress: str = _key(
        "training progress: auto (rich bar on a terminal, epoch lines otherwise), rich, tqdm, none",
        "auto",
    )
    # Clara AutoML (task=automl, mmar_hydra/automl/)
    automl: Any = _key(
        "task=automl: trials, seed, run_id, stop_threshold, keep, controller (null: what "
        "config/config_automl.json says), e.g. automl.trials=2; storage=sqlite:///F.db or "
        "postgresql://... (study, heartbeat_s, grace_s): workers share one search",
        dict.fromkeys(
            ("trials", "run_id", "stop_threshold", "keep", "controller", "storage", "study")
        )
        | {"seed": 0, "heartbeat_s": 10, "grace_s": None},
    )
    # deepgrow (issue #15): task=prepare_dataset, what commands/prepare_dataset.sh passed
    dataset_root: str | None = _key("task=prepare_dataset: the MSD dataset folder (--dataset_root)")
    dataset_json: str | None = _key(
        "task=prepare_dataset: its datalist (default DATASET_ROOT/dataset.json)"
    )
    datalist_key: str = _key("task=prepare_dataset: the datalist split to prepare", "training")
    dimensions: int | None = _key("task=prepare_dataset: 2 or 3 (null: the MMAR network's)")
    limit: int = _key("task=prepare_dataset: prepare only the first N cases (0: all)", 0)
    split: float = _key("task=prepare_dataset: the training share of dataset_0.json", 0.9)


SETTINGS_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))
# keys that steer mmar_hydra itself and are not part of the MMAR's config: the typed
# settings, and the config groups of conf/ that are not MMAR parts
FRAMEWORK_KEYS: tuple[str, ...] = (*SETTINGS_KEYS, "trainer", "logger")


def settings_defaults() -> dict[str, Any]:
    """The defaults as plain data: the ``_settings_`` node of Hydra's primary config."""
    return dataclasses.asdict(Settings())


def parse_bool(value: Any, *, key: str = "") -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case) as a bool; else a ConfigError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(
        f"{key or 'value'}={value!r} is not a boolean",
        path=key or None,
        expected="true or false (also yes/no, on/off, 1/0)",
        fix=f"write {key or 'it'}=true or {key or 'it'}=false",
    )


def is_true(value: Any) -> bool:
    """A boolean switch read before the schema is checked: unreadable values are false."""
    try:
        return value is not None and parse_bool(value)
    except ConfigError:
        return False


def _base_types(annotation: Any) -> tuple[type, ...]:
    """The classes an annotation admits (``str | None`` -> (str, NoneType)); () means any."""
    if annotation is Any:
        return ()
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(t for a in typing.get_args(annotation) for t in _base_types(a))
    origin = typing.get_origin(annotation)
    return (origin,) if origin is not None else (annotation,)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    """A boolean switch that also takes one of ``choices`` (``resume=auto``)."""
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    try:
        return parse_bool(value, key=name)
    except ConfigError:
        raise ConfigError(
            f"{name}={value!r} is not a boolean or one of: {', '.join(choices)}",
            path=name,
            expected="true, false or " + " / ".join(choices),
            fix=f"write {name}=true, {name}=false or {name}={choices[0]}",
        ) from None


def _convert(name: str, value: Any, annotation: Any, choices: tuple[str, ...] = ()) -> Any:
    allowed = _base_types(annotation)
    if not allowed or value is None and type(None) in allowed:
        return value
    if choices:
        return _choice(name, value, choices)
    if bool in allowed:
        return parse_bool(value, key=name)
    if list in allowed:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
    elif int in allowed and isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return int(value)
        except ValueError:
            pass
    elif float in allowed and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    elif str in allowed and isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    shown = " or ".join(t.__name__ for t in allowed if t is not type(None))
    raise ConfigError(
        f"{name}={value!r} has the wrong type",
        path=name,
        expected=f"{shown}" + (" or null" if type(None) in allowed else ""),
        fix=f"see `python -m mmar_hydra --help` for {name}",
    )


def parse_settings(cfg: Mapping[str, Any]) -> Settings:
    """The typed :class:`Settings` of a composed config (other keys are ignored).

    Raises:
        ConfigError: a key has a value of the wrong type (e.g. ``allow_code=maybe``).
    """
    hints = typing.get_type_hints(Settings)
    choices = {f.name: f.metadata.get("choices", ()) for f in dataclasses.fields(Settings)}
    values = {}
    for name in SETTINGS_KEYS:
        if name in cfg:
            value = cfg[name]
            if hasattr(value, "_content"):  # an OmegaConf node: plain data first
                from omegaconf import OmegaConf

                value = OmegaConf.to_container(value, resolve=True)
            values[name] = _convert(name, value, hints[name], choices[name])
    return Settings(**values)
