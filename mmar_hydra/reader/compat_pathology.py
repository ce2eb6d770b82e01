"""Compat translations for Clara 4.0's digital-pathology components (whole-slide images).

Called by :func:`reader.compat.apply_compat` before its own walk; every rewrite yields one
:class:`~mmar_hydra.reader.compat.CompatNote`. The rows of :data:`PATHOLOGY_RULES` join the
README's compat table (``COMPAT_RULES``).

- MONAI 0.5's ``PatchWSIDataset`` / ``SmartCachePatchWSIDataset`` (``region_size``,
  ``grid_shape``, ``image_reader_name``) and ``MaskedInferenceWSIDataset`` become the
  classes of :mod:`mmar_hydra.pathology`, which keep Clara 4.0's behaviour on today's MONAI.
- ``image_reader_name``: Clara's reader names become MONAI ``WSIReader`` backends; one that
  is not installed (cuCIM, on a CPU-only machine) falls back to tifffile or OpenSlide.
- ``TorchVisionFullyConvModel(n_classes)`` becomes ``TorchVisionFCModel(num_classes,
  use_conv=True)``; where torchvision does not import, :class:`ResNetFCModel` (MONAI's
  ResNet in torchvision's layout) stands in for it.
- ``pretrained: true`` on a torchvision backbone would download ImageNet weights at run
  time. Nothing downloads here: when the weights file is in torch's hub cache (where
  torchvision looks first) it is kept, otherwise the backbone starts from random weights
  and the note says where to put the file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mmar_hydra.errors import json_path
from mmar_hydra.pathology.backends import CLARA_READERS, choose_backend

__all__ = ["PATHOLOGY_RULES", "translate_pathology", "torchvision_imports", "cached_weights"]

PATHOLOGY_RULES: list[tuple[str, str, str]] = [
    (
        "`PatchWSIDataset` / `SmartCachePatchWSIDataset` with `region_size`, `grid_shape`",
        "`mmar_hydra.pathology.PatchWSIDataset` / `SmartCachePatchWSIDataset`",
        "MONAI's now read one patch per (row, column) location",
    ),
    (
        "`MaskedInferenceWSIDataset`",
        "`mmar_hydra.pathology.MaskedInferenceWSIDataset` (metadata for `ProbMapProducer`)",
        "removed from MONAI",
    ),
    (
        "`ProbMapProducer` handler",
        "`mmar_hydra.pathology.ProbMapProducer` (MONAI's, atomic writes), run in the loop",
        "an ignite handler",
    ),
    (
        '`image_reader_name: "cuCIM"` (cuCIM not installed)',
        '`"tifffile"` (else `"openslide"`)',
        "cuCIM needs CUDA",
    ),
    (
        "`TorchVisionFullyConvModel(n_classes)`",
        "`TorchVisionFCModel(num_classes, use_conv=true)`",
        "renamed",
    ),
    (
        "`TorchVisionFCModel` where torchvision does not import",
        "`mmar_hydra.pathology.ResNetFCModel` (same layers and state_dict keys)",
        "no torchvision",
    ),
    (
        "`pretrained: true` (torchvision weights not in torch's hub cache)",
        "`pretrained: false` (random initialisation)",
        "nothing downloads at run time",
    ),
]

_PACKAGE = "mmar_hydra.pathology"
_GRID_DATASETS = ("PatchWSIDataset", "SmartCachePatchWSIDataset")
_OLD_GRID_ARGS = ("region_size", "grid_shape", "image_reader_name")
_FC_MODELS = ("TorchVisionFullyConvModel", "TorchVisionFCModel")

Note = Callable[[str, str, str, str], None]  # (JSON path, old, new, reason)


@functools.cache
def torchvision_imports() -> str | None:
    """None when torchvision imports, else why not (missing, or broken beside this torch)."""
    try:
        import torchvision.models  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a CUDA-only wheel raises RuntimeError
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return None


def cached_weights(model_name: str, weights: str = "DEFAULT") -> Path | None:
    """The file torchvision would load for ``model_name``'s ``weights``, if it is cached."""
    if torchvision_imports() is not None:
        return None
    import torch
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(model_name)
    except (ValueError, KeyError):
        return None
    chosen = enum.DEFAULT if weights == "DEFAULT" else enum[weights]
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(chosen.url).path).name
    return path if path.is_file() else None


