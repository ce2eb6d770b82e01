"""``task=export``: TorchScript ``model.ts`` from ``model.pt`` (or any checkpoint).

The network is rebuilt from the ``train_conf`` stored in the checkpoint (how it was
trained), else from the training config; the checkpoint's weights are loaded
strictly, the scripted model is checked against eager mode (unless ``ignore_verify=true``),
and the training config plus a metadata record are embedded as extra files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError

__all__ = ["run", "default_input_shape"]


def default_input_shape(config: Mapping[str, Any]) -> list[int]:
    """[1, in_channels, *roi]: the validate inferer's roi_size, else the training crop size."""
    train = config.get("train", {})
    args = (train.get("model") or {}).get("args", {})
    in_channels = int(args.get("in_channels", 1))
    dims = int(args.get("spatial_dims", args.get("dimensions", 3)))
    roi = ((config.get("validate") or {}).get("inferer") or {}).get("args", {}).get("roi_size")
    if not roi:
        for t in train.get("pre_transforms", []):
            if isinstance(t, dict) and "spatial_size" in t.get("args", {}):
                roi = t["args"]["spatial_size"]
    if not roi or any(int(s) <= 0 for s in roi):
        roi = [64] * dims
    return [1, in_channels, *[int(s) for s in roi]]


def _shape(value: Any) -> list[int]:
    if isinstance(value, str):
        value = json.loads(value)
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise ConfigError(
            f"input_shape {value!r} is not a list of integers",
            path="input_shape",
            expected="e.g. input_shape=[1,1,96,96,96]",
        ) from None


def run(ctx: TaskContext) -> Path:
    from mmar_hydra.run_paths import RunPaths
    from mmar_hydra.tasks.model_loading import network_for_checkpoint
    from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
    from mmar_hydra.writers.torchscript import export_torchscript

    config = ctx.mmar_config
    root = ctx.mmar_root
    settings = ctx.settings
    paths = RunPaths.for_task(ctx, config)
    model_path = paths.read(settings.model_path or config.get("MMAR_CKPT", "models/model.pt"))
    output = paths.write(
        settings.output_path or config.get("MMAR_TORCHSCRIPT", "models/model.ts"),
        where="output_path",
    )
    shape = _shape(settings.input_shape or default_input_shape(config))
    checkpoint = load_checkpoint(model_path)
    network = network_for_checkpoint(checkpoint, config, mmar_root=root, allow_code=ctx.allow_code)
    report = load_weights(network, state_dict_of(checkpoint), strict=True, file=str(model_path))
    train_conf = checkpoint.get("train_conf") or {
        k: v for k, v in config.items() if k != "mmar_source"
    }
    metadata = {
        "exported_by": "mmar_hydra",
        "source_checkpoint": str(model_path),
        "input_shape": shape,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "network": (config.get("train", {}).get("model") or {}).get("name"),
    }
    verify = not settings.ignore_verify
    check = export_torchscript(
        network,
        output,
        shape,
        extra={"train_conf.json": json.dumps(train_conf), "metadata.json": json.dumps(metadata)},
        verify=verify,
    )
    print(f"loaded {model_path} ({report.summary()})")
    if verify:
        print(
            f"verified on input {shape}: max |diff| {check['max_abs_diff']:.2e} "
            f"(rtol {check['rtol']}, atol {check['atol']})"
        )
    print(f"wrote {output}")
    return output
