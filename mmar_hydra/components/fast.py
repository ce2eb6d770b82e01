"""``fast=true``: any MMAR's training data pipeline rewritten the way MONAI's fast-training
guide does it, each change said once.

Applied to the resolved training config before it is checked and built (the same walk then
checks the rewritten pipeline):

- a plain ``Dataset`` becomes a ``CacheDataset`` (``cache_rate: 1``) when the estimate of the
  cache fits in half the available memory, else a ``PersistentDataset``; either caches the
  deterministic transforms up to the first random one, and only the random ones run each
  epoch (a deterministic transform after the first random one is named: it is not cached);
- the DataLoader over a cached dataset loses its worker processes (the cache is in this
  process); on a GPU it becomes a ``ThreadDataLoader``, whose thread prepares the next batch
  while the GPU computes. On a CPU it stays a ``DataLoader``: there the thread competes with
  training for the same cores (on 2 cores it cost 1.8 s of 15 s to Dice 0.90 on the demo);
- a ``RandCropByPosNegLabeld`` / ``RandCropByLabelClassesd`` that is the first random transform
  gets its label's voxel indices from the cache (``FgBgToIndicesd`` / ``ClassesToIndicesd``
  inserted before it, :mod:`fast_indices`) instead of scanning the label every step;
- the training ``CacheDataset`` hands cached cases out without a deep copy
  (``copy_cache=False``) when no transform from the first random one on writes into its input
  and metadata tracking is off (:mod:`fast_copy`);
- the engine turns MONAI's metadata tracking off in the training loop
  (``set_track_meta(False)``) unless a transform run there needs it, and back on to validate;
- mixed precision: ``16-mixed`` on a GPU; on a CPU with bfloat16 instructions (AVX512-BF16 or
  AMX), ``bf16-mixed`` (measured on such a CPU: one demo training step took 69 ms of CPU time
  against 132 ms in fp32, the time to Dice 0.90 fell by 1.7 s of 17 s, the best Dice moved by
  +0.001; see benchmarks/README.md);
- the post transforms' ``AsDiscrete(d)`` with argmax are built as :mod:`fast_post`'s, which
  compute the same values with ``torch.max(...).indices`` (50x faster than ``torch.argmax``
  over the channel axis on a CPU);
- on a GPU also: ``ToDeviced`` before the first random transform (random transforms run on the
  GPU) and ``channels_last`` memory for the network.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.components.builder import estimate_dataset_cache
from mmar_hydra.components.cache_estimate import available_memory
from mmar_hydra.components.fast_copy import share_cache
from mmar_hydra.components.fast_indices import cache_crop_indices, inserted, spec_name
from mmar_hydra.components.fast_post import fast_argmax
from mmar_hydra.run_paths import RunPaths

__all__ = ["FastPlan", "apply_fast", "settle_cache", "cpu_has_bf16", "NEEDS_METADATA"]

# transforms that read or write image metadata (affine, original shape, file names)
NEEDS_METADATA = frozenset(
    {"Invertd", "Invert", "SaveImaged", "SaveImage", "Spacingd", "Spacing", "Orientationd"}
    | {"Orientation", "ResampleToMatchd", "ResampleToMatch", "SpatialResampled"}
)
_RANDOM_PREFIX = "Rand"
# why fast=true keeps the data in the training thread on a CPU (benchmarks/README.md)
_CPU_THREAD = "it would compete with training for the same cores"
# datasets that cache the deterministic transforms ("Dataset" becomes one of them)
_CACHING = frozenset({"Dataset", "CacheDataset", "PersistentDataset", "SmartCacheDataset"})
# what apply_fast may give a CacheDataset that a PersistentDataset does not take
_CACHE_ONLY_ARGS = ("cache_rate", "copy_cache", "cache_num", "num_workers", "runtime_cache")


@dataclass
class FastPlan:
    """What ``fast=true`` changed in the config, and what the engine does on top."""

    notes: list[str] = field(default_factory=list)
    track_meta_off: bool = False  # set_track_meta(False) in the training loop
    precision: str | None = None  # "16-mixed" (GPU) / "bf16-mixed" (CPU with bf16)
    channels_last: bool = False  # GPU: the network in channels_last memory
    cached: list[str] = field(default_factory=list)  # sections whose Dataset became a cache


def cpu_has_bf16() -> bool:
    """The CPU runs bfloat16 natively (AVX512-BF16 or AMX), so bf16 autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _first_random(transforms: list[Any]) -> int | None:
    for i, t in enumerate(transforms):
        if isinstance(t, Mapping) and spec_name(t).startswith(_RANDOM_PREFIX):
            return i
    return None


