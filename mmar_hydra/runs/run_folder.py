"""MMAR-shaped run folders for sweep jobs.

Under ``-m``, every job trains into ``<sweep dir>/<job>/mmar``: a clone of the MMAR whose
config files hold the job's resolved settings, with its own ``models/`` and ``eval/``. No job
overwrites another, and each one can later be validated, exported or fine-tuned as an MMAR.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.mmar.layout import ENV_DEFAULTS

__all__ = ["make_job_mmar", "COPIED_FOLDERS"]

COPIED_FOLDERS = ("config", "commands", "custom", "docs", "resources")
_DATA_PATHS = ("DATA_ROOT", "DATASET_JSON")


def make_job_mmar(
    source: Path,
    dest: Path,
    resolved: Mapping[str, Any],
    *,
    config_file: Path,
    env_keys: set[str],
    overrides: list[str],
) -> Path:
    """Clone ``source`` into ``dest`` with the job's resolved config written into it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED_FOLDERS:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, dirs_exist_ok=True)
    env_names = set(env_keys) | set(ENV_DEFAULTS)
    config = {k: v for k, v in resolved.items() if k not in env_names and k != "mmar_source"}
    env = {k: resolved[k] for k in sorted(env_names) if k in resolved}
    for key in _DATA_PATHS:  # data stays where it is: make its paths absolute
        if isinstance(env.get(key), str):
            path = Path(env[key]).expanduser()
            env[key] = str(path if path.is_absolute() else (source / path).resolve())
    rel = (
        config_file.relative_to(source)
        if config_file.is_relative_to(source)
        else Path("config") / config_file.name
    )
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    (dest / rel).write_text(json.dumps(config, indent=2))
    (dest / "config" / "environment.json").write_text(json.dumps(env, indent=2))
    record = {
        "parent": str(source),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "overrides": overrides,
    }
    (dest / "clone.json").write_text(json.dumps(record, indent=2))
    return dest
