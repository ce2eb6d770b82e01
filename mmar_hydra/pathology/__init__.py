"""Clara 4.0's whole-slide components, rebuilt on current MONAI.

Clara Train 4.0 named MONAI 0.5's pathology classes: ``PatchWSIDataset(region_size,
grid_shape, patch_size, image_reader_name)``, ``SmartCachePatchWSIDataset``,
``MaskedInferenceWSIDataset`` and ``TorchVisionFullyConvModel``. MONAI has since replaced
them (``monai.data.PatchWSIDataset`` reads one patch per item, its locations are
(row, column), its backends are named differently). The compat layer
(:mod:`mmar_hydra.reader.compat_pathology`) points such configs at the classes here, which
keep Clara 4.0's behaviour exactly -- datalist items, patch grid, label order -- and read
through MONAI's ``WSIReader``.
"""

from importlib import import_module
from typing import Any

# Names -> the submodule that defines them. Loaded on first use (PEP 562), so that the
# reader can use ``pathology.backends`` without importing torch or MONAI.
_LAZY = {
    "PatchWSIDataset": "datasets",
    "SmartCachePatchWSIDataset": "datasets",
    "MaskedInferenceWSIDataset": "datasets",
    "ResNetFCModel": "networks",
    "ProbMapProducer": "prob_map",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"mmar_hydra.pathology.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mmar_hydra.pathology' has no attribute {name!r}")
