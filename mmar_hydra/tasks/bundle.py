"""``task=bundle out=DIR``: the MMAR and its trained model as a MONAI bundle.

The training config (after the compat layer, with the command line's overrides) becomes
``configs/train.json`` and ``multi_gpu_train.json``; ``config_validation.json`` and
``config_inference.json`` become ``evaluate.json`` and ``inference.json``. ``model.pt`` is
saved as a bare state dict; ``custom/`` is copied to ``scripts/``. What does not convert is
listed in ``conversion_report.md`` and printed. The folder is written all or nothing.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.components import custom_modules
from mmar_hydra.bundle.configs import LOGGING_CONF, BundleConfigs, ConfigSource
from mmar_hydra.bundle.data_format import (
    datalist_meta,
    default_input_shape,
    network_data_format,
    training_datalist,
)
from mmar_hydra.bundle.metadata import build_metadata, docs_text
from mmar_hydra.bundle.model_card import model_card
from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.bundle.schema import META_SCHEMA, SCHEMA_FILE
from mmar_hydra.bundle.triton import write_repository
from mmar_hydra.bundle.writer import BundleWriter
from mmar_hydra.components.builder import check_config
from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError, ErrorGroup
from mmar_hydra.mmar.layout import model_file
from mmar_hydra.tasks.bundle_sources import flat_sources, network_as_trained, train_raw
from mmar_hydra.tasks.parity import write_certificate
from mmar_hydra.tasks.records import record_run
from mmar_hydra.writers.checkpoints import state_dict_of
from mmar_hydra.writers.export_checks import sample_input
from mmar_hydra.writers.model_record import datalist_record, package_versions
from mmar_hydra.writers.torchscript import load_torchscript

__all__ = ["run", "bundle_packages"]

_FLAT = (("validate", "evaluate.json"), ("infer", "inference.json"))


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def bundle_packages(train_json: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(required, optional) packages and installed versions for the bundle's metadata."""
    text = str(train_json)
    required = ["pytorch-ignite", "nibabel"]
    if "TensorBoardStatsHandler" in text:
        required.append("tensorboard")
    optional = ["fire", "onnx", "onnxruntime"]
    req = {n: v for n in required if (v := _version(n))}
    opt = {n: v for n in optional if (v := _version(n))}
    return req, opt


def _torchscript_of(network: Any, ts: Path, conf: dict, report: ConversionReport) -> bool:
    """True when ``ts`` is the TorchScript of ``network`` (same output on a sample input)."""
    import torch

    if not ts.is_file():
        report.add("info", str(ts), "no TorchScript model: run task=export to ship models/model.ts")
        return False
    x = sample_input(default_input_shape(conf))
    with torch.no_grad():
        diff = float((load_torchscript(ts)(x) - network(x)).abs().max())
    if diff > 1e-4:
        report.add(
            "dropped",
            str(ts),
            f"not the export of the checkpoint (max |diff| {diff:.3g}): left out; "
            "run task=export and convert again",
        )
        return False
    return True


def run(ctx: TaskContext) -> Path:

    read = ctx.read
    assert read is not None
    out = ctx.settings.out
    if not out:
        raise ConfigError(
            "task=bundle needs an output folder", path="out", expected="out=DIR", fix="out=bundle"
        )
    if read.kind != "train":
        raise ConfigError(
            "task=bundle converts from the training config",
            file=read.config_file,
            expected="config_train.json-style content (train and validate sections)",
            fix="pick it with config_file=config/config_train.json",
        )
    config = ctx.mmar_config
    problems = check_config(config, paths=ctx.paths, allow_code=ctx.allow_code, check_data=False)
    if problems:
        raise ErrorGroup.of(problems)
    report = ConversionReport(source=str(ctx.mmar_root))
    for note in read.notes:
        report.add("changed", f"{note.file}: {note.path}", f"{note.old} -> {note.new} (compat)")
    checkpoint, trained_conf, network = network_as_trained(ctx, config, report)
    raw = train_raw(ctx)
    rel = str(read.config_file.relative_to(ctx.mmar_root))
    custom = custom_modules(ctx.mmar_root / "custom")
    builder = BundleConfigs(ctx.mmar_root, ConfigSource(rel, raw, config), custom, report)
    if trained_conf is not config:
        builder.network_def = builder.plain_component(trained_conf["train"]["model"], "train.model")
    files = _configs(ctx, builder, trained_conf)
    metadata = _metadata(ctx, builder.train.file, trained_conf, files["train.json"])
    ts = ctx.mmar_root / str(model_file(config, "MMAR_TORCHSCRIPT"))
    ship_ts = _torchscript_of(network, ts, trained_conf, report)
    writer = BundleWriter(Path(str(out)), force=ctx.settings.force)
    try:
        _fill(writer, ctx.mmar_root, files, metadata, checkpoint, trained_conf, report)
        if ship_ts:
            writer.copy(ts, "models/model.ts")
        if ctx.settings.deploy:
            _deploy(writer, network, metadata, report)
        writer.text("conversion_report.md", report.markdown())
        bundle = writer.commit()
    except BaseException:
        writer.abort()
        raise
    for line in report.console_lines():
        print(line)
    record_run(ctx, Path(bundle))  # how the bundle was made, beside its configs/
    print(f"wrote bundle {bundle} ({len(writer.files)} files; see its conversion_report.md)")
    if ctx.settings.parity:
        write_certificate(ctx, Path(bundle), side=(config, trained_conf, network))
    return bundle


