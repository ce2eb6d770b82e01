"""``task=export [format=torchscript|onnx|pt2|[...]]``: model files from ``model.pt``.

The network is rebuilt from the ``train_conf`` stored in the checkpoint (how it was
trained), else from the training config (``config/config_train.json``; without one, the
MMAR's only ``config_train*.json``), says which, and loads the checkpoint's weights strictly.
Each format is checked against the eager model on the same input (unless
``ignore_verify=true``): TorchScript in torch, ONNX in onnxruntime on CPU, pt2 reloaded from
its bytes. Every file carries the model record (``writers/model_record.py``): the resolved
training config, the versions, the input/output format and the datalist's SHA-256.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.data_format import datalist_meta, default_input_shape, network_data_format
from mmar_hydra.bundle.data_format import training_datalist as datalist_of
from mmar_hydra.context import TaskContext
from mmar_hydra.engine.model_loading import network_for_checkpoint
from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import model_file
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.tasks.records import record_run
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
from mmar_hydra.writers.export_checks import check_sample_input, require_packages
from mmar_hydra.writers.model_record import datalist_record, package_versions, record_files
from mmar_hydra.writers.onnx import PACKAGES, write_onnx
from mmar_hydra.writers.pt2 import export_program, write_pt2
from mmar_hydra.writers.run_info import say_drift
from mmar_hydra.writers.torchscript import export_torchscript

__all__ = ["run", "default_input_shape", "FORMATS", "parse_formats", "export_record"]

FORMATS = {"torchscript": ".ts", "onnx": ".onnx", "pt2": ".pt2"}


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


def parse_formats(value: Any) -> list[str]:
    """``torchscript``, ``[onnx,pt2]`` or ``"onnx,pt2"`` -> the list of formats, checked."""
    if value is None or value == "":
        return ["torchscript"]
    items = value.replace("+", ",").split(",") if isinstance(value, str) else list(value)
    formats = list(dict.fromkeys(str(i).strip().lower() for i in items if str(i).strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(
            f"unknown export format {', '.join(unknown) or repr(value)}",
            path="format",
            expected="torchscript, onnx or pt2 (several: format=[onnx,pt2])",
            fix="e.g. format=onnx or format=[torchscript,onnx,pt2]",
        )
    return formats


def _outputs(
    paths: RunPaths, given: str | None, config: Mapping[str, Any], formats: list[str]
) -> dict[str, Path]:
    """Where each format goes: ``output_path`` as given (one format), else its stem per format."""
    base = given or model_file(config, "MMAR_TORCHSCRIPT")
    out = {}
    for fmt in formats:  # one format: output_path as given; several: its stem per format
        target = Path(str(base))
        if not (given and len(formats) == 1):
            target = target.with_suffix(FORMATS[fmt])
        out[fmt] = paths.write(target, where="output_path")
    return out


def export_record(
    train_conf: Mapping[str, Any], config: Mapping[str, Any], root: Path, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The model record's metadata: ``extra``, versions, data format and datalist hash."""

    datalist = datalist_of(config, root) or datalist_of(train_conf, root)
    task = str(config.get("PROCESSING_TASK", "segmentation"))
    return {
        **extra,
        "versions": package_versions(),
        "network_data_format": network_data_format(
            train_conf, datalist_meta(datalist), processing_task=task
        ),
        "datalist": datalist_record(datalist),
    }


def _has_model(conf: Any) -> Mapping[str, Any] | None:
    """``conf`` when it is a training config with a network (``train.model``), else None."""
    if isinstance(conf, Mapping) and isinstance(conf.get("train"), Mapping):
        return conf if "model" in conf["train"] else None
    return None


