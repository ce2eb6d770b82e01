"""Which whole-slide reader backend reads the slides here.

Clara named its readers ``cuCIM`` (4.0), ``cuClaraImage`` / ``CuImage`` (early access) or
``OpenSlide``; MONAI's :class:`monai.data.WSIReader` takes ``cucim``, ``openslide`` or
``tifffile``. cuCIM needs a CUDA-era wheel that does not install everywhere (not on a
CPU-only machine like this one), so a backend that is not importable falls back to the
first one that is, in the order cuCIM, tifffile, OpenSlide, and the caller says so.
"""

from __future__ import annotations

import functools
import importlib.util

__all__ = ["CLARA_READERS", "BACKEND_MODULES", "available", "choose_backend"]

# Clara's reader names (lower case) -> MONAI's WSIReader backend
CLARA_READERS = {
    "cucim": "cucim",
    "cuclaraimage": "cucim",
    "cuimage": "cucim",
    "openslide": "openslide",
    "tifffile": "tifffile",
}
# backend -> the module it imports
BACKEND_MODULES = {"cucim": "cucim", "tifffile": "tifffile", "openslide": "openslide"}
_FALLBACK_ORDER = ("cucim", "tifffile", "openslide")


@functools.cache
def available(backend: str) -> bool:
    """The backend's module is installed (found without importing it)."""
    module = BACKEND_MODULES.get(backend)
    return module is not None and importlib.util.find_spec(module) is not None


def choose_backend(name: str) -> tuple[str, str | None]:
    """(MONAI backend to use, why it differs from ``name`` or None).

    Args:
        name: Clara's ``image_reader_name`` (any case) or a MONAI backend name.

    Returns:
        The backend; the reason is set when the asked-for one is not installed and another
        is used instead. An unknown name is returned as is (MONAI reports it).
    """
    wanted = CLARA_READERS.get(str(name).lower())
    if wanted is None:
        return str(name), None
    if available(wanted):
        return wanted, None
    for backend in _FALLBACK_ORDER:
        if available(backend):
            return backend, f"{name} is not installed here; {backend} reads the slides"
    return wanted, None  # none installed: MONAI's own error names what to install