def _rewrite_section(name: str, section: dict[str, Any], plan: FastPlan, gpu: bool) -> None:
    dataset = section.get("dataset")
    if not isinstance(dataset, dict):
        return
    kind = spec_name(dataset)
    found = section.get("pre_transforms")
    transforms: list[Any] = found if name == "train" and isinstance(found, list) else []
    first = _first_random(transforms)
    if first is not None and kind in _CACHING:  # before the estimate: it counts the indices
        plan.notes += cache_crop_indices(transforms, first)
        first = _first_random(transforms)
    if kind == "Dataset":  # its size is settled after the check (settle_cache)
        dataset["name"] = kind = "CacheDataset"
        dataset.pop("path", None)
        dataset.setdefault("args", {})["cache_rate"] = 1.0
        plan.cached.append(name)
    loader = section.get("dataloader")
    if (
        kind in ("CacheDataset", "PersistentDataset")
        and isinstance(loader, dict)
        and spec_name(loader) == "DataLoader"
    ):
        args = loader.setdefault("args", {})
        workers = args.pop("num_workers", 0)
        args.pop("persistent_workers", None)
        args.pop("prefetch_factor", None)
        if gpu:
            loader["name"] = "ThreadDataLoader"
            plan.notes.append(
                f"{name}.dataloader: DataLoader(num_workers={workers}) -> "
                "ThreadDataLoader(num_workers=0) (the cache lives in this process)"
            )
        else:
            args["num_workers"] = 0
            plan.notes.append(
                f"{name}.dataloader: DataLoader(num_workers={workers}) -> DataLoader(num_workers=0) "
                f"(the cache lives in this process; no loader thread on a CPU: {_CPU_THREAD})"
            )
    if first is None:
        return
    late = [spec_name(t) for t in transforms[first:] if not spec_name(t).startswith(_RANDOM_PREFIX)]
    late = [n for n in late if n not in ("EnsureTyped", "ToTensord", "ToDeviced")]
    if late:
        plan.notes.append(
            f"train.pre_transforms: {', '.join(late)} come(s) after the first random transform "
            f"({spec_name(transforms[first])}) and run(s) every epoch, uncached"
        )
    if gpu:
        keys = _keys_of(transforms)
        device = inserted("ToDeviced", {"keys": keys, "device": "cuda"})
        transforms.insert(first, device)
        plan.notes.append(
            f"train.pre_transforms[{first}]: ToDeviced({keys}) before the random transforms"
        )


def _keys_of(transforms: list[Any]) -> list[str]:
    for t in transforms:
        keys = (t.get("args") or {}).get("keys") if isinstance(t, Mapping) else None
        if isinstance(keys, list) and len(keys) > 1:
            return [str(k) for k in keys]
    return ["image", "label"]


def _needs_metadata(config: Mapping[str, Any]) -> list[str]:
    train = config.get("train") or {}
    pre = train.get("pre_transforms") or []
    first = _first_random(pre)
    run_each_step = (pre[first:] if first is not None else []) + (
        train.get("post_transforms") or []
    )
    return [spec_name(t) for t in run_each_step if spec_name(t) in NEEDS_METADATA]


def apply_fast(config: Mapping[str, Any], *, gpu: bool) -> tuple[dict[str, Any], FastPlan]:
    """The fast version of a resolved training config, and what the engine adds.

    Nothing is built here: the rewritten config is then checked like any other, and only
    after the check passed does :func:`settle_cache` size the new caches.
    """
    out = copy.deepcopy(dict(config))
    plan = FastPlan()
    for name in ("train", "validate"):
        if isinstance(out.get(name), dict):
            _rewrite_section(name, out[name], plan, gpu)
            plan.notes += fast_argmax(out[name], name)
    needs = _needs_metadata(out)
    if needs:
        plan.notes.append(
            f"metadata stays on in the training loop: {', '.join(sorted(set(needs)))} need(s) it"
        )
    else:
        plan.track_meta_off = True
        plan.notes.append("training loop: set_track_meta(False) (no transform there needs it)")
        train = out.get("train")
        if isinstance(train, dict):
            plan.notes += share_cache(train, _first_random(train.get("pre_transforms") or []))
    if gpu:
        plan.precision, plan.channels_last = "16-mixed", True
        plan.notes.append("GPU: 16-mixed precision (AMP) and channels_last memory")
    elif cpu_has_bf16():
        plan.precision = "bf16-mixed"
        plan.notes.append("CPU with bfloat16 instructions: bf16-mixed precision")
    return out, plan


def settle_cache(
    config: dict[str, Any], plan: FastPlan, *, paths: RunPaths, allow_code: bool
) -> list[str]:
    """After the check: each ``Dataset`` :func:`apply_fast` made a ``CacheDataset`` stays one when
    its cache fits in half the available memory, else it caches on disk (``PersistentDataset``).

    The estimate runs one case through the built deterministic transforms, so it comes after
    the check walk passed, as every build does. Returns the notes (``config`` is changed).
    """
    notes = []
    for name in plan.cached:
        probe = copy.deepcopy(config)  # the plain Dataset it was (a CacheDataset would fill)
        probe[name]["dataset"]["name"] = "Dataset"
        for key in _CACHE_ONLY_ARGS:
            probe[name]["dataset"]["args"].pop(key, None)
        need = estimate_dataset_cache(probe, name, paths=paths, allow_code=allow_code)
        have = available_memory()
        if need is None or have is None or need <= 0.5 * have:
            shown = f"about {_size(need)}" if need is not None else "its size unknown"
            notes.append(f"{name}.dataset: Dataset -> CacheDataset (the cache needs {shown})")
            continue
        dataset = config[name]["dataset"]
        dataset["name"] = "PersistentDataset"
        for key in _CACHE_ONLY_ARGS:
            dataset["args"].pop(key, None)
        notes.append(
            f"{name}.dataset: Dataset -> PersistentDataset (a memory cache would need "
            f"{_size(need)} of {_size(have)} available: cached on disk instead)"
        )
    return notes
