"""Clara 4.0's inversion flow: the ``TransformInverter`` and ``SegmentationSaver`` handlers.

In Clara 4.0 (MONAI 0.5) both were ignite handlers. ``TransformInverter`` (``output_keys:
["pred"]``, ``batch_keys: "image"``, ``postfix: "inverted"``) undid the pre transforms on the
prediction and stored it under ``<key>_<postfix>`` (``pred_inverted``), keeping ``pred`` as it
was; ``SegmentationSaver`` and the metrics then read it with ``lambda x: x['pred_inverted']``.
Both became post transforms, appended to the section's ``post_transforms`` in handler order
(the handlers ran after the post transforms):

- ``TransformInverter`` -> ``CopyItemsd(pred -> pred_inverted)`` + ``Invertd(pred_inverted,
  transform=@pre_transforms, orig_keys=image)``: ``pred`` stays in the network's space;
- ``SegmentationSaver`` -> ``SaveImaged`` of the key its ``output_transform`` picks; an
  ``output_transform`` that is code (``__import__('monai').transforms.AsDiscrete(...)``)
  first runs as :class:`~mmar_hydra.components.output_transform.OutputTransformd` on the
  case, which needs ``allow_code=true`` like any code string.

Metrics honour their own ``output_transform`` (``engine.module``), so ``lambda x:
(x['pred_inverted'], x['label'])`` is computed in the input's space.
"""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["INVERSION_RULES", "handler_to_transforms", "lambda_key"]

INVERSION_RULES: list[tuple[str, str, str]] = [
    (
        '`TransformInverter` (`output_keys`, `postfix: "inverted"`)',
        "`CopyItemsd` to `<key>_<postfix>` + `Invertd` of that key (post transforms)",
        "`<key>` stays in the network's space, as Clara kept it",
    ),
    (
        "`SegmentationSaver` with a code `output_transform` (`__import__('monai')...`)",
        "`OutputTransformd` (the lambda on the case) + `SaveImaged`; needs `allow_code=true`",
        "the handler left MONAI",
    ),
    (
        "a metric's `output_transform` (`lambda x: (x['pred_inverted'], x['label'])`)",
        "applied to each case",
        "the metric reads the keys it names",
    ),
]

# SegmentationSaver args SaveImaged still takes, and SegmentationSaver's own defaults
_SAVER_ARGS = (
    "output_dir output_postfix output_ext resample mode padding_mode scale dtype output_dtype "
    "squeeze_end_dims data_root_dir separate_folder"
).split()
_SAVER_DEFAULTS = {"output_postfix": "seg", "resample": True}
_SAVED_KEY = "saved"  # OutputTransformd's key: `<key>_saved`
_OUTPUT_TRANSFORMD = "mmar_hydra.components.output_transform.OutputTransformd"


def lambda_key(text: Any, default: str) -> str:
    """``"lambda x: x['pred']"`` -> ``"pred"``: the key an output_transform picks."""
    found = re.findall(r"\[\s*['\"](\w+)['\"]\s*\]", text) if isinstance(text, str) else []
    return found[0] if len(found) == 1 else default


def _is_plain_key(text: Any) -> bool:
    """``lambda x: x['k']`` (or no output_transform): nothing but a key is picked."""
    if not isinstance(text, str):
        return True
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return False
    return (
        isinstance(tree, ast.Lambda)
        and isinstance(tree.body, ast.Subscript)
        and isinstance(tree.body.value, ast.Name)
        and isinstance(tree.body.slice, ast.Constant)
    )


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def handler_to_transforms(name: str, handler: dict[str, Any]) -> list[dict[str, Any]]:
    """The post transforms doing what Clara 4.0's ``name`` handler did (see the module doc).

    Args:
        name: ``TransformInverter`` or ``SegmentationSaver``.
        handler: the handler's component dict as written.
    """
    args = handler.get("args") or {}
    common = {k: handler[k] for k in ("disabled",) if k in handler}
    if name == "TransformInverter":
        keys = _list(args.get("output_keys", "pred"))
        postfix = args.get("postfix", "inverted")
        inverted = [f"{k}_{postfix}" for k in keys] if postfix else keys
        extra = {k: args[k] for k in ("nearest_interp", "to_tensor", "device") if k in args}
        invert = {
            "keys": inverted,
            "transform": "@pre_transforms",
            "orig_keys": args.get("batch_keys", "image"),
            **extra,
        }
        posts = []
        if postfix:
            copy = {"keys": keys, "times": 1, "names": inverted}
            posts.append({"name": "CopyItemsd", **common, "args": copy})
        return [*posts, {"name": "Invertd", **common, "args": invert}]
    transform = args.get("output_transform")
    key = lambda_key(transform, "pred")
    saver = {k: args[k] for k in _SAVER_ARGS if k in args}
    posts = []
    if not _is_plain_key(transform):
        saved = f"{key}_{_SAVED_KEY}"
        code = {"func": transform, "key": saved, "like": key}
        posts.append(
            {"name": "OutputTransformd", "path": _OUTPUT_TRANSFORMD, **common, "args": code}
        )
        key = saved
    save = {"keys": key, **_SAVER_DEFAULTS, **saver}
    return [*posts, {"name": "SaveImaged", **common, "args": save}]
