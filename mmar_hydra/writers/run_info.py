"""``run_info.json``: how a run was made, so a result can be reproduced or explained later.

Every task that writes results records, beside them (``models/run_info.json`` for train,
finetune and export, ``eval/run_info.json`` for validate and infer), one section per task:
the package versions (those of the model record, :mod:`.model_record`), the CUDA / cuDNN
versions and device names, the MMAR and a hash of its ``config/`` folder, the datalist's
SHA-256, the command line, the Hydra overrides and the seed. A later task keeps the sections
of the others (an export does not erase how the model was trained).

Checkpoints written by mmar_hydra carry the versions too (``versions`` in the Clara dict, and
``metadata.json`` in every export), so a run that loads a model trained with another MONAI or
torch says so once: :func:`drift_warning`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.writers.atomic import atomic_write_text
from mmar_hydra.writers.model_record import datalist_record, package_versions

__all__ = [
    "RUN_INFO",
    "mmar_hash",
    "compute_environment",
    "run_record",
    "write_run_info",
    "read_run_info",
    "drift_warning",
    "say_drift",
]

RUN_INFO = "run_info.json"
# the packages whose change most often changes a model's results (MONAI bundles' complaint)
_DRIFT = (("monai", "MONAI"), ("torch", "torch"))


def mmar_hash(root: str | Path) -> str:
    """SHA-256 of the MMAR's ``config/`` folder: every file's relative path and bytes."""
    digest = hashlib.sha256()
    folder = Path(root) / "config"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def compute_environment() -> dict[str, Any]:
    """CUDA and cuDNN versions, the devices' names and the machine's CPU."""
    import torch

    cuda = torch.cuda.is_available()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cuda_available": cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "cpu": _cpu_name(),
        "platform": platform.platform(),
    }


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_record(
    *,
    task: str,
    command: list[str],
    overrides: list[str],
    seed: int | None,
    mmar_root: Path | None,
    config_file: str | None = None,
    datalist: str | Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One task's section of ``run_info.json``.

    Args:
        task: the task name (the section's key).
        command: the command line as typed.
        overrides: the Hydra job's overrides.
        seed: ``determinism.random_seed`` (None: unseeded).
        mmar_root: the MMAR as given (None for tasks without one).
        config_file: the config file the task ran, relative to the MMAR.
        datalist: the datalist file, hashed when it exists.
        extra: anything the task adds (e.g. the run folder).
    """
    record: dict[str, Any] = {
        "task": task,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(command),
        "overrides": list(overrides),
        "seed": seed,
        "versions": package_versions(),
        "environment": compute_environment(),
    }
    if mmar_root is not None:
        record["mmar"] = {
            "path": str(Path(mmar_root).resolve()),
            "config_file": config_file,
            "config_files": sorted(p.name for p in (Path(mmar_root) / "config").glob("*.json")),
            "config_hash": mmar_hash(mmar_root),
        }
    record["datalist"] = datalist_record(datalist)
    record.update(extra or {})
    return record


def read_run_info(folder: str | Path) -> dict[str, Any]:
    """The sections of ``folder/run_info.json`` ({} when there is none or it is unreadable)."""
    path = Path(folder) / RUN_INFO
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_run_info(folder: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as its task's section of ``folder/run_info.json`` (atomically)."""
    sections = read_run_info(folder)
    sections[str(record["task"])] = dict(record)
    path = Path(folder) / RUN_INFO
    atomic_write_text(path, json.dumps(sections, indent=2, default=str))
    return path


def drift_warning(recorded: Mapping[str, Any] | None, file: str | Path) -> str | None:
    """One line naming both versions when ``file`` was made with another MONAI or torch.

    Args:
        recorded: the versions stored with the model (its ``versions`` record), or None.
        file: the model file, for the message.
    """
    if not isinstance(recorded, Mapping):
        return None
    current = package_versions()
    changed = [
        (label, str(recorded[key]), current.get(key, "none"))
        for key, label in _DRIFT
        if recorded.get(key) and str(recorded[key]) != current.get(key)
    ]
    if not changed:
        return None
    then = ", ".join(f"{label} {old}" for label, old, _ in changed)
    now = ", ".join(f"{label} {new}" for label, _, new in changed)
    return (
        f"warning: {file} was trained with {then}; this run uses {now}. Results may differ "
        "(re-validate, or install the versions in the model's run_info.json)"
    )


def say_drift(recorded: Mapping[str, Any] | None, file: str | Path, say: Any = print) -> bool:
    """Print :func:`drift_warning` once when there is drift; True when it did."""
    text = drift_warning(recorded, file)
    if text:
        say(text)
    return text is not None
