"""Out-of-fold predictions: each fold's best model on the cases it never trained on.

The training config's own ``validate`` section runs, with the fold's datalist and the fold's
``model.pt``, so the per-case values are the ones behind the fold's best key metric. Every
case's post-transformed prediction and label are kept as ``<case>.npz`` (label maps for
one-hot classes, masks otherwise) for ``task=postprocess``, and the per-case metrics are
written in MetricsSaver's format (``metrics.csv``, ``<label>_raw.csv``, ``<label>_summary.csv``).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmar_hydra.components.builder import build_eval
from mmar_hydra.engine.evaluation import evaluate
from mmar_hydra.engine.model_loading import network_for_checkpoint
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.writers.atomic import atomic_write_bytes, atomic_write_text
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
from mmar_hydra.writers.eval_csv import write_metric_files

__all__ = ["SaveOOF", "OOFCase", "write_oof", "load_case", "oof_cases", "encode", "decode"]


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "as_tensor"):  # a MetaTensor: its metadata is not stored
        value = value.as_tensor()
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _is_partition(array: np.ndarray) -> bool:
    """One-hot classes: 0/1 values, several channels, exactly one set per position."""
    return (
        array.shape[0] > 1
        and bool(np.isin(array, (0, 1)).all())
        and bool((array.sum(axis=0) == 1).all())
    )


def encode(pred: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(stored pred, stored label, categorical): one-hot partitions become (1, ...) label maps;
    anything else (multi-label masks, scores) is kept channel by channel."""
    if _is_partition(pred) and _is_partition(label) and pred.shape == label.shape:
        dtype = np.uint8 if pred.shape[0] < 256 else np.uint16
        return pred.argmax(0)[None].astype(dtype), label.argmax(0)[None].astype(dtype), True

    def masks(a: np.ndarray) -> np.ndarray:
        return a.astype(np.uint8) if bool(np.isin(a, (0, 1)).all()) else a.astype(np.float32)

    return masks(pred), masks(label), False


def decode(stored: np.ndarray, categorical: bool, num_classes: int) -> np.ndarray:
    """The channel-first (C, ...) array :func:`encode` stored."""
    if not categorical:
        return stored
    classes = np.arange(num_classes).reshape(-1, *([1] * (stored.ndim - 1)))
    return (classes == stored).astype(np.uint8)


def _case_name(filename: str, index: int) -> str:
    stem = Path(filename).name.split(".")[0] if filename else f"case_{index}"
    return f"{stem}_{hashlib.sha1(filename.encode()).hexdigest()[:8]}"


class SaveOOF:
    """A post transform that stores each case's ``pred`` and ``label`` and passes it on.

    Args:
        out_dir: where ``<case>.npz`` files go.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.count = 0
        self.num_classes = 0
        self.categorical: bool | None = None

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        pred, label = _array(item["pred"]), _array(item["label"])
        meta = getattr(item.get("image"), "meta", None) or {}
        filename = str(meta.get("filename_or_obj", ""))
        stored_pred, stored_label, categorical = encode(pred, label)
        self.categorical = categorical if self.categorical is None else self.categorical
        self.num_classes = int(pred.shape[0])
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            pred=stored_pred,
            label=stored_label,
            categorical=np.array(categorical),
            num_classes=np.array(self.num_classes),
            source=np.array(filename),
        )
        atomic_write_bytes(
            self.out_dir / f"{_case_name(filename, self.count)}.npz", buffer.getvalue()
        )
        self.count += 1
        return item


@dataclass(frozen=True)
class OOFCase:
    """One stored case: label maps (1, ...) when ``categorical``, else (C, ...) masks.

    Args:
        pred: the stored prediction.
        label: the stored label.
        categorical: one class per position (softmax / argmax outputs).
        num_classes: the channel count of the one-hot form.
        source: the case's image file.
    """

    pred: np.ndarray
    label: np.ndarray
    categorical: bool
    num_classes: int
    source: str


def load_case(path: Path) -> OOFCase:
    """One stored case, as :class:`SaveOOF` wrote it."""
    with np.load(path, allow_pickle=False) as data:
        return OOFCase(
            data["pred"],
            data["label"],
            bool(data["categorical"]),
            int(data["num_classes"]),
            str(data["source"]),
        )


def oof_cases(oof_dirs: list[Path]) -> list[Path]:
    """Every stored case of the given fold folders, in a stable order."""
    return [p for d in oof_dirs for p in sorted(d.glob("*.npz"))]


def write_oof(
    config: Mapping[str, Any],
    *,
    paths: RunPaths,
    model_path: Path,
    out_dir: Path,
    trainer_kwargs: Mapping[str, Any],
    allow_code: bool = False,
    fold: int = 0,
) -> dict[str, Any]:
    """Validate fold ``fold``'s model on its own validation cases and keep every prediction.

    Args:
        config: the resolved training config with the fold's datalist.
        paths: the task's folders (relative paths of the config resolve against its MMAR).
        model_path: the fold's ``models/model.pt``.
        out_dir: the fold's OOF folder.
        trainer_kwargs: Trainer arguments (one process: OOF runs after the sweep).
        allow_code: as the task's ``allow_code``.
        fold: the fold number, for the record.

    Returns:
        The record written to ``oof.json``: key metric, its value, case count, classes.
    """
    from monai.transforms import Compose

    parts = build_eval(config, paths=paths, allow_code=allow_code, section="validate")
    checkpoint = load_checkpoint(model_path)
    network = network_for_checkpoint(checkpoint, config, paths=paths, allow_code=allow_code)
    load_weights(network, state_dict_of(checkpoint), strict=True, file=str(model_path))
    for old in out_dir.glob("*.npz"):  # a re-run replaces an interrupted one's cases
        old.unlink()
    saver = SaveOOF(out_dir)
    post = parts.post_transforms
    parts.post_transforms = Compose([*(post.transforms if post is not None else ()), saver])
    result = evaluate(network.eval(), parts, trainer_kwargs)
    write_metric_files(out_dir, result["metrics"], result["details"])
    key = next((m for m in parts.metrics if m.is_key), parts.metrics[0] if parts.metrics else None)
    spec = dict((config.get("validate") or {}).get("key_metric") or {})
    record = {
        "fold": fold,
        "model": str(model_path),
        "cases": result["cases"],
        "key_metric": key.log_label if key else None,
        "key_metric_spec": {"name": spec.get("name"), "args": spec.get("args", {})},
        "value": result["metrics"].get(key.log_label) if key else None,
        "metrics": result["metrics"],
        "num_classes": saver.num_classes,
        "categorical": saver.categorical,
    }
    atomic_write_text(out_dir / "oof.json", json.dumps(record, indent=2, default=str))
    return record
