"""The MMAR's flat configs a bundle is made from: validation -> ``evaluate.json``,
inference -> ``inference.json``.

An MMAR without ``config_inference.json`` (the FL clients) inferred the way Clara's
``infer.sh`` did with ``config_validation.json``: ``do_validation=false
output_infer_result=true``. That rewrite (:mod:`mmar_hydra.tasks.eval_flags`: metrics off,
labels optional, the ``test`` split, predictions saved) is applied to the config as read
(``${VAR}``s kept), so ``inference.json`` still follows the bundle's ``@output_dir``; the
parity certificate's MMAR side runs the same rewritten config.
"""

from __future__ import annotations

import copy
from typing import Any

from mmar_hydra.bundle.configs import ConfigSource
from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.context import TaskContext

__all__ = ["flat_sources", "inference_from_validation"]

_EVAL_DIR = "MMAR_EVAL_OUTPUT_PATH"


def inference_from_validation(ctx: TaskContext, source: ConfigSource) -> ConfigSource:
    """``source`` (a validation config) rewritten for inference, as Clara's flags did."""
    from omegaconf import OmegaConf

    from mmar_hydra.context import resolve_config
    from mmar_hydra.tasks.eval_flags import EvalFlags, apply_eval_flags

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
    from mmar_hydra.tasks.bundle import flat_source

    out = {}
    for task, name in (("validate", "evaluate"), ("infer", "inference")):
        source = flat_source(ctx, task, train_raw, report)
        if source is not None:
            out[name] = source
    if "inference" not in out and "evaluate" in out:
        out["inference"] = inference_from_validation(ctx, out["evaluate"])
        report.add(
            "changed",
            "config/config_inference.json",
            f"the MMAR has none: configs/inference.json is {out['evaluate'].file} with "
            "do_validation=false output_infer_result=true (as Clara's infer.sh ran it)",
        )
    return out
