"""The network's inputs and outputs, derived from the MMAR (the bundle's network_data_format).

Channels come from the network's arguments, the spatial shape from the validation inferer's
``roi_size`` (else the training crop), the value range from the last intensity transform of
the image, and ``channel_def`` from the datalist's ``modality`` and ``labels`` (MSD format).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.reader.jsonfile import load_json

__all__ = [
    "default_input_shape",
    "network_data_format",
    "training_datalist",
    "datalist_meta",
    "MR_NAMES",
]

MR_NAMES = ("MR", "MRI", "FLAIR", "T1", "T1W", "T1GD", "T1C", "T2", "T2W", "ADC", "DWI", "PD")


def _model_args(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((config.get("train") or {}).get("model") or {}).get("args") or {}


def _roi(config: Mapping[str, Any]) -> list[int] | None:
    train = config.get("train") or {}
    roi = ((config.get("validate") or {}).get("inferer") or {}).get("args", {}).get("roi_size")
    if not roi:
        for t in train.get("pre_transforms") or []:
            if isinstance(t, Mapping) and "spatial_size" in (t.get("args") or {}):
                roi = t["args"]["spatial_size"]
    if not roi or not isinstance(roi, list) or any(int(s) <= 0 for s in roi):
        return None
    return [int(s) for s in roi]


def default_input_shape(config: Mapping[str, Any]) -> list[int]:
    """[1, in_channels, *roi]: the validate inferer's roi_size, else the training crop size."""
    args = _model_args(config)
    in_channels = int(args.get("in_channels", 1))
    dims = int(args.get("spatial_dims", args.get("dimensions", 3)))
    return [1, in_channels, *(_roi(config) or [64] * dims)]


def _value_range(config: Mapping[str, Any]) -> list[float]:
    """[min, max] the last intensity transform of the image leaves; [] when not known."""
    found: list[float] = []
    for t in (config.get("train") or {}).get("pre_transforms") or []:
        if not isinstance(t, Mapping):
            continue
        name, args = str(t.get("name", "")).rsplit(".", 1)[-1], t.get("args") or {}
        keys = args.get("keys", [])
        if "image" not in ([keys] if isinstance(keys, str) else list(keys)):
            continue
        if name in ("ScaleIntensityRanged", "ScaleIntensityRangePercentilesd"):
            clip = bool(args.get("clip", False))
            found = [float(args["b_min"]), float(args["b_max"])] if clip else []
        elif name == "ScaleIntensityd":
            lo, hi = args.get("minv", 0.0), args.get("maxv", 1.0)
            found = [float(lo), float(hi)] if lo is not None and hi is not None else []
        elif name in ("NormalizeIntensityd", "ShiftIntensityd", "ScaleIntensityFixedMeand"):
            found = []
    return found


def training_datalist(config: Mapping[str, Any], root: Path) -> Path | None:
    """The datalist file of the training dataset (resolved against the MMAR root)."""
    dataset = (config.get("train") or {}).get("dataset") or config.get("dataset") or {}
    value = dataset.get("data_list_file_path") if isinstance(dataset, Mapping) else None
    return (Path(root) / str(value)).resolve() if value else None


def datalist_meta(path: Path | None) -> dict[str, Any]:
    """The datalist's ``name``, ``description``, ``modality`` and ``labels`` (MSD keys)."""

    if path is None or not path.is_file():
        return {}
    data = load_json(path, what="datalist")
    keys = ("name", "description", "modality", "labels", "reference", "licence", "license")
    return {k: data[k] for k in keys if k in data}


def _modality(channels: Mapping[str, str]) -> str:
    names = {str(v).upper() for v in channels.values()}
    if not names:
        return "n/a"
    if names <= set(MR_NAMES):
        return "MR"
    return next(iter(names)) if len(names) == 1 else "n/a"


def network_data_format(
    config: Mapping[str, Any], meta: Mapping[str, Any], *, processing_task: str = "segmentation"
) -> dict[str, Any]:
    """``{"inputs": {"image": ...}, "outputs": {"pred": ...}}`` per the bundle specification.

    Args:
        config: the resolved training config (plain values).
        meta: :func:`datalist_meta` of its datalist.
        processing_task: Clara's PROCESSING_TASK (``segmentation`` or ``classification``).
    """
    args = _model_args(config)
    shape = default_input_shape(config)
    spatial = shape[2:]
    inferer = ((config.get("validate") or {}).get("inferer") or {}).get("name", "")
    patch = "SlidingWindow" in str(inferer) or _roi(config) is not None
    modalities = {str(k): str(v) for k, v in (meta.get("modality") or {}).items()}
    in_def = modalities or {str(i): "image" for i in range(shape[1])}
    modality = _modality(modalities)
    out_channels = int(args.get("out_channels", args.get("num_classes", 1)))
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    out_def = labels or {str(i): f"class {i}" for i in range(out_channels)}
    image = {
        "type": "image",
        "format": "hounsfield" if modality == "CT" else "magnitude",
        "modality": modality,
        "num_channels": shape[1],
        "spatial_shape": spatial,
        "dtype": "float32",
        "value_range": _value_range(config),
        "is_patch_data": patch,
        "channel_def": in_def,
    }
    if str(processing_task).lower() == "classification":
        pred = {
            "type": "probabilities",
            "format": "classes",
            "modality": modality,
            "num_channels": out_channels,
            "spatial_shape": [],
            "dtype": "float32",
            "value_range": [],
            "is_patch_data": False,
            "channel_def": out_def,
        }
    else:
        pred = {
            "type": "image",
            "format": "labels" if out_channels > 1 else "segmentation",
            "modality": modality,
            "num_channels": out_channels,
            "spatial_shape": spatial,
            "dtype": "float32",
            "value_range": [],
            "is_patch_data": patch,
            "channel_def": out_def,
        }
    return {"inputs": {"image": image}, "outputs": {"pred": pred}}
