"""Names the MMARs' custom/ code imports that MONAI has removed, rebuilt on today's MONAI.

Only :mod:`components.custom_compat` points imports here, and only while it loads an MMAR's
``custom/`` code (``from monai.transforms import AsChannelFirstd`` becomes
``from mmar_hydra.components.custom_shims import AsChannelFirstd``). Each shim keeps the
old constructor signature and does what the old class did, with the class that replaced it.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import EnsureChannelFirst, EnsureChannelFirstd
from monai.transforms import SpatialCrop as _SpatialCrop
from monai.utils import InterpolateMode

__all__ = [
    "AddChannel",
    "AddChanneld",
    "AsChannelFirst",
    "AsChannelFirstd",
    "InterpolateModeSequence",
    "SpatialCrop",
    "legacy_numpy",
    "plot_2d_or_3d_image",
]

# monai.transforms.spatial.dictionary's type alias of MONAI <= 0.8
InterpolateModeSequence = Sequence[InterpolateMode | str] | InterpolateMode | str


class AddChannel(EnsureChannelFirst):
    """MONAI <= 1.2's ``AddChannel()``: a channel axis in front of channel-less data."""

    def __init__(self) -> None:
        super().__init__(channel_dim="no_channel")


class AddChanneld(EnsureChannelFirstd):
    """MONAI <= 1.2's ``AddChanneld(keys)``.

    Args:
        keys: the keys to give a channel axis.
        allow_missing_keys: don't fail on a missing key.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys=allow_missing_keys, channel_dim="no_channel")


class AsChannelFirst(EnsureChannelFirst):
    """MONAI <= 1.2's ``AsChannelFirst(channel_dim=-1)``: move that axis to the front.

    Args:
        channel_dim: the axis that holds the channels (default: the last).
    """

    def __init__(self, channel_dim: int = -1) -> None:
        super().__init__(channel_dim=channel_dim)


class AsChannelFirstd(EnsureChannelFirstd):
    """MONAI <= 1.2's ``AsChannelFirstd(keys, channel_dim=-1)``.

    Args:
        keys: the keys to rearrange.
        channel_dim: the axis that holds the channels (default: the last).
        allow_missing_keys: don't fail on a missing key.
    """

    def __init__(
        self, keys: KeysCollection, channel_dim: int = -1, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys=allow_missing_keys, channel_dim=channel_dim)


class SpatialCrop(_SpatialCrop):
    """Today's ``SpatialCrop`` with MONAI <= 0.7's ``roi_start`` / ``roi_end`` attributes.

    They became ``slices`` (one ``slice`` per spatial axis, computed the same way).
    """

    @property
    def roi_start(self) -> np.ndarray:
        return np.asarray([s.start for s in self.slices])

    @property
    def roi_end(self) -> np.ndarray:
        return np.asarray([s.stop for s in self.slices])


def plot_2d_or_3d_image(
    data: Any,
    step: int,
    writer: Any,
    index: int = 0,
    max_channels: int = 1,
    max_frames: int = 64,
    tag: str = "output",
) -> None:
    """MONAI <= 0.6's ``plot_2d_or_3d_image``: ``max_frames`` is the 6th positional argument.

    MONAI 0.7 put ``frame_dim`` before it, so an old positional call passed the frame count
    as an axis; this one passes each argument by name (frames along the last axis, as then).
    """
    from monai.visualize import plot_2d_or_3d_image as plot

    plot(
        data,
        step,
        writer,
        index=index,
        max_channels=max_channels,
        frame_dim=-1,
        max_frames=max_frames,
        tag=tag,
    )


def _ragged_as_objects(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (np.array / np.asarray) making an object array of ragged nested lists."""

    @functools.wraps(fn)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(obj, *args, **kwargs)
        except ValueError as exc:
            if "inhomogeneous" not in str(exc) or args or kwargs.get("dtype") is not None:
                raise
            return fn(obj, dtype=object, **{k: v for k, v in kwargs.items() if k != "dtype"})

    return wrapper


class _LegacyRandom(types.ModuleType):
    """``np.random`` whose ``choice`` takes probabilities computed in float32, as numpy 1 did.

    numpy 1 promoted ``1.0 - np.float32(p)`` to float64, so ``p=[p, 1.0 - p]`` summed to 1.
    numpy 2 keeps float32 (NEP 50), and ``choice`` then finds the sum off by ~3e-8, beyond its
    float64 tolerance. Probabilities within float32 rounding of 1 are renormalized in float64.
    """

    def choice(self, a: Any, size: Any = None, replace: bool = True, p: Any = None) -> Any:
        if p is not None:
            weights = np.asarray(p, dtype=np.float64)
            if abs(weights.sum() - 1.0) < 1e-6:
                p = weights / weights.sum()
        return np.random.choice(a, size=size, replace=replace, p=p)

    def __getattr__(self, name: str) -> Any:
        return getattr(np.random, name)


class _LegacyNumpy(types.ModuleType):
    """numpy, with two rules of the numpy the Clara-era custom code was written for.

    - Ragged lists become object arrays: since numpy 1.24 ``np.asarray([[1, 2], [3]])``
      raises ``ValueError`` (it had warned since 1.20). Batched custom transforms relied on
      it (deepgrow's early-access ``AddRandomGuidanced`` keeps one click list per case, of
      unequal lengths).
    - ``np.random.choice`` accepts float32 probabilities (see :class:`_LegacyRandom`).

    Everything else is numpy itself.
    """

    array = staticmethod(_ragged_as_objects(np.array))
    asarray = staticmethod(_ragged_as_objects(np.asarray))
    random = _LegacyRandom("numpy.random", _LegacyRandom.__doc__)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


legacy_numpy = _LegacyNumpy("numpy", _LegacyNumpy.__doc__)
