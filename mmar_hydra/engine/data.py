"""The LightningDataModule: the MMAR's already-built train and validate dataloaders.

The builder made the datasets (Dataset, CacheDataset, PersistentDataset, SmartCacheDataset)
and MONAI DataLoaders (``list_data_collate`` flattens multi-sample crops). Lightning swaps in
a DistributedSampler under DDP, so each rank sees its own shard.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

__all__ = ["MMARDataModule"]


class MMARDataModule(pl.LightningDataModule):
    def __init__(self, train_loader: Any, val_loader: Any | None = None) -> None:
        super().__init__()
        self._train = train_loader
        self._val = val_loader

    def train_dataloader(self) -> Any:
        return self._train

    def val_dataloader(self) -> Any:
        return self._val if self._val is not None else []
