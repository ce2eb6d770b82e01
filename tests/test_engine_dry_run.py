"""The one-batch dry run before training (engine/startup.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import Compose, MapTransform, RandSpatialCropd

from mmar_hydra.engine.startup import dry_run
from mmar_hydra.errors import DataError


class CountingLoad(MapTransform):
    """A deterministic 'load' that counts how often it runs."""

    calls = 0

    def __call__(self, data):
        CountingLoad.calls += 1
        return {"image": torch.ones(1, 16, 16, 16), "label": torch.zeros(1, 16, 16, 16)}


def _parts(dataset_cls, in_channels: int = 1):
    transforms = Compose(
        [CountingLoad(keys="image"), RandSpatialCropd(keys=["image", "label"], roi_size=(8, 8, 8))]
    )
    data = [{"image": f"case{i}.nii.gz"} for i in range(3)]
    kwargs = {"cache_rate": 1.0, "progress": False} if dataset_cls is CacheDataset else {}
    dataset = dataset_cls(data, transform=transforms, **kwargs)
    network = torch.nn.Conv3d(in_channels, 2, 3)
    network.in_channels = in_channels
    return SimpleNamespace(
        dataloader=DataLoader(dataset, batch_size=2), pre_transforms=transforms, network=network
    )


def test_a_filled_cache_gives_the_first_case_without_loading_it_again():
    parts = _parts(CacheDataset)
    CountingLoad.calls = 0
    dry_run(parts)
    assert CountingLoad.calls == 0  # the cached case, only the random crop ran


def test_an_uncached_dataset_computes_the_first_case_from_the_datalist():
    parts = _parts(Dataset)
    CountingLoad.calls = 0
    dry_run(parts)
    assert CountingLoad.calls == 1


def test_a_channel_mismatch_fails_before_training():
    parts = _parts(CacheDataset, in_channels=2)
    with pytest.raises(DataError, match="expects in_channels=2"):
        dry_run(parts)
