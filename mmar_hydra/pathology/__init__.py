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

from mmar_hydra.pathology.datasets import (
    MaskedInferenceWSIDataset,
    PatchWSIDataset,
    SmartCachePatchWSIDataset,
)
from mmar_hydra.pathology.networks import ResNetFCModel
from mmar_hydra.pathology.prob_map import ProbMapProducer

__all__ = [
    "PatchWSIDataset",
    "SmartCachePatchWSIDataset",
    "MaskedInferenceWSIDataset",
    "ResNetFCModel",
    "ProbMapProducer",
]