def _deploy(writer: BundleWriter, network: Any, metadata: dict, report: ConversionReport) -> None:
    """``triton/<name>/``: the ONNX model and its config.pbtxt (a network the ONNX exporter
    cannot translate is reported, and the bundle is written without it)."""

    try:
        spec, check = write_repository(
            writer.tmp, writer.out.name, network, metadata["network_data_format"]
        )
    except Exception as exc:  # noqa: BLE001 - any exporter failure: the bundle goes on without
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        report.add("dropped", "triton/", f"no Triton model: {type(exc).__name__}: {reason}")
        return
    folder = f"triton/{spec.name}"
    writer.files += [f"{folder}/config.pbtxt", f"{folder}/1/model.onnx"]
    writer.copy(writer.path(f"{folder}/1/model.onnx"), "models/model.onnx")
    report.add(
        "info",
        folder,
        f"Triton model (platform onnxruntime_onnx): input {spec.input_name} {spec.input_dims}, "
        f"output {spec.output_name} {spec.output_dims}, max_batch_size {spec.max_batch_size} "
        f"(the inferer's roi_size and sw_batch_size); onnxruntime vs PyTorch max |diff| "
        f"{check['max_abs_diff']:.2g}",
    )


def _configs(ctx: TaskContext, builder: Any, trained_conf: dict) -> dict[str, dict]:
    """configs/*.json: train, multi_gpu_train, and evaluate / inference when the MMAR has them."""
    train_json = builder.train_json()
    # flat configs have no training globals: their network_def holds the values themselves
    plain_net = builder.plain_component(trained_conf["train"]["model"], "train.model")
    files = {"train.json": train_json, "multi_gpu_train.json": builder.multi_gpu_train_json()}

    sources = flat_sources(ctx, builder.train.raw, builder.report)
    for task, name in _FLAT:
        source = sources.get(name.removesuffix(".json"))
        if source is None:
            clara = "config_validation.json" if task == "validate" else "config_inference.json"
            builder.report.add(
                "dropped", f"config/{clara}", f"the MMAR has none: configs/{name} not written"
            )
            continue
        files[name] = builder.flat_json(source, plain_net)
    return files


def _metadata(ctx: TaskContext, config_file: str, trained_conf: dict, train_json: dict) -> dict:

    config, root = ctx.mmar_config, ctx.mmar_root
    datalist = training_datalist(config, root)
    info = datalist_meta(datalist)
    task = str(config.get("PROCESSING_TASK", "segmentation"))
    required, optional = bundle_packages(train_json)
    return build_metadata(
        root=root,
        data_format=network_data_format(trained_conf, info, processing_task=task),
        versions=package_versions(),
        processing_task=task,
        datalist=datalist_record(datalist),
        datalist_info=info,
        required=required,
        optional=optional,
        source={
            "mmar": str(root),
            "config_file": config_file,
            "train_conf": "models/train_conf.json",
            "eval_dir": str(config.get("MMAR_EVAL_OUTPUT_PATH", "eval")),
        },
    )


def _fill(
    writer: BundleWriter,
    root: Path,
    files: dict[str, dict],
    metadata: dict,
    checkpoint: dict,
    trained_conf: dict,
    report: ConversionReport,
) -> None:
    """Everything but conversion_report.md (written last, once the report is complete)."""

    writer.json("configs/metadata.json", metadata)
    writer.json(SCHEMA_FILE, META_SCHEMA)  # verify_metadata --filepath: no download
    for name, data in files.items():
        writer.json(f"configs/{name}", data)
    writer.text("configs/logging.conf", LOGGING_CONF)
    writer.weights("models/model.pt", state_dict_of(checkpoint))
    writer.json(
        "models/train_conf.json", {k: v for k, v in trained_conf.items() if k != "mmar_source"}
    )
    license_file = root / "docs" / "license.txt"
    if license_file.is_file():
        writer.copy(license_file, "LICENSE")
        writer.copy(license_file, "docs/license.txt")
    else:
        report.add("dropped", "docs/license.txt", "the MMAR has no license file: no LICENSE")
    if (root / "custom").is_dir():
        for rel in writer.scripts(root / "custom"):
            report.add("info", f"custom/{rel.split('/', 1)[1]}", f"copied to {rel}")
    writer.text("docs/README.md", model_card(docs_text(root), metadata, report, root.name))
