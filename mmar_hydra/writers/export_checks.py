"""What every model export shares: the sample input, dynamic spatial axes, the eager check.

An exported model is only handed out once it gives the eager network's output on the same
input, within stated tolerances; the check's numbers are returned so the task can print
them. Spatial axes are exported as dynamic where the network allows it (``Dim.AUTO``: the
exporter keeps an axis static when the network needs it, e.g. a fixed-size linear head).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError, ConfigError

__all__ = [
    "ExportCheck",
    "check_sample_input",
    "sample_input",
    "spatial_dynamic_shapes",
    "compare_outputs",
    "require_packages",
    "larger_shape",
]

ExportCheck = dict[str, Any]  # verified, max_abs_diff, rtol, atol, input_shape, dynamic_axes


def sample_input(input_shape: Sequence[int], seed: int = 0) -> Any:
    """A seeded random input of ``input_shape`` (the same one for eager and exported model)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*[int(s) for s in input_shape], generator=generator)


def check_sample_input(network: Any, input_shape: Sequence[int], *, given: bool) -> None:
    """The eager network runs on ``input_shape``; else a clean error asking for ``input_shape``.

    Args:
        network: the network about to be exported (eval mode, CPU).
        input_shape: the export's sample input shape.
        given: the user passed ``input_shape=`` (else it was derived from the config).

    Raises:
        ConfigError: the network fails on an input of that shape.
    """
    import torch

    try:
        with torch.no_grad():
            network(sample_input(input_shape))
    except Exception as exc:  # noqa: BLE001 - any failure of the forward pass is the shape's
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        origin = "" if given else " (derived from the config: no roi_size / crop size said more)"
        raise ConfigError(
            f"the network does not run on a sample input of shape {list(input_shape)}{origin}: "
            f"{type(exc).__name__}: {first}",
            path="input_shape",
            expected="the shape [batch, channels, *spatial] the network takes",
            fix="pass it, e.g. input_shape=[1,3,224,224] for 2D RGB patches",
        ) from None


def spatial_dynamic_shapes(input_shape: Sequence[int]) -> tuple[dict[int, Any]]:
    """``dynamic_shapes`` for one positional input: every spatial axis ``Dim.AUTO``."""
    from torch.export import Dim

    return ({axis: Dim.AUTO for axis in range(2, len(input_shape))},)


def larger_shape(input_shape: Sequence[int]) -> list[int]:
    """The input shape with every spatial size doubled (keeps divisibility by the strides)."""
    return [int(s) if i < 2 else int(s) * 2 for i, s in enumerate(input_shape)]


def compare_outputs(
    expected: Any,
    actual: Any,
    *,
    what: str,
    file: str | Path,
    input_shape: Sequence[int],
    rtol: float,
    atol: float,
) -> float:
    """Max |expected - actual|; a CheckpointError when they differ beyond the tolerances."""
    import numpy as np

    exp = np.asarray(expected.detach().cpu() if hasattr(expected, "detach") else expected)
    act = np.asarray(actual.detach().cpu() if hasattr(actual, "detach") else actual)
    if exp.shape != act.shape:
        raise CheckpointError(
            f"the {what} output has shape {act.shape}, the eager model's {exp.shape}",
            file=file,
            expected=f"the same output on input {list(input_shape)}",
            fix="export with another input_shape=[...] or use ignore_verify=true to export anyway",
        )
    diff = float(np.abs(exp - act).max()) if exp.size else 0.0
    if not np.allclose(exp, act, rtol=rtol, atol=atol):
        raise CheckpointError(
            f"the {what} output differs from the eager model: max |diff| {diff:.3g}",
            file=file,
            expected=f"equal within rtol={rtol}, atol={atol} on input {list(input_shape)}",
            fix="use ignore_verify=true to export anyway",
        )
    return diff


def require_packages(fmt: str, *modules: str) -> None:
    """A ConfigError naming the extra to install when an export format's packages are missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"format={fmt} needs the package(s) {', '.join(missing)}",
            path="format",
            expected=f"{', '.join(modules)} importable",
            fix='pip install -e ".[export]"  (or pip install ' + " ".join(missing) + ")",
        )
