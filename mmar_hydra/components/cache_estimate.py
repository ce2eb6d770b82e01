"""Will a CacheDataset fit in memory? Estimated from one case before filling the cache.

Without this, an MMAR written for a 512 GB DGX dies on a workstation with a bare exit code
-9 from the kernel's OOM killer, minutes into caching.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

from mmar_hydra.errors import DataError

__all__ = ["available_memory", "estimate_cache_bytes", "check_cache_fits"]


def available_memory() -> int | None:
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _nbytes(obj: Any) -> int:
    if hasattr(obj, "nbytes"):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_nbytes(v) for v in obj)
    return 0


def estimate_cache_bytes(
    data: Sequence[Any], transform: Any, cache_num: int, cache_rate: float
) -> int:
    """Bytes the cache will hold: one case through the deterministic transforms, times N."""
    from monai.transforms import Compose, RandomizableTrait

    n = min(int(cache_num), int(len(data) * float(cache_rate)))
    if n <= 0 or not data:
        return 0
    transforms = transform.transforms if isinstance(transform, Compose) else [transform]
    sample = copy.deepcopy(data[0])
    for t in transforms:
        if isinstance(t, RandomizableTrait):
            break  # CacheDataset caches up to the first random transform
        sample = t(sample)
    return _nbytes(sample) * n


def check_cache_fits(args: dict[str, Any], *, where: str, file: str | None) -> None:
    """Stop (or warn) before caching when the estimate does not fit in available memory."""
    data = args.get("data") or []
    transform = args.get("transform")
    try:
        cache_rate = float(args.get("cache_rate", 1.0))
        cache_num = int(args.get("cache_num", 10**12))
    except (TypeError, ValueError, OverflowError):
        return  # CacheDataset's constructor reports a value it cannot use
    if not data or transform is None or cache_rate <= 0:
        return
    try:
        need = estimate_cache_bytes(data, transform, cache_num, cache_rate)
    except Exception:  # noqa: BLE001 - the first case fails its transforms: the cache fill
        return  # meets it next and names the case (faults.bad_cases), so no estimate here
    have = available_memory()
    if have is None or need <= 0:
        return
    gib = 1024**3
    if need > 0.8 * have:
        raise DataError(
            f"the cache would need about {need / gib:.1f} GiB but only {have / gib:.1f} GiB "
            "of memory is available",
            file=file,
            path=where,
            expected="a cache that fits in memory",
            fix="lower cache_rate / cache_num (e.g. cache_rate=0.2), or use PersistentDataset",
        )
    if need > 0.5 * have:
        warnings.warn(
            f"{where}: the cache will use about {need / gib:.1f} GiB of {have / gib:.1f} GiB available",
            stacklevel=2,
        )
