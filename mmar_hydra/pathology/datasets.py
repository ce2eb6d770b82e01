"""MONAI 0.5's whole-slide datasets, as Clara Train 4.0 ran them, on MONAI's ``WSIReader``.

- :class:`PatchWSIDataset`: an item ``{"image": slide, "location": [x, y], "label": [n]}``
  is the ``region_size`` region centred at ``location`` -- (x, y) = (column, row) in the
  level-0 frame, as cuCIM's ``read_region`` took it -- cut into a ``grid_shape`` grid, each
  cell centre-cropped to ``patch_size``: one ``{"image": [3, p, p] uint8, "label": [1, 1, 1]}``
  per cell, with the labels in MONAI 0.5's cell order (column by column). Today's
  ``monai.data.PatchWSIDataset`` reads one patch per item at a (row, column) location and
  ``GridSplit`` cuts cells at other offsets, so a translation to it would change the data.
- :class:`SmartCachePatchWSIDataset`: the same patches through MONAI's ``SmartCacheDataset``.
- :class:`MaskedInferenceWSIDataset`: items ``{"image": slide, "mask": foreground.npy}``; one
  patch per foreground pixel of the mask, carrying the metadata today's
  ``monai.handlers.ProbMapProducer`` reads (``name``, ``mask_location``, ``image_data``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.data import Dataset, SmartCacheDataset, WSIReader
from monai.data import PatchWSIDataset as _MonaiPatchWSIDataset
from monai.transforms import apply_transform
from monai.utils import ensure_tuple_rep

from mmar_hydra.errors import DataError
from mmar_hydra.pathology.backends import choose_backend

__all__ = ["PatchWSIDataset", "SmartCachePatchWSIDataset", "MaskedInferenceWSIDataset"]


def _cell_starts(length: int, cells: int, patch: int) -> np.ndarray:
    """Offsets of the centre crops of ``cells`` equal cells along an axis (MONAI 0.5)."""
    return np.round(length * (0.5 + np.arange(cells)) / cells - patch / 2).astype(int)


class PatchWSIDataset(Dataset):
    """Regions of whole-slide images cut into a grid of labelled patches (Clara 4.0).

    Args:
        data: ``[{"image": path, "location": [x, y], "label": [g0 * g1 ints]}, ...]``.
        region_size: the region read around each location (int or (height, width)).
        grid_shape: the grid the region is cut into (int or (rows, columns)).
        patch_size: each cell's centre crop (int or (height, width)).
        transform: applied to the item's list of patch dicts.
        image_reader_name: Clara's reader name (``cuCIM``, ``OpenSlide``) or a MONAI
            ``WSIReader`` backend; an uninstalled one falls back (see ``backends``).
    """

    def __init__(
        self,
        data: Sequence[dict[str, Any]],
        region_size: int | Sequence[int],
        grid_shape: int | Sequence[int],
        patch_size: int | Sequence[int],
        transform: Callable | None = None,
        image_reader_name: str = "cuCIM",
    ) -> None:
        super().__init__(list(data), transform)
        self.region_size = ensure_tuple_rep(region_size, 2)
        self.grid_shape = ensure_tuple_rep(grid_shape, 2)
        self.patch_size = ensure_tuple_rep(patch_size, 2)
        self.backend = choose_backend(image_reader_name)[0]
        self.reader = WSIReader(backend=self.backend, level=0)
        self._slides: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()  # SmartCache's worker threads share the open slides
        cells = self.grid_shape[0] * self.grid_shape[1]
        for i, item in enumerate(self.data):
            labels = item.get("label")
            if not isinstance(labels, list | tuple) or len(labels) != cells:
                raise DataError(
                    f"datalist item {i} has {len(labels) if isinstance(labels, list | tuple) else 'no'}"
                    f" labels; a {self.grid_shape[0]}x{self.grid_shape[1]} grid needs {cells}",
                    file=str(item.get("image")),
                    path=f"data[{i}].label",
                    expected=f"label: a list of {cells} ints, one per grid cell",
                    fix="check grid_shape against the datalist",
                )

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers: no lock, no open files
        return {**self.__dict__, "_lock": None, "_slides": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _slide(self, path: str) -> Any:
        if self.backend == "openslide":  # OpenSlide objects are not kept (their own cache grows)
            return self.reader.read(path)
        key = (os.getpid(), path)  # forked loader workers must not share a file offset
        if key not in self._slides:
            self._slides[key] = self.reader.read(path)
        return self._slides[key]

    def region(self, item: dict[str, Any]) -> np.ndarray:
        """The [3, H, W] uint8 region around ``item["location"]`` (x, y = column, row)."""
        x, y = (int(v) for v in item["location"][:2])
        left, top = x - self.region_size[0] // 2, y - self.region_size[1] // 2
        with self._lock:  # one file handle per slide: reads must not interleave
            slide = self._slide(str(item["image"]))
            region, _ = self.reader.get_data(
                slide, location=(top, left), size=self.region_size, level=0
            )
        region = np.asarray(region)
        if region.shape[1:] != tuple(self.region_size):
            height, width = self.reader.get_size(slide, 0)
            raise DataError(
                f"the {self.region_size} region at location [{x}, {y}] leaves the slide "
                f"({height} x {width})",
                file=str(item["image"]),
                path="location",
                expected="locations at least region_size / 2 from the slide's edges",
                fix="check the datalist's locations (x = column, y = row, level 0)",
            )
        return region

    def patches(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The item's patch dicts, before the transform."""
        region = self.region(item)
        rows = _cell_starts(region.shape[1], self.grid_shape[0], self.patch_size[0])
        cols = _cell_starts(region.shape[2], self.grid_shape[1], self.patch_size[1])
        p0, p1 = self.patch_size
        images = [region[:, r : r + p0, c : c + p1] for c in cols for r in rows]
        labels = np.asarray(item["label"], dtype=np.float32).reshape(-1, 1, 1, 1)
        return [
            {"image": np.ascontiguousarray(im), "label": lb}
            for im, lb in zip(images, labels, strict=True)
        ]

    def _transform(self, index: int) -> Any:
        patches = self.patches(self.data[index])
        return apply_transform(self.transform, patches) if self.transform else patches


