"""TorchScript export of the MONAI network (not the LightningModule), verified and atomic.

Lightning's ``to_torchscript`` is deprecated; MONAI's ``convert_to_torchscript`` scripts the
network itself. The output is compared with the eager model on random input, and the
training config and a metadata record travel inside the ``.ts`` as extra files, so the
model runs with plain ``torch.jit.load`` on a machine without mmar_hydra.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError, first_line
from mmar_hydra.writers.atomic import atomic_write_bytes
from mmar_hydra.writers.export_checks import compare_outputs, sample_input

__all__ = ["export_torchscript", "load_torchscript"]


def _script(network: Any) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's own deprecation notice
        try:
            return torch.jit.script(network)
        except Exception as exc:  # noqa: BLE001 - fall back to tracing below
            raise CheckpointError(
                f"the network cannot be scripted: {first_line(exc)}",
                expected="a TorchScript-compatible network (MONAI's UNet, SegResNet, ... are)",
                fix="export a network MONAI can script, or trace it yourself",
            ) from None


def export_torchscript(
    network: Any,
    path: str | Path,
    input_shape: Sequence[int],
    *,
    extra: Mapping[str, str] | None = None,
    verify: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> dict[str, Any]:
    """Script ``network``, check it against eager mode, write ``path``; returns the check."""
    import torch

    network = network.eval().cpu()
    scripted = _script(network)
    result: dict[str, Any] = {"verified": False, "max_abs_diff": None, "rtol": rtol, "atol": atol}
    if verify:
        sample = sample_input(input_shape)
        with torch.no_grad():
            expected, actual = network(sample), scripted(sample)
        diff = compare_outputs(
            expected,
            actual,
            what="TorchScript",
            file=path,
            input_shape=input_shape,
            rtol=rtol,
            atol=atol,
        )
        result.update(verified=True, max_abs_diff=diff)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(scripted, buffer, _extra_files=dict(extra or {}))
    atomic_write_bytes(Path(path), buffer.getvalue())
    return result


def load_torchscript(path: str | Path, extra_files: dict[str, Any] | None = None) -> Any:
    """``torch.jit.load`` with clear errors (missing file, not TorchScript).

    Args:
        path: the ``.ts`` file.
        extra_files: ``{name: ""}`` of embedded files to read (filled in place, e.g. the model
            record's ``metadata.json``; a name the file lacks stays empty).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            "TorchScript model not found",
            file=path,
            expected="a .ts file written by task=export",
            fix="run task=export first, or set MMAR_TORCHSCRIPT / ts_path",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
    except Exception as exc:  # noqa: BLE001 - any file from anyone: torch.jit.load may raise anything
        raise CheckpointError(
            "the file is not a TorchScript model",
            file=path,
            expected="a file written by torch.jit.save (task=export)",
            fix=f"export the model with task=export ({first_line(exc, 120)})",
        ) from None
