"""One trial as an MMAR folder: ``<mmar>/automl/<run_id>/trial_<i>/``.

The folder is the parent MMAR's config/, commands/, custom/, docs/ and resources/ (as a sweep
job's run folder, :mod:`mmar_hydra.runs.run_folder`), with

- the search config replaced by the trial's plain config (one alternative per list, the
  sampled values written in, no ``search`` / ``apply``), the other search configs and the
  AutoML controller config left out;
- the user's MMAR overrides written into its JSON as ``task=clone`` writes them
  (:func:`mmar_hydra.runs.clone.apply_override`), and the data paths made absolute, so the
  trial trains, validates and exports on its own: ``task=train mmar=trial_0 config_file=...``;
- ``config/config_validation.json`` for ``task=validate`` (:mod:`.validation_config`);
- ``clone.json`` (parent, time, overrides) and ``trial.json`` (the sample, later its result).

It is written in a hidden sibling and renamed: a trial folder is whole or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.automl.validation_config import VALIDATION_FILE, validation_config
from mmar_hydra.mmar.layout import ENV_DEFAULTS
from mmar_hydra.runs.clone import apply_override, parse_value
from mmar_hydra.runs.run_folder import COPIED_FOLDERS

__all__ = ["write_trial_mmar", "TRIAL_RECORD"]

TRIAL_RECORD = "trial.json"
_DATA_PATHS = ("DATA_ROOT", "DATASET_JSON")
_OUTPUT_PATHS = ("MMAR_CKPT_DIR", "MMAR_EVAL_OUTPUT_PATH", "MMAR_CKPT", "MMAR_TORCHSCRIPT")


def _is_search_file(data: Any) -> bool:
    text = json.dumps(data)
    return '"search":' in text or ("controller" in data and "executor" in data)


def write_trial_mmar(
    source: Path,
    dest: Path,
    *,
    config_rel: Path,
    trial_config: Mapping[str, Any],
    overrides: Sequence[str],
    record: Mapping[str, Any],
    env: Mapping[str, Any] | None = None,
) -> Path:
    """Write the trial MMAR ``dest`` and return it.

    Args:
        source: the searched MMAR's root.
        dest: the trial folder (must not exist).
        config_rel: the search config, relative to ``source`` (the trial's config keeps it).
        trial_config: the trial's plain training config (:func:`~.apply.apply_sample`).
        overrides: the user's MMAR overrides (``epochs=1``, ``DATA_ROOT=...``).
        record: what ``trial.json`` starts with (trial number, sample).
        env: the environment file the search read (None: the copied environment.json).
    """
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in COPIED_FOLDERS:
        if (source / name).is_dir():
            shutil.copytree(source / name, tmp / name, dirs_exist_ok=True)
    (tmp / "config").mkdir(exist_ok=True)
    files: dict[Path, Any] = {}
    for path in sorted((tmp / "config").glob("*.json")):
        data = json.loads(path.read_text())
        if _is_search_file(data):
            path.unlink()  # the other search configs and config_automl.json
        else:
            files[path] = data
    env_path = tmp / "config" / "environment.json"
    files[env_path] = dict(env) if env is not None else files.get(env_path, {})
    trial_path = tmp / config_rel
    trial_path.parent.mkdir(parents=True, exist_ok=True)
    files[trial_path] = dict(trial_config)
    for text in overrides:
        key, _, value = text.partition("=")
        apply_override(files, env_path, key.lstrip("+"), parse_value(value))
    for key in _DATA_PATHS:  # the data stays where it is
        for data in (files[env_path], files[trial_path]):
            value = data.get(key)
            if isinstance(value, str) and "{" not in value:
                path = Path(value).expanduser()
                data[key] = str(path if path.is_absolute() else (source / path).resolve())
    for key in _OUTPUT_PATHS:  # a trial writes into its own folder, never a shared one
        for data in (files[env_path], files[trial_path]):
            if isinstance(data.get(key), str) and Path(data[key]).expanduser().is_absolute():
                data[key] = ENV_DEFAULTS[key]
    files[tmp / "config" / VALIDATION_FILE] = validation_config(files[trial_path])
    for path, data in files.items():
        path.write_text(json.dumps(data, indent=2) + "\n")
    clone = {
        "parent": str(source),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "overrides": list(overrides),
    }
    (tmp / "clone.json").write_text(json.dumps(clone, indent=2) + "\n")
    (tmp / TRIAL_RECORD).write_text(json.dumps(dict(record), indent=2, default=str) + "\n")
    os.replace(tmp, dest)
    return dest
