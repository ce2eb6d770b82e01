"""What a bundle is made from: the training config as read (overrides kept), the network as
trained, and the MMAR's flat configs: validation -> ``evaluate.json``, inference ->
``inference.json``. ``task=bundle`` and the parity certificate read them the same way.

An MMAR without ``config_inference.json`` (the FL clients) inferred the way Clara's
``infer.sh`` did with ``config_validation.json``: ``do_validation=false
output_infer_result=true``. That rewrite (:mod:`mmar_hydra.tasks.eval_flags`: metrics off,
labels optional, the ``test`` split, predictions saved) is applied to the config as read
(``${VAR}``s kept), so ``inference.json`` still follows the bundle's ``@output_dir``; the
parity certificate's MMAR side runs the same rewritten config.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.configs import ConfigSource
from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.context import TaskContext, resolve_config
from mmar_hydra.engine.model_loading import network_for_checkpoint
from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import ENV_DEFAULTS, MODEL_FILES, model_file, undefined_variable
from mmar_hydra.reader.mmar_reader import read_mmar
from mmar_hydra.tasks.eval_flags import EvalFlags, apply_eval_flags
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of

__all__ = [
    "flat_sources",
    "flat_source",
    "inference_from_validation",
    "network_as_trained",
    "train_raw",
]

_EVAL_DIR = "MMAR_EVAL_OUTPUT_PATH"
_CKPT_VALIDATION = "config_validation_ckpt.json"  # Clara's commands/validate_ckpt.sh


def inference_from_validation(ctx: TaskContext, source: ConfigSource) -> ConfigSource:
    """``source`` (a validation config) rewritten for inference, as Clara's flags did."""
    from omegaconf import OmegaConf

    flags = EvalFlags(do_validation=False, output_infer_result=True)

    def rewrite(config: dict[str, Any]) -> dict[str, Any]:
        return apply_eval_flags(
            config,
            flags,
            mmar_root=ctx.mmar_root,
            infer_key=ctx.settings.infer_data_list_key,
            file=source.file,
            say=lambda *_: None,
        )

    resolved = rewrite(source.resolved)  # the split it picks needs the datalist's real path
    raw = copy.deepcopy(source.raw)
    eval_dir = raw.get(_EVAL_DIR)
    raw[_EVAL_DIR] = "${" + _EVAL_DIR + "}"  # an added SaveImaged writes to @output_dir
    before = len(raw.get("post_transforms") or [])
    raw = rewrite(raw)
    posts = raw.get("post_transforms") or []
    # the rewrite inverts predictions to the input's space before saving them; after a
    # validation config's post transforms (AsDiscreted on pred and label) the inversion has
    # no MetaTensor to read, so predictions are saved in the network's space
    raw["post_transforms"] = posts[:before] + [
        t for t in posts[before:] if not (isinstance(t, dict) and t.get("name") == "Invertd")
    ]
    raw["post_transforms"] = [_without_label(t) for t in raw["post_transforms"]]
    if eval_dir is None:
        raw.pop(_EVAL_DIR, None)
    else:
        raw[_EVAL_DIR] = eval_dir
    dataset, chosen = raw.get("dataset"), resolved.get("dataset")
    if isinstance(dataset, dict) and isinstance(chosen, dict) and "data_list_key" in chosen:
        dataset["data_list_key"] = chosen["data_list_key"]
    return ConfigSource(source.file, raw, resolve_config(OmegaConf.create(raw), source.file))


def _without_label(spec: Any) -> Any:
    """A post transform without the ``label`` key (inference cases have none; MONAI's engine
    hands post transforms ``label: None``, which ``allow_missing_keys`` does not skip), and
    without the label's entry of per-key argument lists (``argmax: [true, false]``)."""
    args = spec.get("args") if isinstance(spec, dict) else None
    if not isinstance(args, dict):
        return spec
    keys = args.get("keys")
    if not isinstance(keys, list) or "label" not in keys or len(keys) < 2:
        return spec
    i = keys.index("label")
    new_args = {
        k: [x for j, x in enumerate(v) if j != i]
        if isinstance(v, list) and len(v) == len(keys)
        else v
        for k, v in args.items()
    }
    return {**spec, "args": new_args}


