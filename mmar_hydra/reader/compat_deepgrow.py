"""Deepgrow's compat translation: a loader that gives the meta dicts its crops write into.

Deepgrow's spatial transforms (``SpatialCropForegroundd`` and the inference crops, MONAI's
and the early-access custom/ copies alike) record the crop box in ``data["<key>_meta_dict"]``.
Clara's ``LoadImaged`` always returned that dict; today's returns a MetaTensor only
(``image_only=True``). In a transform list that has such a transform, ``LoadImage(d)``
without an explicit ``image_only`` gets ``image_only: false`` back, with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmar_hydra.errors import json_path

__all__ = ["DEEPGROW_RULES", "READS_META_DICT", "loaders_with_meta_dict"]

# rows of the README compat table (joined into reader.compat.COMPAT_RULES); the custom/ import
# aliases themselves are in components/custom_compat.py
DEEPGROW_RULES: list[tuple[str, str, str]] = [
    ("`batched` on monai.apps.deepgrow's click transforms", "dropped", "Interaction runs per case"),
    (
        "`LoadImage(d)` before a transform reading `<key>_meta_dict` (deepgrow's crops)",
        "`image_only: false`",
        "Clara's loader also gave the meta dict",
    ),
    (
        "custom/: `from monai.transforms.compose import MapTransform / Randomizable / Transform`",
        "`from monai.transforms import ...`",
        "moved (MONAI 0.5)",
    ),
    (
        "custom/: `from monai.metrics import compute_meandice`",
        "`compute_dice as compute_meandice`",
        "renamed (MONAI 1.0)",
    ),
    (
        "custom/: `AddChannel(d)`, `AsChannelFirst(d)` from monai.transforms",
        "EnsureChannelFirst(d) with the old signature",
        "removed (MONAI 1.3)",
    ),
    (
        "custom/: `InterpolateModeSequence` from monai.transforms.spatial.dictionary",
        "the same type alias",
        "removed",
    ),
    ("custom/: `WSIReader` from monai.data.image_reader", "`monai.data.WSIReader`", "moved"),
    (
        "custom/: `exact_version` from monai.utils (ignite pinned to 0.4.2)",
        "`min_version as exact_version`",
        "the pin cannot be met",
    ),
]

# transforms that read or write data["<key>_meta_dict"] (monai.apps.deepgrow and its EA copy)
READS_META_DICT = frozenset(
    {
        "SpatialCropForegroundd",
        "SpatialCropGuidanced",
        "ResizeGuidanced",
        "RestoreLabeld",
        "RestoreCroppedLabeld",
        "Fetch2DSliced",
        "AddGuidanceFromPointsd",
    }
)
_LOADERS = ("LoadImaged",)


def _class_name(item: Any) -> str:
    """The class an item names, MONAI's or custom/ (``deepgrow.transforms.X`` -> ``X``)."""
    if not isinstance(item, dict):
        return ""
    target = item.get("path") or item.get("name") or item.get("ref") or ""
    return str(target).rsplit(".", 1)[-1]


def loaders_with_meta_dict(
    items: list[Any], path: str, note: Callable[[str, str, str, str], None]
) -> None:
    """Give the ``LoadImaged`` of ``items`` ``image_only: false`` if a later item needs it.

    Args:
        items: one transform list (as written, after the renames of :mod:`reader.compat`).
        path: the list's JSON path, for the notes.
        note: ``note(path, old, new, reason)``, the translator's.
    """
    names = [_class_name(item) for item in items]
    readers = [n for n in names if n in READS_META_DICT]
    if not readers:
        return
    for i, (item, name) in enumerate(zip(items, names, strict=True)):
        if name not in _LOADERS or "name" not in item:  # a {"ref": ...} copies train's item
            continue
        args = item.setdefault("args", {})
        if not isinstance(args, dict) or "image_only" in args:
            continue
        args["image_only"] = False
        note(
            json_path(path, i, "args", "image_only"),
            "image_only=True (today's default)",
            "image_only=False",
            f"{readers[0]} reads <key>_meta_dict, which Clara's LoadImaged always returned",
        )
