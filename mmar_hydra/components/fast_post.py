"""``fast=true``: the post transforms' argmax, computed the fast way with the same result.

``AsDiscrete(d)(argmax=True)`` is in nearly every segmentation MMAR's post transforms, run on
every training step (for the train metric) and every validation case. MONAI computes it with
``torch.argmax(x, dim=0)``, which on a CPU reduces over the small channel axis on a slow path:
14 ms for a (2, 48, 48, 32) prediction, against 0.25 ms for ``torch.max(x, 0).indices``
(torch 2.13 and 2.14, this 2-core Xeon), four times per demo step. Both return the index of
the first maximum, NaN counting as the maximum, so the values are the same. ``fast=true``
builds the classes below in place of MONAI's; without it the MMAR's post transforms are
MONAI's own classes, as named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.data import MetaTensor, get_track_meta
from monai.transforms import AsDiscrete as _AsDiscrete
from monai.transforms import AsDiscreted as _AsDiscreted
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["AsDiscrete", "AsDiscreted", "fast_argmax"]

_HERE = __name__  # the module fast=true points the post transforms at


class AsDiscrete(_AsDiscrete):
    """MONAI's ``AsDiscrete`` whose argmax is ``torch.max(...).indices`` (same values)."""

    def __call__(
        self,
        img: Any,
        argmax: bool | None = None,
        to_onehot: int | None = None,
        threshold: float | None = None,
        rounding: str | None = None,
    ) -> Any:
        if self.argmax if argmax is None else argmax:
            tensor = convert_to_tensor(img, track_meta=get_track_meta())
            plain = tensor.as_tensor() if isinstance(tensor, MetaTensor) else tensor
            dim, keepdim = self.kwargs.get("dim", 0), self.kwargs.get("keepdim", True)
            indices = torch.max(plain, dim=dim, keepdim=keepdim).indices
            img = convert_to_dst_type(indices, tensor, dtype=torch.float)[0]
        return super().__call__(img, False, to_onehot, threshold, rounding)


class AsDiscreted(_AsDiscreted):
    """MONAI's ``AsDiscreted`` on :class:`AsDiscrete` (same arguments, same values)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        converter = AsDiscrete()
        converter.kwargs = self.converter.kwargs
        self.converter = converter


def _argmax(spec: Mapping[str, Any]) -> bool:
    args = spec.get("args") or {}
    flags = args.get("argmax", False)
    return any(flags) if isinstance(flags, list | tuple) else bool(flags)


def fast_argmax(section: Mapping[str, Any], name: str) -> list[str]:
    """Point ``section``'s ``AsDiscrete(d)`` post transforms with argmax at this module.

    The ``name`` stays, so a validate ``{"ref": "AsDiscreted"}`` still finds the train one
    (and gets the fast class with its copy). Returns the notes.
    """
    notes = []
    transforms = section.get("post_transforms")
    for i, spec in enumerate(transforms if isinstance(transforms, list) else []):
        if not isinstance(spec, dict) or spec.get("path") or not _argmax(spec):
            continue
        short = str(spec.get("name", "")).rsplit(".", 1)[-1]
        if short in ("AsDiscrete", "AsDiscreted"):
            spec["path"] = f"{_HERE}.{short}"
            notes.append(
                f"{name}.post_transforms[{i}]: {short}(argmax) -> {_HERE}.{short} "
                "(torch.max(...).indices: the same values, ~50x faster than torch.argmax "
                "over the channel axis on a CPU)"
            )
    return notes
