"""A Triton Inference Server model repository for the bundle's network (ONNX), and its check.

``triton/<name>/config.pbtxt`` and ``triton/<name>/1/model.onnx``. The network is the one
``configs/inference.json`` builds (its weights from ``models/model.pt``), exported to ONNX
with a dynamic batch axis. Inputs and outputs come from the network and the inferer: the
inferer's ``roi_size`` is what the network sees (a sliding window's patch), its
``sw_batch_size`` Triton's ``max_batch_size``, the input channels from ``network_data_format``
and the output channels and spatial size from running the network on one patch. Without a
``roi_size`` (a whole-image inferer) the spatial dims are ``-1``. The export keeps the batch
and spatial axes dynamic where the network allows (Triton's dims then fix them). :func:`check_repository` reads the file back and runs the ONNX model in onnxruntime
with exactly those dims, against the PyTorch network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.verify import bundle_on_path
from mmar_hydra.writers.atomic import atomic_write_text
from mmar_hydra.writers.export_checks import sample_input
from mmar_hydra.writers.onnx import onnx_session, write_onnx
from mmar_hydra.writers.pt2 import ExportedNetwork, _dynamic_axes

__all__ = [
    "TritonSpec",
    "triton_spec",
    "config_pbtxt",
    "parse_pbtxt",
    "export_onnx",
    "check_repository",
    "model_name",
    "bundle_inferer",
    "write_repository",
]

PLATFORM = "onnxruntime_onnx"
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


@dataclass
class TritonSpec:
    """One model's Triton configuration (dims exclude the batch axis)."""

    name: str
    max_batch_size: int
    input_name: str
    input_dims: list[int]
    output_name: str
    output_dims: list[int]
    data_type: str = "TYPE_FP32"

    def sample_shape(self, fill: int = 32) -> list[int]:
        """The input of one Triton request at full batch (``-1`` dims as ``fill``)."""
        dims = [fill if d < 0 else d for d in self.input_dims]
        return [max(self.max_batch_size, 1), *dims]


