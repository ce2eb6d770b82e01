"""Synthetic CT shaped like the deepgrow MMARs' raw data (MSD Task09 spleen), before preparation.

The four deepgrow MMARs train on what ``commands/prepare_dataset.sh`` makes of an MSD dataset
(``monai.apps.deepgrow.dataset.create_dataset``: 2D slices or 3D volumes resampled to 1 mm,
one item per label region). This module writes the raw side: ``imagesTr/case_<i>.nii.gz``
and ``labelsTr/case_<i>.nii.gz`` plus an MSD ``dataset.json`` with a ``training`` list, as
``config/dataset_5.json`` lists the spleen cases. Each case is a small seeded volume at a
spacing other than 1 mm (so the prepare step resamples), with one or two labelled blobs
(label values 1 and 2, so the 2D slices carry more than one region) and CT-like intensities
(the MMARs normalize with subtrahend 208, divisor 388).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["SHAPE", "SPACING", "make_deepgrow_raw"]

SHAPE = (24, 24, 10)  # voxels, as stored
SPACING = (1.25, 1.25, 2.0)  # mm: the prepare step resamples to 1 mm


def _case(rng: np.random.Generator, n_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, label uint8) of one case with ``n_regions`` ellipsoid blobs."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in SHAPE], indexing="ij"), -1)
    label = np.zeros(SHAPE, np.uint8)
    for region in range(1, n_regions + 1):
        centre = rng.uniform([6, 6, 3], [18, 18, 7])
        radii = rng.uniform([3, 3, 2], [5, 5, 3])
        inside = (((grid - centre) / radii) ** 2).sum(-1) <= 1.0
        label[inside & (label == 0)] = region
    image = rng.normal(-100.0, 40.0, SHAPE).astype(np.float32)
    image[label > 0] += 250.0
    return image, label


def make_deepgrow_raw(root: Path, cases: int = 4, seed: int = 0) -> dict[str, Path]:
    """Write ``cases`` raw CT cases and their ``dataset.json`` under ``root``.

    Args:
        root: the dataset folder (``imagesTr/``, ``labelsTr/``, ``dataset.json``).
        cases: how many cases (the first has one region, the others two).
        seed: the random seed of the volumes.

    Returns:
        ``{"dataset_root": root, "dataset_json": root / "dataset.json"}``.
    """
    rng = np.random.default_rng(seed)
    affine = np.diag([*SPACING, 1.0])
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for i in range(cases):
        image, label = _case(rng, 1 if i == 0 else 2)
        item = {"image": f"imagesTr/case_{i}.nii.gz", "label": f"labelsTr/case_{i}.nii.gz"}
        nib.save(nib.Nifti1Image(image, affine), root / item["image"])
        nib.save(nib.Nifti1Image(label, affine), root / item["label"])
        training.append(item)
    datalist = {
        "name": "SyntheticSpleen",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "spleen", "2": "other"},
        "numTraining": cases,
        "training": training,
    }
    (root / "dataset.json").write_text(json.dumps(datalist, indent=2))
    return {"dataset_root": root, "dataset_json": root / "dataset.json"}
