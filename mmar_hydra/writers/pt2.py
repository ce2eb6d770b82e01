"""``torch.export`` (``.pt2``) export: the successor of TorchScript, verified and atomic.

The network is captured once with :func:`export_program` (spatial axes dynamic where the
network allows it); :func:`write_pt2` saves that program with the model record as extra
files, reloads the bytes it wrote and checks them against the eager model on the same input.
The ONNX writer converts the same program.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError, first_line
from mmar_hydra.writers.atomic import atomic_write_bytes
from mmar_hydra.writers.export_checks import (
    ExportCheck,
    compare_outputs,
    larger_shape,
    sample_input,
    spatial_dynamic_shapes,
)

__all__ = ["ExportedNetwork", "export_program", "write_pt2", "load_pt2", "verify_exported"]


@dataclass
class ExportedNetwork:
    """A network captured by ``torch.export``: the program, its sample and dynamic axes."""

    network: Any
    program: Any
    input_shape: list[int]
    dynamic_axes: list[int]


def _dynamic_axes(program: Any) -> list[int]:
    import torch

    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in program.graph_signature.user_inputs:
            shape = node.meta["val"].shape
            return [i for i, d in enumerate(shape) if isinstance(d, torch.SymInt)]
    return []


def export_program(network: Any, input_shape: Sequence[int]) -> ExportedNetwork:
    """``torch.export.export`` of the eval-mode network, spatial axes dynamic where possible."""
    import torch

    network = network.eval().cpu()
    shape = [int(s) for s in input_shape]
    sample = sample_input(shape)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(
                network, (sample,), dynamic_shapes=spatial_dynamic_shapes(shape)
            )
    except Exception as exc:  # noqa: BLE001 - whatever the tracer says is the reason
        raise CheckpointError(
            f"torch.export cannot capture the network: {type(exc).__name__}: {first_line(exc)}",
            expected="a network torch.export can trace (MONAI's UNet, SegResNet, ... can)",
            fix="export format=torchscript instead, or another input_shape=[...]",
        ) from None
    return ExportedNetwork(network, program, shape, _dynamic_axes(program))


def verify_exported(
    exported: ExportedNetwork, run: Any, what: str, path: Path, rtol: float, atol: float
) -> ExportCheck:
    """Compare ``run(x)`` with the eager network on the sample (and a larger one if dynamic).

    Args:
        exported: the captured network.
        run: the exported model as a function of a torch input (returns a tensor or array).
        what: its name in messages; path: the file it goes to (for errors).
        rtol, atol: the tolerances of ``numpy.allclose``.
    """
    import torch

    shapes = [exported.input_shape]
    if exported.dynamic_axes:  # prove the dynamic axes on a second, larger input
        shapes.append(larger_shape(exported.input_shape))
    worst = 0.0
    for shape in shapes:
        x = sample_input(shape)
        with torch.no_grad():
            expected = exported.network(x)
        worst = max(
            worst,
            compare_outputs(
                expected, run(x), what=what, file=path, input_shape=shape, rtol=rtol, atol=atol
            ),
        )
    return {
        "verified": True,
        "max_abs_diff": worst,
        "rtol": rtol,
        "atol": atol,
        "input_shapes": shapes,
        "dynamic_axes": exported.dynamic_axes,
    }


def write_pt2(
    exported: ExportedNetwork,
    path: str | Path,
    *,
    extra: Mapping[str, str] | None = None,
    verify: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> ExportCheck:
    """Save the program (with ``extra`` files) to ``path``; the reloaded file is checked."""
    import torch

    path = Path(path)
    buffer = io.BytesIO()
    torch.export.save(exported.program, buffer, extra_files=dict(extra or {}))
    data = buffer.getvalue()
    result: ExportCheck = {"verified": False, "dynamic_axes": exported.dynamic_axes}
    if verify:
        reloaded = torch.export.load(io.BytesIO(data)).module()
        result = verify_exported(exported, reloaded, "torch.export (pt2)", path, rtol, atol)
    atomic_write_bytes(path, data)
    return result


def load_pt2(path: str | Path, extra_files: Sequence[str] = ()) -> tuple[Any, dict[str, str]]:
    """The saved program and the requested extra files (``{"metadata.json": ""}`` style)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            "pt2 model not found", file=path, fix="run task=export format=pt2 first"
        )
    extra = {name: "" for name in extra_files}
    return torch.export.load(str(path), extra_files=extra), extra
