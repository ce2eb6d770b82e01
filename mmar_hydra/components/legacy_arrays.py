"""Numpy-era transforms get numpy arrays, as the MONAI they were written for gave them.

Up to MONAI 0.8 (every Clara 4.x release), ``LoadImaged`` returned numpy arrays and
dictionary transforms passed them along; custom transforms were written for that
(``label.astype(np.float32)``, ``np.concatenate([image, signal])``), and so were MONAI's
own deepgrow click transforms, which still call ``label.astype``. Today the data are
MetaTensors -- and plain tensors once a PersistentDataset serves a case from its cache.
:func:`legacy_arrays` wraps a transform from the MMAR's ``custom/`` code or from
``monai.apps.deepgrow.transforms`` so that it receives numpy arrays; what it returns as
numpy for a key that was a MetaTensor becomes a MetaTensor again with that key's metadata,
so the MONAI transforms after it still see the affine and file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Randomizable, Transform

from mmar_hydra.components.custom_compat import is_custom

__all__ = ["legacy_arrays", "LegacyArrays"]


def _to_numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


class LegacyArrays(Transform):
    """``transform`` called with numpy arrays instead of tensors (see the module doc).

    Args:
        transform: a transform from the MMAR's custom/ code.
    """

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def __repr__(self) -> str:
        return repr(self.transform)

    def __call__(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            out = self.transform(_to_numpy(data))
            meta = data.meta if isinstance(data, MetaTensor) else None
            return _restore(out, meta)
        metas = {k: v.meta for k, v in data.items() if isinstance(v, MetaTensor)}
        out = self.transform({k: _to_numpy(v) for k, v in data.items()})
        if isinstance(out, dict):
            for key, value in out.items():
                out[key] = _restore(_stacked(value), metas.get(key))
        return out


class LegacyRandomArrays(LegacyArrays, Randomizable):
    """A random custom transform: MONAI's seeding (``set_random_state``) still reaches it."""

    def set_random_state(self, seed: int | None = None, state: Any = None) -> Randomizable:
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data: Any) -> None:
        self.transform.randomize(data)


def _stacked(value: Any) -> Any:
    """A list of same-shaped numeric arrays as one array, as MONAI 0.4 read it.

    MONAI 0.4's transforms began with ``np.ascontiguousarray(img)``, so a batched custom
    transform could return a list of per-case arrays; today's ``ToTensord`` cannot read one.
    """
    if not isinstance(value, list) or not value:
        return value
    if not all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in value):
        return value
    if len({v.shape for v in value}) != 1:
        return value
    return np.stack(value)


def _restore(value: Any, meta: Mapping[str, Any] | None) -> Any:
    numeric = isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
    if meta is None or not numeric:
        return value
    return MetaTensor(torch.as_tensor(value), meta=dict(meta))


# library transforms written for numpy inputs (they call ndarray methods on the data)
NUMPY_ERA_MODULES = ("monai.apps.deepgrow.transforms",)


def legacy_arrays(transform: Any) -> Any:
    """``transform`` in :class:`LegacyArrays` if it is a numpy-era one (see above), else itself."""
    numpy_era = type(transform).__module__ in NUMPY_ERA_MODULES
    if not (numpy_era or is_custom(transform)):
        return transform
    if isinstance(transform, Randomizable):
        return LegacyRandomArrays(transform)
    return LegacyArrays(transform)