def model_name(text: str) -> str:
    """A Triton model name (its folder name) from the bundle's name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "model"


def _output_shape(network: Any, shape: Sequence[int]) -> list[int]:
    """The network's output shape for an input of ``shape``: on the meta device (no compute,
    whatever the patch size), else by running it."""
    import copy

    import torch

    with torch.no_grad():
        try:
            out = copy.deepcopy(network).eval().to("meta")(torch.empty(*shape, device="meta"))
        except Exception:  # noqa: BLE001 - an op without a meta kernel: run it for real
            out = network.eval()(sample_input(shape))
    if isinstance(out, list | tuple):
        out = out[0]
    return list(out.shape)


def triton_spec(
    name: str, network: Any, inferer: Any, data_format: Mapping[str, Any]
) -> TritonSpec:
    """The configuration for ``network`` as ``inferer`` calls it.

    Args:
        name: the model's name.
        network: the network in eval mode, weights loaded.
        inferer: the inference config's inferer (MONAI's ``SlidingWindowInferer`` or other).
        data_format: ``metadata.json``'s ``network_data_format``.
    """
    (in_name, image), *_ = data_format["inputs"].items()
    out_name = next(iter(data_format["outputs"]))
    roi = getattr(inferer, "roi_size", None)
    spatial = list(image.get("spatial_shape") or [])
    if roi is not None and all(int(r) > 0 for r in roi):
        dims = [int(r) for r in roi]
    else:  # a whole-image inferer: any spatial size the network takes
        dims = [-1] * len(spatial)
    batch = int(getattr(inferer, "sw_batch_size", 1) or 1)
    channels = int(image["num_channels"])
    probe = [1, channels, *[s if s > 0 else int(p) for s, p in zip(dims, spatial, strict=False)]]
    out = _output_shape(network, probe)
    out_dims = [out[1], *([-1] * (len(out) - 2) if -1 in dims else out[2:])]
    return TritonSpec(model_name(name), batch, in_name, [channels, *dims], out_name, out_dims)


def _dims(values: Sequence[int]) -> str:
    return "[ " + ", ".join(str(int(v)) for v in values) + " ]"


def config_pbtxt(spec: TritonSpec) -> str:
    """The model's ``config.pbtxt`` (protobuf text format of Triton's ModelConfig)."""

    def tensor(name: str, dims: Sequence[int]) -> list[str]:
        return [
            "  {",
            f'    name: "{name}"',
            f"    data_type: {spec.data_type}",
            f"    dims: {_dims(dims)}",
            "  }",
        ]

    lines = [
        f'name: "{spec.name}"',
        f'platform: "{PLATFORM}"',
        f"max_batch_size: {spec.max_batch_size}",
        "input [",
        *tensor(spec.input_name, spec.input_dims),
        "]",
        "output [",
        *tensor(spec.output_name, spec.output_dims),
        "]",
        "instance_group [",
        "  {",
        "    kind: KIND_AUTO",
        "    count: 1",
        "  }",
        "]",
    ]
    return "\n".join(lines) + "\n"


def _scalar(token: str) -> Any:
    if token.startswith('"'):
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            continue
    return token  # an enum value (TYPE_FP32, KIND_AUTO) or true/false


def parse_pbtxt(text: str) -> dict[str, Any]:
    """Protobuf text format -> dict; a repeated field (``input [...]`` or given twice) is a
    list. Comments (``#``) are skipped."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens = _TOKEN.findall(text)
    pos = 0

    def value() -> Any:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "{":
            return message("}")
        if tok == "[":
            items = []
            while tokens[pos] != "]":
                items.append(value())
                if tokens[pos] == ",":
                    pos += 1
            pos += 1
            return items
        return _scalar(tok)

    def message(end: str | None) -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(tokens) and tokens[pos] != end:
            key = tokens[pos]
            pos += 1
            if tokens[pos] == ":":
                pos += 1
            item = value()
            if key in out:
                prev = out[key]
                out[key] = (prev if isinstance(prev, list) else [prev]) + (
                    item if isinstance(item, list) else [item]
                )
            else:
                out[key] = item
            if pos < len(tokens) and tokens[pos] in (",", ";"):
                pos += 1
        pos += 1
        return out

    return message(None)


def export_onnx(
    network: Any, spec: TritonSpec, path: Path, small: Sequence[int] | None = None
) -> dict[str, Any]:
    """``model.onnx`` of ``network`` with dynamic batch and spatial axes (where the network
    allows: Triton's dims then fix them), checked against the eager network in onnxruntime.

    The export traces symbolically (no compute at the Triton dims); the check runs one
    input: ``[2, C, *small]`` when the spatial axes stayed dynamic (``small``: a spatial
    size the network takes, e.g. the training crop), else the Triton input at batch 2.
    """
    import torch
    from torch.export import Dim

    shape = spec.sample_shape()
    shape[0] = 2  # a batch of 1 would be specialised away
    dynamic = {axis: Dim.AUTO for axis in [0, *range(2, len(shape))]}  # batch and spatial
    network = network.eval().cpu()
    with torch.no_grad():
        program = torch.export.export(network, (sample_input(shape),), dynamic_shapes=(dynamic,))
    axes = _dynamic_axes(program)
    check_shape = list(shape)
    if small and set(range(2, len(shape))) <= set(axes):
        check_shape = [2, shape[1], *[int(s) for s in small]]
    exported = ExportedNetwork(network, program, check_shape, [])  # [] : no larger-shape pass
    result = write_onnx(exported, path, metadata={"triton_model": spec.name})
    return {**result, "dynamic_axes": axes}


def _problem(problems: list[str], ok: bool, text: str) -> None:
    if not ok:
        problems.append(text)


def check_repository(
    repo: Path, network: Any | None = None, *, rtol: float = 1e-3, atol: float = 1e-3
) -> dict[str, Any]:
    """Read ``repo/<model>/config.pbtxt`` back and run ``1/model.onnx`` with its dims.

    Returns ``{"ok", "problems", "config", "input_shape", "output_shape", "max_abs_diff",
    "allclose"}``; the last two compare with ``network`` (the PyTorch network) when given.
    """
    import numpy as np
    import torch

    (folder,) = [p for p in Path(repo).iterdir() if p.is_dir()]
    config = parse_pbtxt((folder / "config.pbtxt").read_text())
    problems: list[str] = []
    _problem(problems, config.get("name") == folder.name, "name is not the model folder's")
    _problem(problems, config.get("platform") == PLATFORM, f"platform is not {PLATFORM}")
    model = folder / "1" / "model.onnx"
    result: dict[str, Any] = {"config": config, "problems": problems, "max_abs_diff": None}
    if not model.is_file():
        problems.append("no 1/model.onnx")
        return {**result, "ok": False}
    (inp,), (out,) = config["input"], config["output"]
    batch = int(config.get("max_batch_size", 0))
    session = onnx_session(model.read_bytes())
    (s_in,), s_out = session.get_inputs(), session.get_outputs()
    _problem(problems, s_in.name == inp["name"], f"ONNX input is {s_in.name}, not {inp['name']}")
    _problem(problems, s_out[0].name == out["name"], f"ONNX output is {s_out[0].name}")
    _problem(problems, s_in.type == "tensor(float)", f"ONNX input type {s_in.type}")
    _problem(problems, len(s_in.shape) == len(inp["dims"]) + (batch > 0), "input rank differs")
    if batch > 0:  # Triton batches requests: the model's batch axis must be free
        _problem(problems, not isinstance(s_in.shape[0], int), "the ONNX batch axis is fixed")
    dims = [32 if d < 0 else d for d in inp["dims"]]
    shape = [1, *dims] if batch > 0 else dims  # one item of the Triton dims (any batch <= max)
    x = sample_input(shape)
    (y, *_) = session.run(None, {s_in.name: x.numpy()})
    expected_out = [1, *out["dims"]] if batch > 0 else list(out["dims"])
    fits = len(y.shape) == len(expected_out) and all(
        e < 0 or e == g for e, g in zip(expected_out, y.shape, strict=False)
    )
    _problem(problems, fits, f"ONNX output shape {list(y.shape)}, config says {expected_out}")
    if network is not None:
        with torch.no_grad():
            ref = network.eval()(x)
        ref = (ref[0] if isinstance(ref, list | tuple) else ref).numpy()
        result["max_abs_diff"] = float(np.abs(ref - y).max())
        result["max_abs_output"] = float(np.abs(ref).max())
        # float32 over a whole patch (160^3 x 5 UNet levels): elementwise, as numpy.allclose
        result["allclose"] = bool(np.allclose(y, ref, rtol=rtol, atol=atol))
    result.update(input_shape=shape, output_shape=list(y.shape))
    return {**result, "ok": not problems}


def bundle_inferer(bundle: Path) -> Any:
    """The inferer ``configs/inference.json`` builds (else ``train.json``'s validation one)."""
    from monai.bundle import ConfigParser

    for name, key in (("inference.json", "inferer"), ("train.json", "validate#inferer")):
        file = Path(bundle) / "configs" / name
        parser = ConfigParser()
        if not file.is_file():
            continue
        parser.read_config(str(file))
        if key not in parser:
            continue
        parser["bundle_root"] = str(bundle)
        with bundle_on_path(Path(bundle)):
            return parser.get_parsed_content(key)
    return None


def write_repository(
    bundle: Path, name: str, network: Any, data_format: Mapping[str, Any]
) -> tuple[TritonSpec, dict[str, Any]]:
    """``bundle/triton/<name>/{config.pbtxt, 1/model.onnx}``; returns the spec and the export's
    check (max |diff| of onnxruntime against PyTorch)."""

    spec = triton_spec(name, network, bundle_inferer(bundle), data_format)
    folder = Path(bundle) / "triton" / spec.name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    small = next(iter(data_format["inputs"].values())).get("spatial_shape")
    small = small if small and all(isinstance(s, int) and s > 0 for s in small) else None
    check = export_onnx(network, spec, folder / "1" / "model.onnx", small)
    atomic_write_text(folder / "config.pbtxt", config_pbtxt(spec))
    return spec, check
