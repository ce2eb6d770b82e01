"""``fast=true``: a label-driven random crop's voxel indices computed once, into the cache.

``RandCropByPosNegLabeld`` and ``RandCropByLabelClassesd`` draw crop centres from the label's
foreground/background (or per-class) voxel indices. Without ``fg_indices_key`` /
``bg_indices_key`` (``indices_key``) they scan the whole label on every call, every epoch.
MONAI's fast-training guide computes them once instead: ``FgBgToIndicesd``
(``ClassesToIndicesd``) at the end of the deterministic, cached part of the pipeline, the keys
wired into the crop. The indices are the same (the same function, image and threshold), and so
are the random draws, so the crops do not change.

Only a crop that is the pipeline's first random transform qualifies: a random transform before
it would change the label or image the cached indices were computed from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cache_crop_indices", "inserted", "spec_name", "INDEX_CROPS"]

# crop transform -> the transform that computes its indices
INDEX_CROPS = {
    "RandCropByPosNegLabeld": "FgBgToIndicesd",
    "RandCropByLabelClassesd": "ClassesToIndicesd",
}
_FG, _BG, _CLS = "_fg_indices", "_bg_indices", "_cls_indices"


def inserted(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A MONAI transform spec added by ``fast=true``. Named by ``path``, not ``name``: a
    validate ``{"ref": "EnsureTyped"}`` looks train's transforms up by ``name`` and must keep
    finding the MMAR's own, not one inserted before it."""
    return {"path": f"monai.transforms.{name}", "args": args}


def spec_name(spec: Any) -> str:
    """A component spec's short class name (``name``, else ``path``), "" for anything else."""
    if not isinstance(spec, Mapping):
        return ""
    return str(spec.get("name") or spec.get("path") or "").rsplit(".", 1)[-1]


def _has_indices(args: Mapping[str, Any]) -> bool:
    return bool(
        args.get("indices_key") or (args.get("fg_indices_key") and args.get("bg_indices_key"))
    )


def _index_transform(
    crop: str, args: dict[str, Any], label: str
) -> tuple[dict[str, Any], list[str]]:
    """The transform computing ``crop``'s indices, and those of its outputs that come out as
    MetaTensors; ``args`` (the crop's) gets the keys wired in."""
    shared: dict[str, Any] = {"keys": label, "image_threshold": args.get("image_threshold", 0.0)}
    if args.get("image_key") is not None:
        shared["image_key"] = args["image_key"]
    if crop == "RandCropByPosNegLabeld":
        shared.update(fg_postfix=_FG, bg_postfix=_BG)
        args.update(fg_indices_key=label + _FG, bg_indices_key=label + _BG)
        return inserted(INDEX_CROPS[crop], shared), [label + _FG, label + _BG]
    shared["indices_postfix"] = _CLS
    for key in ("num_classes", "max_samples_per_class"):
        if args.get(key) is not None:
            shared[key] = args[key]
    args["indices_key"] = label + _CLS
    return inserted(INDEX_CROPS[crop], shared), []  # a list of plain tensors already


def cache_crop_indices(transforms: list[Any], first: int) -> list[str]:
    """Insert the index transform before ``transforms[first]`` (the first random one) when that
    is a label-driven crop without precomputed indices; returns what was done, as notes.

    Args:
        transforms: the training ``pre_transforms`` (changed in place).
        first: the index of the first random transform.
    """
    notes: list[str] = []
    for i, spec in enumerate(transforms[first:], start=first):
        crop = spec_name(spec)
        args = spec.get("args") if isinstance(spec, Mapping) else None
        if crop not in INDEX_CROPS or not isinstance(args, dict) or _has_indices(args):
            continue
        if i != first:
            notes.append(
                f"train.pre_transforms: {crop} keeps computing its label indices every step: "
                f"{spec_name(transforms[first])} (random) comes before it"
            )
            continue
        label = args.get("label_key")
        if not isinstance(label, str):
            continue
        index, meta_keys = _index_transform(crop, args, label)
        # the indices as plain tensors: no metadata to deep-copy out of the cache each step
        plain = [inserted("EnsureTyped", {"keys": meta_keys, "track_meta": False})]
        transforms[first:first] = [index, *(plain if meta_keys else [])]
        wired = ", ".join(
            k for k in ("fg_indices_key", "bg_indices_key", "indices_key") if k in args
        )
        notes.append(
            f"train.pre_transforms[{first}]: {INDEX_CROPS[crop]}({label}) cached before {crop} "
            f"({wired} wired in): the crop no longer scans the label every step"
        )
    return notes
