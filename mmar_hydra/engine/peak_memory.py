"""The peak memory of a training run, for ``train_stats.json`` (and ``task=compare``).

Two numbers, in MiB: the largest resident set of this process so far (``getrusage``'s
``ru_maxrss``; on Linux in KiB, on macOS in bytes) and, on a CUDA device, the most memory
torch's allocator held at once. The resident peak is the whole process's: a run started from
an in-process caller that did other work first reports that work's peak too.
"""

from __future__ import annotations

import sys

__all__ = ["peak_memory_mb"]


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows: no getrusage
        return None
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def peak_memory_mb() -> dict[str, float]:
    """``{"peak_rss_mb": ..., "peak_cuda_mb": ...}``: the peaks that can be measured here."""
    import torch

    out: dict[str, float] = {}
    rss = _peak_rss_mb()
    if rss is not None:
        out["peak_rss_mb"] = rss
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out
