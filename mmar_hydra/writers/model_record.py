"""The data that defines a model, kept with every export of it.

A model file alone does not say how it was trained or what it expects. Every export
(TorchScript, ONNX, pt2, the MONAI bundle) carries the same record: the resolved training
config, the package versions, the network's input/output format and a SHA-256 of the
datalist it was trained on, as ``metadata.json`` and ``train_conf.json``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plain_data", "package_versions", "datalist_record", "record_files", "RECORD_FILES"]


def plain_data(obj: Any) -> Any:
    """Config data reduced to plain JSON values (what ``weights_only`` loading accepts)."""
    if isinstance(obj, Mapping):
        return {str(k): plain_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_data(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


RECORD_FILES = ("metadata.json", "train_conf.json")
_TRACKED = (
    "mmar-hydra",
    "monai",
    "torch",
    "numpy",
    "pytorch-lightning",
    "hydra-core",
    "omegaconf",
    "pytorch-ignite",
    "nibabel",
    "onnx",
    "onnxruntime",
    "onnxscript",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on (missing ones left out)."""
    out = {"python": platform.python_version()}
    for name in _TRACKED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def datalist_record(path: str | Path | None) -> dict[str, Any] | None:
    """File, SHA-256 and split sizes of an MSD datalist; None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    data = Path(path).read_bytes()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = {}
    splits = {k: len(v) for k, v in parsed.items() if isinstance(v, list)}
    return {
        "file": str(Path(path).resolve()),
        "sha256": hashlib.sha256(data).hexdigest(),
        "splits": splits,
    }


def record_files(metadata: Mapping[str, Any], train_conf: Mapping[str, Any]) -> dict[str, str]:
    """``{"metadata.json": ..., "train_conf.json": ...}``: the record as JSON texts."""
    return {
        "metadata.json": json.dumps(plain_data(metadata), indent=2),
        "train_conf.json": json.dumps(plain_data(train_conf), indent=2),
    }
