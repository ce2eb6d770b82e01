"""ONNX export from the ``torch.export`` program, verified with onnxruntime on CPU.

The program captured by :func:`mmar_hydra.writers.pt2.export_program` is translated with
``torch.onnx.export(..., dynamo=True)``; the model record goes into the ONNX model's
``metadata_props`` (readable with ``onnx.load(f).metadata_props`` or onnxruntime's
``get_modelmeta().custom_metadata_map``). The bytes written are the bytes onnxruntime ran.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError, first_line
from mmar_hydra.writers.atomic import atomic_write_bytes
from mmar_hydra.writers.export_checks import ExportCheck, require_packages
from mmar_hydra.writers.pt2 import ExportedNetwork, verify_exported

__all__ = ["write_onnx", "onnx_session"]

PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def onnx_session(data: bytes) -> Any:
    """An onnxruntime CPU session over the model bytes."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def write_onnx(
    exported: ExportedNetwork,
    path: str | Path,
    *,
    metadata: Mapping[str, str] | None = None,
    verify: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> ExportCheck:
    """Translate the program to ONNX, embed ``metadata``, check with onnxruntime, write ``path``."""
    require_packages("onnx", *PACKAGES)
    import torch

    path = Path(path)
    loggers = [logging.getLogger(n) for n in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:  # the translator logs every pass (and absent torchvision ops)
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                exported.program,
                dynamo=True,
                verbose=False,
                input_names=["image"],
                output_names=["pred"],
            )
    except Exception as exc:  # noqa: BLE001 - the translator's reason is the message
        raise CheckpointError(
            f"the network cannot be translated to ONNX: {type(exc).__name__}: {first_line(exc)}",
            file=path,
            expected="operators the ONNX exporter supports",
            fix="export format=pt2 or format=torchscript instead",
        ) from None
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    if program is None:  # only with dynamo=False, which is never passed
        raise RuntimeError("torch.onnx.export returned no program")
    model = program.model_proto
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    data = model.SerializeToString()
    result: ExportCheck = {"verified": False, "dynamic_axes": exported.dynamic_axes}
    if verify:
        session = onnx_session(data)
        name = session.get_inputs()[0].name

        def run(x):  # noqa: ANN001, ANN202
            return session.run(None, {name: x.numpy()})[0]

        result = verify_exported(exported, run, "ONNX (onnxruntime CPU)", path, rtol, atol)
    atomic_write_bytes(path, data)
    return result