class SmartCachePatchWSIDataset(SmartCacheDataset):
    """:class:`PatchWSIDataset` behind MONAI's SmartCache (Clara 4.0's arguments).

    Args:
        data, region_size, grid_shape, patch_size, image_reader_name: as for
            :class:`PatchWSIDataset`.
        transform, replace_rate, cache_num, cache_rate, num_init_workers,
            num_replace_workers, progress: MONAI's ``SmartCacheDataset`` arguments.
    """

    def __init__(
        self,
        data: Sequence[dict[str, Any]],
        region_size: int | Sequence[int],
        grid_shape: int | Sequence[int],
        patch_size: int | Sequence[int],
        transform: Callable | None = None,
        image_reader_name: str = "cuCIM",
        replace_rate: float = 0.5,
        cache_num: int = sys.maxsize,
        cache_rate: float = 1.0,
        num_init_workers: int | None = None,
        num_replace_workers: int | None = None,
        progress: bool = True,
    ) -> None:
        patches = PatchWSIDataset(
            data, region_size, grid_shape, patch_size, None, image_reader_name
        )
        super().__init__(
            data=patches,  # type: ignore[arg-type]
            transform=transform,
            replace_rate=replace_rate,
            cache_num=cache_num,
            cache_rate=cache_rate,
            num_init_workers=num_init_workers,
            num_replace_workers=num_replace_workers,
            progress=progress,
            shuffle=False,
        )

    @staticmethod
    def first_case(args: dict[str, Any]) -> Any:
        """The first item through the transform, without filling the cache (``task=check``)."""
        keys = ("region_size", "grid_shape", "patch_size", "transform", "image_reader_name")
        one = PatchWSIDataset(list(args["data"])[:1], **{k: args[k] for k in keys if k in args})
        return one[0]