def _network_origin(ctx: TaskContext, checkpoint: Mapping[str, Any], model_path: Path) -> str:
    """Which config the network is built from, said once; a clean error when it is a guess.

    Raises:
        ConfigError: no ``config/config_train.json``, several ``config_train*.json`` and a
            checkpoint without the ``train_conf`` that would say which one trained it.
    """
    read = ctx.read
    if _has_model(checkpoint.get("train_conf")):
        return f"network from the train_conf embedded in {model_path.name}"
    if read is None:
        return f"network from the config ({model_path.name} carries no train_conf)"
    others = read.layout.training_configs()
    guessed = not ctx.settings.config_file and read.config_file.name != "config_train.json"
    if guessed and len(others) > 1:
        names = ", ".join(str(p.relative_to(ctx.mmar_root)) for p in others)
        raise ConfigError(
            f"{model_path.name} carries no train_conf, and the MMAR has no "
            f"config/config_train.json but several training configs: {names}",
            file=model_path,
            path="config_file",
            expected="the training config this checkpoint was trained with",
            fix=f"pass it, e.g. config_file={str(others[0].relative_to(ctx.mmar_root))}",
        )
    file = read.config_file.relative_to(ctx.mmar_root)
    return f"network from {file} ({model_path.name} carries no train_conf)"


def _say_check(fmt: str, check: Mapping[str, Any]) -> None:
    axes = check.get("dynamic_axes")
    dynamic = (
        f"; dynamic axes {axes}" if axes else ("; static shape" if fmt != "torchscript" else "")
    )
    if check.get("verified"):
        shapes = check.get("input_shapes") or [check.get("input_shape")]
        print(
            f"{fmt}: verified on input {' and '.join(str(list(s)) for s in shapes)}: "
            f"max |diff| {check['max_abs_diff']:.2e} (rtol {check['rtol']}, atol {check['atol']})"
            + dynamic
        )


def run(ctx: TaskContext) -> Path:

    config = ctx.mmar_config
    root = ctx.mmar_root
    settings = ctx.settings
    paths = ctx.paths
    formats = parse_formats(settings.format)
    model_path = paths.read(settings.model_path or model_file(config, "MMAR_CKPT"))
    outputs = _outputs(paths, settings.output_path, config, formats)
    checkpoint = load_checkpoint(model_path)
    say_drift(checkpoint.get("versions"), model_path)
    trained = checkpoint.get("train_conf")
    shape = _shape(settings.input_shape or default_input_shape(_has_model(trained) or config))
    print(f"export: {_network_origin(ctx, checkpoint, model_path)}")
    network = network_for_checkpoint(checkpoint, config, paths=paths, allow_code=ctx.allow_code)
    report = load_weights(network, state_dict_of(checkpoint), strict=True, file=str(model_path))
    print(f"loaded {model_path} ({report.summary()})")
    check_sample_input(network.eval().cpu(), shape, given=settings.input_shape is not None)
    # a train_conf that is not a training config (a string, a list) is not used, as above
    train_conf = _has_model(trained) or {k: v for k, v in config.items() if k != "mmar_source"}
    model = (_has_model(train_conf) or {"train": {}})["train"].get("model")
    extra = {
        "exported_by": "mmar_hydra",
        "source_checkpoint": str(model_path),
        "input_shape": shape,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "network": (model.get("name") or model.get("path")) if isinstance(model, Mapping) else None,
    }
    files = record_files(export_record(train_conf, config, root, extra), train_conf)
    verify = not settings.ignore_verify
    exported = None
    for fmt in formats:
        check = _export_one(fmt, network, outputs[fmt], shape, files, verify, exported)
        exported = check.pop("_exported", exported)
        _say_check(fmt, {**check, "input_shape": shape})
        print(f"wrote {outputs[fmt]}")
    written = {fmt: str(path) for fmt, path in outputs.items()}
    record_run(ctx, outputs[formats[0]].parent, config, extra={"exported": written})
    return outputs[formats[0]]


def _export_one(
    fmt: str,
    network: Any,
    path: Path,
    shape: list[int],
    files: dict[str, str],
    verify: bool,
    exported: Any,
) -> dict[str, Any]:
    """One format; the ``torch.export`` program is captured once and shared by onnx and pt2."""
    if fmt == "torchscript":
        return export_torchscript(network, path, shape, extra=files, verify=verify)

    if fmt == "onnx":  # the [export] extra: onnx, onnxruntime, onnxscript
        require_packages("onnx", *PACKAGES)
    exported = exported or export_program(network, shape)
    if fmt == "pt2":
        return {**write_pt2(exported, path, extra=files, verify=verify), "_exported": exported}
    return {**write_onnx(exported, path, metadata=files, verify=verify), "_exported": exported}
