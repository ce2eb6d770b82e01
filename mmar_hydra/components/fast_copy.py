"""``fast=true``: the training cache handed to the random transforms without a deep copy.

A ``CacheDataset`` deep-copies each cached case before running the random transforms on it
(``copy_cache=True``), in case one of them writes into its input: a copy of every image and
label, metadata included, on every step. MONAI's fast-training guide turns that off
(``copy_cache=False``). That is only safe when no transform from the first random one on
writes into its input, so it is done only when each of them is on the list below: crops
(which return views), and transforms that return new tensors. Metadata tracking must be off
in the loop too: with it on, a transform's output carries its input's metadata forward.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.components.fast_indices import spec_name

__all__ = ["share_cache", "NO_INPUT_WRITES"]

# transforms that never write into their input (checked by tests/test_fast.py)
NO_INPUT_WRITES = frozenset(
    {"RandCropByPosNegLabeld", "RandCropByLabelClassesd", "RandSpatialCropd"}
    | {"RandSpatialCropSamplesd", "RandShiftIntensityd", "RandScaleIntensityd", "RandFlipd"}
    | {"RandRotate90d", "RandGaussianNoised", "EnsureTyped", "ToTensord", "ToDeviced"}
    | {"CastToTyped"}
)
_SHARING = frozenset({"CacheDataset", "SmartCacheDataset"})


def share_cache(train: dict[str, Any], first: int | None) -> list[str]:
    """``copy_cache=False`` on the training dataset when that is safe; returns the notes.

    Args:
        train: the ``train`` section (its dataset's args are changed in place).
        first: the index of the first random transform of ``train.pre_transforms``.
    """
    dataset = train.get("dataset")
    transforms = train.get("pre_transforms")
    if first is None or not isinstance(dataset, dict) or not isinstance(transforms, list):
        return []
    if spec_name(dataset) not in _SHARING:
        return []
    args = dataset.setdefault("args", {})
    if "copy_cache" in args:  # the MMAR chose
        return []
    unknown = sorted({spec_name(t) for t in transforms[first:]} - NO_INPUT_WRITES)
    if unknown:
        return [
            f"train.dataset: copy_cache stays on ({', '.join(unknown)} not known to leave "
            "its input alone)"
        ]
    args["copy_cache"] = False
    return [
        f"train.dataset: copy_cache=False (no deep copy of each cached case per step: "
        f"{', '.join(spec_name(t) for t in transforms[first:])} never write into their input)"
    ]