class MaskedInferenceWSIDataset(_MonaiPatchWSIDataset):
    """One patch per foreground pixel of each slide's mask (Clara 4.0's inference dataset).

    Args:
        data: ``[{"image": slide, "mask": path to a .npy foreground mask}, ...]``; the mask
            is the slide at a level 2**k smaller, indexed [row, column].
        patch_size: the patch read around each foreground pixel's centre (level 0).
        transform: applied to each ``{"image": MetaTensor}`` patch.
        image_reader_name: as for :class:`PatchWSIDataset`.
    """

    def __init__(
        self,
        data: Sequence[dict[str, Any]],
        patch_size: int | Sequence[int],
        transform: Callable | None = None,
        image_reader_name: str = "cuCIM",
    ) -> None:
        from monai.utils.enums import ProbMapKeys

        super().__init__(
            data=[],
            patch_size=ensure_tuple_rep(patch_size, 2),
            patch_level=0,
            transform=transform,
            include_label=False,
            center_location=False,
            additional_meta_keys=(ProbMapKeys.LOCATION.value, ProbMapKeys.NAME.value),
            reader=choose_backend(image_reader_name)[0],
        )
        self.image_data = [dict(sample) for sample in data]
        for sample in self.image_data:
            self.data.extend(self._patches_of(sample))  # type: ignore[attr-defined]

    def _get_wsi_object(self, sample: dict[str, Any]) -> Any:
        """The open slide, opened again in each process (forked workers share offsets)."""
        if self.wsi_object_dict.get("_pid") != os.getpid():
            self.wsi_object_dict = {"_pid": os.getpid()}
        return super()._get_wsi_object(sample)

    def _get_data(self, sample: dict[str, Any]) -> tuple[Any, dict]:
        """The patch; where it leaves the slide, the outside is 0, as cuCIM read it."""
        top, left = (int(v) for v in sample["location"])
        size: Any = self.wsi_reader.get_size(self._get_wsi_object(sample), 0)
        height, width = size
        ph, pw = self.patch_size  # type: ignore[misc]
        inside = {**sample, "location": (max(top, 0), max(left, 0))}
        image, meta = super()._get_data(inside)
        if tuple(image.shape[1:]) == (ph, pw) and top >= 0 and left >= 0:
            return image, meta
        full = np.zeros((image.shape[0], ph, pw), dtype=np.asarray(image).dtype)
        r0, c0 = max(-top, 0), max(-left, 0)
        rows = min(ph - r0, height - max(top, 0))
        cols = min(pw - c0, width - max(left, 0))
        full[:, r0 : r0 + rows, c0 : c0 + cols] = np.asarray(image)[:, :rows, :cols]
        return full, meta

    def _patches_of(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        from monai.utils.enums import ProbMapKeys

        slide = self._get_wsi_object(sample)
        mask = np.load(str(sample["mask"]))
        height, width = self.wsi_reader.get_size(slide, 0)
        ratio = height / mask.shape[0]
        if ratio != width / mask.shape[1] or not float(np.log2(ratio)).is_integer():
            raise DataError(
                f"the mask {tuple(mask.shape)} is not the slide ({height} x {width}) at a "
                "power-of-2 level",
                file=str(sample["mask"]),
                expected="a foreground mask whose size is the slide's divided by 2**k",
                fix="make the mask with commands/prepare_inference_data.sh (tissue_mask.py)",
            )
        found = np.vstack(mask.nonzero()).T
        locations = np.round((found + 0.5) * ratio - np.array(self.patch_size) // 2).astype(int)
        sample[ProbMapKeys.NAME.value] = Path(str(sample["image"])).stem
        sample[ProbMapKeys.COUNT.value] = len(found)
        sample[ProbMapKeys.SIZE.value] = mask.shape
        return [
            {**sample, "location": loc, ProbMapKeys.LOCATION.value: at}
            for loc, at in zip(locations, found, strict=True)
        ]