def _short(comp: dict[str, Any]) -> str:
    target = comp.get("name") or comp.get("path") or ""
    return str(target).rsplit(".", 1)[-1]


class _Pathology:
    def __init__(self, note: Note) -> None:
        self.note = note

    def component(self, comp: dict[str, Any], path: str) -> None:
        short, args = _short(comp), comp.get("args")
        args = args if isinstance(args, dict) else {}
        name = comp.get("name")
        if name and short in _GRID_DATASETS and any(k in args for k in _OLD_GRID_ARGS):
            self.rename(
                comp,
                path,
                short,
                "MONAI's PatchWSIDataset now reads one patch per "
                "(row, column) location; Clara 4.0's region grid, (x, y) locations and "
                "label order are kept",
            )
        elif name == "ProbMapProducer":
            self.rename(
                comp,
                path,
                short,
                "MONAI's handler, writing each map atomically; it runs inside the evaluation loop",
            )
        elif name and short == "MaskedInferenceWSIDataset":
            self.rename(
                comp,
                path,
                short,
                "removed from MONAI; the MMAR's foreground masks "
                "are read, and the patches carry ProbMapProducer's metadata",
            )
        if str(comp.get("name", "")).startswith(_PACKAGE) and "image_reader_name" in args:
            self.reader(args, json_path(path, "args", "image_reader_name"))
        if name and short in _FC_MODELS:
            self.fc_model(comp, args, path, short)
        if args.get("pretrained") is True and isinstance(args.get("model_name"), str):
            self.pretrained(comp, args, path)

    def rename(self, comp: dict[str, Any], path: str, short: str, reason: str) -> None:
        comp["name"] = f"{_PACKAGE}.{short}"
        self.note(json_path(path, "name"), short, comp["name"], reason)

    def reader(self, args: dict[str, Any], path: str) -> None:
        value = args["image_reader_name"]
        if not isinstance(value, str) or value.lower() not in CLARA_READERS:
            return
        backend, why = choose_backend(value)
        args["image_reader_name"] = backend
        if why or backend != value.lower():
            reason = why or f"MONAI's WSIReader calls this backend {backend!r}"
            self.note(path, repr(value), repr(backend), reason)

    def fc_model(self, comp: dict[str, Any], args: dict[str, Any], path: str, short: str) -> None:
        reasons = []
        if short == "TorchVisionFullyConvModel":
            if "n_classes" in args:
                args["num_classes"] = args.pop("n_classes")
                at = json_path(path, "args", "n_classes")
                self.note(at, "n_classes", "num_classes", "renamed")
            args.setdefault("use_conv", True)  # Clara 4.0's model was fully convolutional
            reasons.append("renamed in MONAI (use_conv=True keeps the old 1x1-convolution head)")
        new = "TorchVisionFCModel"
        why = torchvision_imports()
        if why is not None:
            new = f"{_PACKAGE}.ResNetFCModel"
            reasons.append(
                f"torchvision does not import here ({why}): MONAI's ResNet in torchvision's "
                "layout stands in (same layers, same state_dict keys)"
            )
        if new != comp["name"]:
            comp["name"] = new
            self.note(json_path(path, "name"), short, new, "; ".join(reasons))

    def pretrained(self, comp: dict[str, Any], args: dict[str, Any], path: str) -> None:
        model = args["model_name"]
        legacy = "path" in comp  # custom code calls torchvision's pretrained=True (V1 weights)
        found = cached_weights(model, "IMAGENET1K_V1" if legacy else "DEFAULT")
        if found is not None:
            return  # torchvision loads the cached file; nothing is downloaded
        args["pretrained"] = False
        where = "torch's hub cache (TORCH_HOME)/checkpoints"
        self.note(
            json_path(path, "args", "pretrained"),
            "pretrained=true",
            "pretrained=false",
            f"{model}'s ImageNet weights would be downloaded at run time and are not in "
            f"{where}: the backbone starts from random weights; to start from ImageNet, "
            "copy torchvision's weights file there",
        )

    def walk(self, obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            if isinstance(obj.get("name"), str) or isinstance(obj.get("path"), str):
                self.component(obj, path)
            for key, value in obj.items():
                self.walk(value, json_path(path, str(key)))
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                self.walk(value, json_path(path, i))


def translate_pathology(config: dict[str, Any], note: Note) -> None:
    """Rewrite the pathology components of ``config`` in place, one ``note`` per rewrite."""
    _Pathology(note).walk(config, "")
