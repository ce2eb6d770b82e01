"""``cuimage`` (cuCIM's early-access predecessor) for Clara 4.0 early-access ``custom/`` code.

The early-access pathology MMAR's ``custom/image_reader.py`` opens slides with
``cuimage.CuImage(path)`` and reads them with ``img.read_region(location=(x, y),
size=(w, h), level=0)`` and ``img.shape`` ((H, W, C)). ``cuimage`` was never published on
PyPI, and cuCIM needs CUDA, so this module gives custom code the same API over MONAI's
``WSIReader`` with the first installed backend (tifffile, else OpenSlide). The custom/
compat import layer serves it as ``cuimage`` (``components.custom_compat.MODULE_ALIASES``),
only to custom/ code and only while that code imports.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mmar_hydra.pathology.backends import choose_backend

__all__ = ["CuImage", "BACKEND"]

BACKEND = choose_backend("cuCIM")[0]


class CuImage:
    """A slide, as ``cuimage.CuImage`` presented it.

    Args:
        path: the slide file.
    """

    def __init__(self, path: str) -> None:
        from monai.data import WSIReader

        self.path = str(path)
        self._reader = WSIReader(backend=BACKEND, level=0)
        self._wsi = self._reader.read(self.path)
        height, width = self._reader.get_size(self._wsi, 0)
        self.shape = (int(height), int(width), 3)
        # cuCIM reads from many threads (SmartCache's init workers); a tifffile handle does not
        self._lock = threading.Lock()

    def read_region(
        self,
        location: tuple[int, int] = (0, 0),
        size: tuple[int, int] | None = None,
        level: int = 0,
    ) -> np.ndarray:
        """The (H, W, 3) uint8 region whose top-left is ``location`` = (x, y) at level 0."""
        x, y = (int(v) for v in location)
        if size is None:
            height, width = self._reader.get_size(self._wsi, level)
        else:
            width, height = (int(v) for v in size)
        with self._lock:
            region, _ = self._reader.get_data(
                self._wsi, location=(y, x), size=(height, width), level=level
            )
        return np.moveaxis(np.asarray(region), 0, -1)

    def __array__(self, dtype: Any = None) -> np.ndarray:  # np.asarray(whole slide)
        return self.read_region().astype(dtype) if dtype else self.read_region()