def flat_sources(
    ctx: TaskContext, train_raw: dict[str, Any], report: ConversionReport
) -> dict[str, ConfigSource]:
    """``{"evaluate": ..., "inference": ...}`` for the configs the MMAR has (or implies)."""

    out = {}
    for task, name in (("validate", "evaluate"), ("infer", "inference")):
        source = flat_source(ctx, task, train_raw, report)
        if source is not None:
            out[name] = source
    ckpt = ctx.mmar_root / "config" / _CKPT_VALIDATION
    if "evaluate" not in out and _has_content(ckpt):  # cte_fl_admin_ea: its validation is {}
        out["evaluate"] = flat_source(ctx, "validate", train_raw, report, path=ckpt)
        report.add(
            "changed",
            f"config/{_CKPT_VALIDATION}",
            "configs/evaluate.json is the MMAR's checkpoint validation config (Clara's "
            "commands/validate_ckpt.sh), as config_validation.json has none",
        )
    if "inference" not in out and "evaluate" in out:
        out["inference"] = inference_from_validation(ctx, out["evaluate"])
        report.add(
            "changed",
            "config/config_inference.json",
            f"the MMAR has none: configs/inference.json is {out['evaluate'].file} with "
            "do_validation=false output_infer_result=true (as Clara's infer.sh ran it)",
        )
    return out


def _has_content(path: Path) -> bool:
    """A file that holds more than ``{}`` (some MMARs ship empty configs as published)."""
    return path.is_file() and "".join(path.read_text(errors="replace").split()) not in ("", "{}")


def flat_source(
    ctx: TaskContext,
    task: str,
    train_raw: dict[str, Any],
    report: ConversionReport,
    *,
    path: Path | None = None,
) -> Any:
    """A flat MMAR config with the training config's environment values (overrides included);
    ``path``: another flat config of the MMAR than the task's default one."""
    from omegaconf import OmegaConf

    read = ctx.read
    assert read is not None
    try:
        path = path or read.layout.config_file_for(task)
    except ConfigError:  # the MMAR has no such config (a broken one is an error below)
        return None
    if path.is_file() and not _has_content(path):
        rel_path = path.relative_to(ctx.mmar_root)
        report.add("dropped", str(rel_path), "empty as published ({}): nothing to convert")
        return None
    flat = read_mmar(
        ctx.mmar_root, task=task, config_file=str(path), env_file=ctx.settings.env_file
    )
    for note in flat.notes:
        report.add("changed", f"{note.file}: {note.path}", f"{note.old} -> {note.new} (compat)")
    raw = {k: v for k, v in flat.config.items() if k != "mmar_source"}
    for key in (*ENV_DEFAULTS, *read.env):
        if key in train_raw and key in raw:
            raw[key] = train_raw[key]
    rel = str(flat.config_file.relative_to(ctx.mmar_root))
    for name, usual in MODEL_FILES.items():  # what the bundle's model was made from
        if undefined_variable(raw.get(name)) == name:
            raw[name] = (
                ctx.settings.model_path
                if name == "MMAR_CKPT" and ctx.settings.model_path
                else usual
            )
            report.add(
                "changed",
                f"{rel}: {name}",
                f"defined nowhere in the MMAR (broken as published): {raw[name]}, the "
                "model the bundle is made from",
            )
    return ConfigSource(rel, raw, resolve_config(OmegaConf.create(raw), rel))


def network_as_trained(ctx: TaskContext, config: dict, report: ConversionReport) -> tuple:
    """(checkpoint, the train config whose model it fits, the loaded network), checked strictly."""

    model_path = ctx.mmar_root / str(ctx.settings.model_path or model_file(config, "MMAR_CKPT"))
    checkpoint = load_checkpoint(model_path)
    trained = checkpoint.get("train_conf")
    ours = (config.get("train") or {}).get("model")
    conf = config
    if isinstance(trained, dict) and (trained.get("train") or {}).get("model") not in (None, ours):
        conf = trained
        source = ctx.read.config_file.name if ctx.read else "config"
        report.add(
            "changed",
            f"{source}: train.model",
            "the checkpoint was trained with other model args; network_def is the "
            "checkpoint's train_conf model: " + str(trained["train"]["model"].get("args")),
        )
    network = network_for_checkpoint(checkpoint, conf, paths=ctx.paths, allow_code=ctx.allow_code)
    loaded = load_weights(network, state_dict_of(checkpoint), strict=True, file=str(model_path))
    print(f"model: {model_path} ({loaded.summary()})")
    return checkpoint, conf, network.eval()


def train_raw(ctx: TaskContext) -> dict[str, Any]:
    """The training config as read, with the command line's overrides and ``${VAR}``s kept."""
    from omegaconf import OmegaConf

    config = ctx.mmar_config
    container: Any = OmegaConf.to_container(ctx.cfg, resolve=False)
    return {k: v for k, v in container.items() if k in config and k != "mmar_source"}
