"""New MMARs from old ones: ``task=clone``'s copy with the overrides written into its JSON.

Copies config/, commands/, custom/, docs/ and resources/ (models/ only when asked), and writes
the overrides into the clone's JSON, so the clone describes itself: an environment key into
environment.json, a global or a JSON path (``train.model.args.channels``) into the config
files that have it. ``clone.json`` records the parent, the time and the overrides. Nothing
depends on clone.json: a ``cp -r`` copy is an MMAR too. AutoML's trial MMARs write the user's
overrides the same way (:mod:`mmar_hydra.automl.trial_mmar`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser

from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import MMARLayout
from mmar_hydra.runs.run_folder import COPIED_FOLDERS

__all__ = ["clone_mmar", "apply_override", "parse_value"]


def parse_value(value: str) -> Any:
    """An override's value as Hydra's grammar reads it (``[8,16]`` a list, ``1e-3`` a float)."""
    parsed = OverridesParser.create().parse_overrides([f"k={value}"])[0].value()
    return _plain(parsed)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _set_path(data: Any, parts: list[str], value: Any, create: bool) -> bool:
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
                return True
            node = node[int(part)]
        elif isinstance(node, dict) and (part in node or create):
            if last:
                node[part] = value
                return True
            node = node.setdefault(part, {})
        else:
            return False
    return False


def apply_override(files: dict[Path, dict], env_path: Path, key: str, value: Any) -> Path:
    """Write one override into the clone's JSON; returns the (first) file it went into.

    Like ``--set``, which reaches whichever config a run reads, the value goes into every config
    file that has the key (config_train.json and config_finetune.json both have ``epochs``).
    """
    parts = key.split(".")
    if len(parts) == 1 and env_path in files and key in files[env_path]:
        files[env_path][key] = value
        return env_path
    written = [
        path
        for path, data in files.items()
        if path != env_path and _set_path(data, parts, value, create=False)
    ]
    if written:
        return written[0]
    target = next((p for p in files if p.name == "config_train.json"), None) or next(
        (p for p in files if p != env_path), env_path
    )
    if not _set_path(files[target], parts, value, create=True):
        raise ConfigError(
            f"cannot write the override {key}={value!r} into the clone",
            file=target,
            path=key,
            expected="a key or a JSON path of the config",
        )
    return target


def clone_mmar(
    src: Path, dst: Path, overrides: list[str], *, models: bool = False, force: bool = False
) -> Path:
    src = MMARLayout(src).root
    dst = dst.expanduser().resolve()
    if dst.exists() and any(dst.iterdir()) and not force:
        raise ConfigError(
            "the clone's folder exists and is not empty",
            file=dst,
            path="out",
            expected="a new or empty folder",
            fix="pick another out= or add force=true",
        )
    if dst == src or dst.is_relative_to(src):
        raise ConfigError("the clone cannot go inside its parent MMAR", file=dst, path="out")
    dst.mkdir(parents=True, exist_ok=True)
    for name in (*COPIED_FOLDERS, *(("models",) if models else ())):
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name, dirs_exist_ok=True)
    env_path = dst / "config" / "environment.json"
    files = {p: json.loads(p.read_text()) for p in sorted((dst / "config").glob("*.json"))}
    for text in overrides:
        key, _, value = text.partition("=")
        apply_override(files, env_path, key.lstrip("+"), parse_value(value))
    for path, data in files.items():
        path.write_text(json.dumps(data, indent=2) + "\n")
    record = {
        "parent": str(src),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "overrides": overrides,
    }
    (dst / "clone.json").write_text(json.dumps(record, indent=2) + "\n")
    return dst
