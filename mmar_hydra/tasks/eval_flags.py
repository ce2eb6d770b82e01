"""Clara's evaluation flags, ``do_validation`` and ``output_infer_result``, on any flat config.

Clara's documentation runs inference through the validation config::

    medl.apps.evaluate -c config/config_validation.json \\
        --set DATASET_JSON=$MMAR_ROOT/config/dataset_0.json output_infer_result=true do_validation=false

so ``config_validation.json`` serves both validate.sh and infer.sh, and these two variables are
the only difference. They are Clara variables (globals, environment.json or ``--set``), read from
the resolved config, and they rewrite it before it is checked and built:

- ``do_validation=false``: no metrics (``key_metric``, ``additional_metrics``, MetricsSaver and
  the evaluator's references to them are dropped), and no labels needed: every transform whose
  ``keys`` name ``label`` gets ``allow_missing_keys=true``. The dataset reads the datalist's
  ``infer_data_list_key`` split (``test`` by default: the cases without labels) when the datalist
  has it, else the config's own split.
- ``output_infer_result=true``: the config's SaveImaged post transforms are enabled; a config
  without one gets an Invertd (back to the input's space, unless it inverts already) and a
  SaveImaged writing ``<case>/<case>_seg.nii.gz`` under ``MMAR_EVAL_OUTPUT_PATH``, as
  ``task=infer`` writes them. ``output_infer_result=false`` disables the SaveImaged transforms;
  when the variable is not set, the config decides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, json_path
from mmar_hydra.reader.jsonfile import load_json

__all__ = ["EvalFlags", "apply_eval_flags", "LABEL_KEY"]

LABEL_KEY = "label"
_METRIC_SECTIONS = ("key_metric", "additional_metrics", "metrics")
_METRIC_REFS = {"@key_metric", "@additional_metrics", "@metrics"}
_TRANSFORM_LISTS = ("pre_transforms", "post_transforms")


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _name(spec: Any) -> str:
    return str(spec.get("name") or spec.get("path") or "").rsplit(".", 1)[-1].lower()


@dataclass(frozen=True)
class EvalFlags:
    """The two flags as a run sets them.

    Args:
        do_validation: compute metrics (Clara's default); ``False``: inference only.
        output_infer_result: write predictions; ``None`` when unset (the config decides).
    """

    do_validation: bool = True
    output_infer_result: bool | None = None

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> EvalFlags:
        """The flags of a resolved config (its globals, environment.json and overrides)."""
        do_validation = _flag(config.get("do_validation"))
        return cls(
            do_validation=True if do_validation is None else do_validation,
            output_infer_result=_flag(config.get("output_infer_result")),
        )


def _without_metrics(config: dict[str, Any]) -> None:
    for key in _METRIC_SECTIONS:
        config.pop(key, None)
    handlers = config.get("handlers")
    if isinstance(handlers, list):
        config["handlers"] = [
            h for h in handlers if not (isinstance(h, dict) and _name(h) == "metricssaver")
        ]
    evaluator = config.get("evaluator")
    if isinstance(evaluator, dict) and isinstance(evaluator.get("args"), dict):
        args = evaluator["args"]
        evaluator["args"] = {k: v for k, v in args.items() if v not in _METRIC_REFS}


def _names_label(value: Any) -> bool:
    return value == LABEL_KEY or (isinstance(value, list) and LABEL_KEY in value)


def _labels_optional(config: dict[str, Any], file: str | None) -> None:
    """``allow_missing_keys`` where ``keys`` name the label; any other use of it is an error."""
    for section in _TRANSFORM_LISTS:
        for i, spec in enumerate(config.get(section) or []):
            if not isinstance(spec, dict) or not isinstance(spec.get("args"), dict):
                continue
            args = spec["args"]
            for key, value in args.items():
                if key != "keys" and _names_label(value):
                    raise ConfigError(
                        f"do_validation=false, but {spec.get('name')} needs the label",
                        file=file,
                        path=json_path(section, i, "args", key),
                        expected="transforms that read 'label' only through their keys",
                        fix="run with do_validation=true (with labels), or use "
                        "config/config_inference.json (task=infer)",
                    )
            if _names_label(args.get("keys")):
                args["allow_missing_keys"] = True


def _pick_split(
    config: dict[str, Any], infer_key: str | None, mmar_root: Path, say: Callable[[str], None]
) -> None:

    dataset = config.get("dataset")
    if not infer_key or not isinstance(dataset, dict) or "data_list_file_path" not in dataset:
        return
    current = str(dataset.get("data_list_key", "training"))
    path = Path(mmar_root) / str(dataset["data_list_file_path"])
    try:
        splits = load_json(path, what="datalist")
    except Exception:  # noqa: BLE001 - the check that follows reports a missing or bad datalist
        return
    if current == infer_key:
        return
    if isinstance(splits, dict) and infer_key in splits:
        dataset["data_list_key"] = infer_key
        say(f"do_validation=false: inferring the '{infer_key}' split of {path}")
    else:
        say(f"do_validation=false: {path} has no '{infer_key}' split, inferring '{current}'")


def _savers(config: dict[str, Any]) -> list[dict[str, Any]]:
    posts = config.get("post_transforms") or []
    return [t for t in posts if isinstance(t, dict) and _name(t) == "saveimaged"]


def _write_predictions(config: dict[str, Any], say: Callable[[str], None]) -> None:
    savers = _savers(config)
    if not savers:
        posts = config.setdefault("post_transforms", [])
        if not any(isinstance(t, dict) and _name(t) == "invertd" for t in posts):
            posts.append(
                {
                    "name": "Invertd",
                    "args": {
                        "keys": "pred",
                        "transform": "@pre_transforms",
                        "orig_keys": "image",
                        "nearest_interp": True,
                        "to_tensor": True,
                    },
                }
            )
        eval_dir = str(config.get("MMAR_EVAL_OUTPUT_PATH") or "eval")
        savers = [
            {
                "name": "SaveImaged",
                "args": {
                    "keys": "pred",
                    "output_dir": eval_dir,
                    "output_postfix": "seg",
                    "resample": False,
                    "squeeze_end_dims": True,
                },
            }
        ]
        posts.extend(savers)
    for saver in savers:
        saver.pop("disabled", None)
    dirs = sorted({str((s.get("args") or {}).get("output_dir", ".")) for s in savers})
    say("output_infer_result=true: predictions go to " + ", ".join(dirs))


def apply_eval_flags(
    config: Mapping[str, Any],
    flags: EvalFlags,
    *,
    mmar_root: Path,
    infer_key: str | None = "test",
    file: str | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """A copy of the resolved flat ``config`` rewritten for ``flags`` (see the module docstring).

    Args:
        config: the resolved validation / inference config.
        flags: what the run asked for.
        mmar_root: the MMAR root (the datalist path is relative to it).
        infer_key: the datalist split to infer with ``do_validation=false`` (``None``: keep).
        file: the config file, for error messages.
        say: prints one line per decision.
    """
    out = copy.deepcopy(dict(config))
    if not flags.do_validation:
        _without_metrics(out)
        _labels_optional(out, file)
        _pick_split(out, infer_key, mmar_root, say)
    if flags.output_infer_result:
        _write_predictions(out, say)
    elif flags.output_infer_result is False:
        for saver in _savers(out):
            saver["disabled"] = True
    if not flags.do_validation and not flags.output_infer_result and not _enabled_savers(out):
        say("do_validation=false and no predictions written: add output_infer_result=true")
    return out


def _enabled_savers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _savers(config) if not _flag(s.get("disabled"))]
