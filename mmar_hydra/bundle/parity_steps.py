"""Parity of the pre-transforms and of the network, tensor by tensor.

The MMAR's pipeline (as mmar_hydra builds it) and the bundle's (as ``monai.bundle`` parses it)
run side by side on one case, one transform at a time; after each step every tensor of the
output is compared (max absolute difference). Random transforms get the same seeds on both
sides: each ``Compose`` is seeded with ``set_random_state(seed)``, which hands its
randomizable transforms seeds in order, so two pipelines of the same transforms draw the
same numbers. The first step whose transform differs, or whose tensors differ beyond the
tolerance, is the divergence; nothing after it is compared.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from mmar_hydra.writers.export_checks import sample_input

__all__ = ["compare_pipelines", "max_abs_diff", "network_parity", "transform_name"]


def transform_name(transform: Any) -> str:
    return type(transform).__name__


def _arrays(data: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor / array in a transform's output, by key (``[i].key`` for lists)."""
    import numpy as np
    import torch

    if isinstance(data, torch.Tensor | np.ndarray):
        return {prefix or "value": data}
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for k, v in data.items():
            if isinstance(v, torch.Tensor | np.ndarray):
                out[f"{prefix}{k}"] = v
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            out.update(_arrays(item, f"{prefix}[{i}]."))
    return out


def max_abs_diff(a: Any, b: Any) -> float:
    """max |a - b| of two tensors / arrays; ``inf`` when their shapes differ."""
    import numpy as np
    import torch

    x = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, float)
    y = b.detach().cpu().double().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, float)
    if x.shape != y.shape:
        return float("inf")
    return float(np.abs(x - y).max()) if x.size else 0.0


def _diff(m: Any, b: Any) -> tuple[float, dict[str, float]]:
    ours, theirs = _arrays(m), _arrays(b)
    per_key = {}
    for key in sorted(set(ours) | set(theirs)):
        if key in ours and key in theirs:
            per_key[key] = max_abs_diff(ours[key], theirs[key])
        else:
            per_key[key] = float("inf")  # a tensor only one side has
    return (max(per_key.values()) if per_key else 0.0), per_key


def _seeded(transforms: Any, seed: int | None) -> list[Any]:
    if seed is not None and hasattr(transforms, "set_random_state"):
        transforms.set_random_state(seed=seed)
    return list(getattr(transforms, "transforms", transforms) or [])


def compare_pipelines(
    mmar: Any, bundle: Any, case: Mapping[str, Any], *, seed: int | None, tol: float
) -> dict[str, Any]:
    """Run both pipelines on ``case`` step by step.

    Args:
        mmar, bundle: the two ``Compose`` objects (or lists of transforms).
        case: one datalist item (the same dict goes to both).
        seed: the seed both pipelines' random transforms get (``None``: deterministic only).
        tol: the max abs difference a step may show.

    Returns ``{"steps": [...], "diverged": None | {"index", "mmar", "bundle", "why"}}``.
    """
    from monai.transforms import apply_transform

    ours, theirs = _seeded(mmar, seed), _seeded(bundle, seed)
    data_m: Any = copy.deepcopy(dict(case))
    data_b: Any = copy.deepcopy(dict(case))
    steps: list[dict[str, Any]] = []
    for i in range(max(len(ours), len(theirs))):
        t_m = ours[i] if i < len(ours) else None
        t_b = theirs[i] if i < len(theirs) else None
        n_m = transform_name(t_m) if t_m is not None else "(none)"
        n_b = transform_name(t_b) if t_b is not None else "(none)"
        step: dict[str, Any] = {"index": i, "mmar": n_m, "bundle": n_b, "max_abs_diff": None}
        steps.append(step)
        if t_m is None or t_b is None or n_m != n_b:
            why = f"the MMAR's transform {i} is {n_m}, the bundle's is {n_b}"
            following = [transform_name(t) for t in ours[i + 1 :]]
            if t_b is None or (following and following[0] == n_b):
                why = (
                    f"the bundle has no {n_m} (the MMAR's transform {i}); "
                    + why[0].lower()
                    + why[1:]
                )
            return {
                "steps": steps,
                "diverged": {"index": i, "mmar": n_m, "bundle": n_b, "why": why},
            }
        data_m = apply_transform(t_m, data_m)
        data_b = apply_transform(t_b, data_b)
        worst, per_key = _diff(data_m, data_b)
        step.update(max_abs_diff=worst, keys=per_key, random=hasattr(t_m, "set_random_state"))
        if worst > tol:
            why = f"{n_m} (transform {i}) gives tensors differing by {worst:.3g} (> {tol:g})"
            return {
                "steps": steps,
                "diverged": {"index": i, "mmar": n_m, "bundle": n_b, "why": why},
            }
    return {"steps": steps, "diverged": None}


def network_parity(mmar_net: Any, bundle_net: Any, shape: Sequence[int]) -> dict[str, Any]:
    """Both networks (eval mode) on one seeded random input of ``shape``."""
    import torch

    x = sample_input(shape)
    with torch.no_grad():
        a, b = mmar_net.eval()(x), bundle_net.eval()(x)
    a = a[0] if isinstance(a, list | tuple) else a
    b = b[0] if isinstance(b, list | tuple) else b
    return {"input_shape": list(shape), "max_abs_diff": max_abs_diff(a, b)}
