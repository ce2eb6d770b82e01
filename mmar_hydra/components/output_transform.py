"""A Clara 4.0 handler's ``output_transform`` code, run as a post transform.

Clara 4.0's ``SegmentationSaver`` took what to save from the engine output through an
``output_transform``, often code: ``lambda x: __import__('monai').transforms.AsDiscrete(
argmax=True)(x['pred_inverted'])``. The reader (``reader/compat.py``) turns the handler into
this transform followed by ``SaveImaged``: :class:`OutputTransformd` stores ``func(case)`` under
``key``, and ``SaveImaged`` writes that key. It is only ever built from a code string, so
only with ``allow_code=true`` (without it the check refuses the lambda, naming its JSON path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monai.data import MetaTensor
from monai.transforms import Transform

__all__ = ["OutputTransformd"]


class OutputTransformd(Transform):
    """``data[key] = func(data)`` for one case's dict (the post transforms' form).

    Args:
        func: the handler's output_transform, called with the case's dict.
        key: where its result goes (``SaveImaged`` reads it from there).
        like: the key whose metadata a result without any gets (the inverted prediction).
    """

    def __init__(self, func: Callable[[Mapping[str, Any]], Any], key: str, like: str = "") -> None:
        self.func = func
        self.key = key
        self.like = like

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(data)
        value = self.func(out)
        source = out.get(self.like)
        if isinstance(source, MetaTensor) and not isinstance(value, MetaTensor):
            import torch

            value = MetaTensor(torch.as_tensor(value), meta=dict(source.meta))
        out[self.key] = value
        return out
