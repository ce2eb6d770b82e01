"""The reader's single entry point: one MMAR config file in, one normalized config out.

MMAR files -> strict JSON -> dialect (4.0 rewritten into 4.1 wiring) -> compat translations
-> globals merged with environment.json -> ``{VAR}`` as ``${VAR}`` interpolations. The result
is plain data that Hydra composes; nothing here imports torch unless a compat rule needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import ENV_DEFAULTS, MMARLayout
from mmar_hydra.reader.compat import CompatNote, apply_compat
from mmar_hydra.reader.dialect import normalize_dialect
from mmar_hydra.reader.jsonfile import load_json
from mmar_hydra.reader.search_apply import plain_config
from mmar_hydra.reader.variables import (
    escape_literal,
    merge_variables,
    split_globals,
    to_interpolations,
)
from mmar_hydra.settings import SETTINGS_KEYS

__all__ = [
    "ReadResult",
    "read_mmar",
    "config_kind",
    "CompatNote",
    "split_globals",
    "RESERVED_KEYS",
]

# top-level keys an MMAR file may not set: mmar_hydra's own settings (allow_code, allow_write,
# mmar, task, ...: a config from a stranger must not switch its own trust on or say where
# runs go), Hydra's namespace (hydra.callbacks instantiates any _target_) and defaults list,
# and the config groups of conf/. The MMAR config is merged at the root of Hydra's config,
# so each of these would override what the command line and mmar_hydra decide.
RESERVED_KEYS: frozenset[str] = frozenset(
    {*SETTINGS_KEYS, "hydra", "defaults", "trainer", "logger", "debug", "experiment"}
    | {"hparams_search", "network", "loss", "optimizer", "lr_scheduler"}
)


@dataclass
class ReadResult:
    """The normalized config of one MMAR config file, and how it was obtained."""

    config: dict[str, Any]
    notes: list[CompatNote]
    dialect: str  # "4.1" | "4.0" | "4.0-ea" (reader.dialect.DIALECTS)
    kind: str  # "train" (train + validate sections) | "flat"
    config_file: Path
    env_file: Path | None
    layout: MMARLayout
    env: dict[str, Any] = field(default_factory=dict)  # environment.json as written


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


# files that sit in config/ but are not task configs: (how to recognise them, what they are)
_OTHER_FILES = (
    (
        lambda raw: "inference" in raw and ("writer" in raw or "type" in raw),
        "a Clara AIAA config (the AI-Assisted Annotation server's inference pipeline)",
        "serve the trained model with MONAI Label, or run task=infer with the MMAR's "
        "config/config_inference.json",
    ),
    (
        lambda raw: "servers" in raw or "client_trainer" in raw or "aggregator" in raw,
        "a federated-learning config for NVFlare (a client's or the server's)",
        "NVFlare runs it; train the client MMAR's own training config as an ordinary MMAR: "
        "task=train config_file=config/config_train.json",
    ),
    (
        lambda raw: "controller" in raw and "executor" in raw,
        "Clara AutoML's controller config (medl.apps.automl reads it)",
        "its trn_autoML_*.json training configs hold the search space",
    ),
)


def config_kind(raw: dict[str, Any], file: str) -> str:
    """``"train"`` (train/validate sections) or ``"flat"`` (validation / inference).

    Raises:
        ConfigError: an empty file, or one that is not a task config (AIAA, NVFlare, AutoML
            controller), with what it is and what to run instead.
    """
    if "train" in raw:
        return "train"
    if not raw:
        raise ConfigError(
            "the config file is empty ({})",
            file=file,
            expected="a training config (train/validate sections) or a validation / "
            "inference config (model, pre_transforms, dataset, ...)",
            fix="this file is broken as published; pick another with config_file=",
        )
    for recognise, what, fix in _OTHER_FILES:
        if recognise(raw):
            raise ConfigError(
                f"this is {what}, not a training, validation or inference config",
                file=file,
                expected="config_train*.json, config_validation*.json or config_inference.json",
                fix=fix,
            )
    return "flat"


def _refuse_reserved(keys: list[str], file: str) -> None:
    reserved = sorted(k for k in keys if k in RESERVED_KEYS)
    if reserved:
        key = reserved[0]
        raise ConfigError(
            f"'{key}' is one of mmar_hydra's own keys: an MMAR file cannot set it",
            file=file,
            path=key,
            expected="Clara globals and variables (epochs, learning_rate, DATA_ROOT, ...) and "
            "the config's sections; not " + ", ".join(f"'{k}'" for k in reserved),
            fix=f"remove '{key}' from the file; to set it, pass {key}=... on the command line",
        )


def read_mmar(
    root: str | Path,
    task: str = "train",
    config_file: str | None = None,
    env_file: str | None = None,
) -> ReadResult:
    """Read the config file ``task`` uses (or ``config_file``, Clara's ``-c``) and environment.json.

    Undefined variables are not an error here: the command line may still set them
    (``variables.undefined_variables`` lists them for the CLI).
    """
    layout = MMARLayout(root)
    cfg_path = layout.config_file_for(task, config_file)
    env_path = layout.env_file(env_file)
    raw = load_json(cfg_path)
    env = load_json(env_path, what="environment file") if env_path else {}
    rel = _relative(cfg_path, layout.root)
    kind = config_kind(raw, rel)
    raw, search_notes = plain_config(raw, rel)
    if task == "automl":  # the search itself: no note about a plain run
        search_notes = []

    normalized, dialect = normalize_dialect(raw, kind=kind, file=rel)
    normalized, notes = apply_compat(normalized, file=rel)
    notes = search_notes + notes
    globals_, sections = split_globals(normalized)
    _refuse_reserved(list(globals_), rel)
    if env_path is not None:
        _refuse_reserved(list(env), _relative(env_path, layout.root))
    config = to_interpolations({**merge_variables(globals_, env, ENV_DEFAULTS), **sections})
    config["mmar_source"] = {
        "root": escape_literal(str(layout.root)),
        "config_file": escape_literal(rel),
        "env_file": escape_literal(_relative(env_path, layout.root)) if env_path else None,
        "dialect": dialect,
        "kind": kind,
    }
    return ReadResult(
        config=config,
        notes=notes,
        dialect=dialect,
        kind=kind,
        config_file=cfg_path,
        env_file=env_path,
        layout=layout,
        env=env,
    )
