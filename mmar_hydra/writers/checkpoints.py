"""Clara checkpoints: ``{"model": state_dict, "train_conf": plain data}``, saved atomically.

Checkpoints may come from strangers, so they are loaded with ``weights_only=True`` only; one
that needs arbitrary unpickling is refused with an explanation instead of being trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError, first_line
from mmar_hydra.writers.atomic import atomic_torch_save
from mmar_hydra.writers.model_record import package_versions, plain_data

__all__ = ["save_checkpoint", "load_checkpoint", "load_weights", "state_dict_of", "LoadReport"]


def save_checkpoint(
    path: str | Path,
    network: Any,
    train_conf: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Save the network's weights and the training config as a Clara checkpoint dict.

    The dict also holds ``versions`` (Python, torch, MONAI, ...), so a later run with other
    versions can say so (:func:`mmar_hydra.writers.run_info.drift_warning`).
    """
    module = getattr(network, "module", network)  # unwrap DDP / DataParallel
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    data = {"model": state, "train_conf": plain_data(train_conf), "versions": package_versions()}
    atomic_torch_save({**data, **(extra or {})}, Path(path))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            "checkpoint not found",
            file=path,
            expected="a .pt file written by training (models/model.pt, models/final_model.pt)",
            fix="train first, or point MMAR_CKPT / ckpt_path at an existing checkpoint",
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            "the checkpoint needs arbitrary unpickling, which is refused for safety",
            file=path,
            expected="tensors and plain containers (a state_dict or a Clara {'model': ...} dict)",
            fix="if you trust the file, re-save it as a state dict: "
            "torch.save({'model': torch.load(p, weights_only=False)['model']}, p2)"
            f" ({first_line(exc, 160)})",
        ) from None
    except Exception as exc:  # noqa: BLE001 - any file from anyone: torch.load may raise anything
        raise CheckpointError(
            f"cannot read the checkpoint: {type(exc).__name__}: {first_line(exc)}",
            file=path,
            expected="a file written by torch.save",
            fix="the file may be truncated or not a checkpoint; use another one",
        ) from None
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"the checkpoint is a {type(data).__name__}, not a dict",
            file=path,
            expected="a state_dict or {'model': state_dict, ...}",
            fix="point MMAR_CKPT / ckpt_path at a checkpoint written by training (models/model.pt)",
        )
    return dict(data)


def state_dict_of(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The weights inside a Clara dict, a Lightning checkpoint, or a bare state_dict."""
    if isinstance(checkpoint.get("model"), Mapping):
        return checkpoint["model"]
    if isinstance(checkpoint.get("state_dict"), Mapping):
        sd = checkpoint["state_dict"]
        prefix = "network."
        if all(k.startswith(prefix) for k in sd):
            return {k[len(prefix) :]: v for k, v in sd.items()}
        return sd
    return checkpoint


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"loaded {len(self.loaded)} tensors"
        if self.skipped:
            text += (
                f", skipped {len(self.skipped)} with other shapes ("
                + ", ".join(f"{k} {tuple(a)}->{tuple(b)}" for k, a, b in self.skipped[:3])
                + ")"
            )
        if self.missing:
            text += f", {len(self.missing)} missing"
        if self.unexpected:
            text += f", {len(self.unexpected)} unexpected"
        return text


def load_weights(
    network: Any,
    state_dict: Mapping[str, Any],
    *,
    strict: bool = True,
    skip_mismatched: bool = False,
    file: str | None = None,
) -> LoadReport:
    """Load weights into ``network``; mismatches are explained or, for transfer learning, skipped."""
    module = getattr(network, "module", network)
    own = module.state_dict()
    not_tensors = [
        f"{k} ({type(v).__name__})" for k, v in state_dict.items() if not hasattr(v, "shape")
    ]
    if not_tensors:
        raise CheckpointError(
            f"the checkpoint's weights are not all tensors: {', '.join(not_tensors[:3])}",
            file=file,
            expected="a state_dict: parameter names mapped to tensors",
            fix="use a checkpoint written by training (models/model.pt); this one may be corrupt",
        )
    report = LoadReport()
    usable = {}
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            report.skipped.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
            report.loaded.append(key)
    report.missing = [k for k in own if k not in state_dict]
    if report.skipped and not skip_mismatched:
        first = "; ".join(f"{k}: checkpoint {a} vs network {b}" for k, a, b in report.skipped[:3])
        raise CheckpointError(
            f"the checkpoint does not fit the network: {len(report.skipped)} tensor(s) differ in shape ({first})",
            file=file,
            expected="a checkpoint of the same network architecture",
            fix="rebuild the network as it was trained, or fine-tune with layers of other shapes "
            "skipped (task=finetune skips them when the class count changed)",
        )
    if strict and (report.missing or report.unexpected) and not skip_mismatched:
        raise CheckpointError(
            f"the checkpoint does not fit the network: {len(report.missing)} missing key(s) "
            f"{report.missing[:3]}, {len(report.unexpected)} unexpected {report.unexpected[:3]}",
            file=file,
            expected="the same parameter names as the network",
            fix="check that the config builds the network the checkpoint came from",
        )
    module.load_state_dict(usable, strict=False)
    return report
