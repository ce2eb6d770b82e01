"""Validation and inference through both sides, from the same checkpoint.

MMAR side: mmar_hydra's own evaluation loop (``engine.evaluation.evaluate``, the one
``task=validate`` / ``task=infer`` run) on the MMAR's flat configs, after Clara's evaluation
flags, with the network loaded from ``models/model.pt``. Bundle side: ``monai.bundle``'s
``ConfigWorkflow`` on ``configs/evaluate.json`` / ``inference.json`` (its ``initialize``
loads the same ``models/model.pt`` with its ``CheckpointLoader``), then ``run()``: what
``python -m monai.bundle run`` does. Per-case values of the key metric come from each side's
metric buffer (MONAI's ``metric_details`` on the bundle side); saved segmentations are
compared voxel by voxel, with their affines.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.verify import bundle_on_path, config_workflow
from mmar_hydra.components.builder import build_eval
from mmar_hydra.engine.evaluation import evaluate
from mmar_hydra.run_paths import RunPaths

__all__ = [
    "mmar_evaluation",
    "bundle_evaluation",
    "compare_segmentations",
    "case_name",
    "per_case",
]

_TRAINER = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}


def case_name(filename: Any) -> str:
    """A case's key: its image file name without the NIfTI / image suffixes."""
    name = Path(str(filename)).name
    for suffix in (".nii.gz", ".nii", ".mha", ".nrrd", ".png", ".jpg", ".npy"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def per_case(filenames: list[str], values: Any) -> dict[str, float]:
    """{case: mean over classes} of a [N, C] metric buffer (MetricsSaver's ``mean`` column)."""
    import numpy as np

    if not filenames:
        return {}
    array = np.asarray(values, dtype=float).reshape(len(filenames), -1)
    return {case_name(f): float(np.nanmean(row)) for f, row in zip(filenames, array, strict=True)}


def mmar_evaluation(
    config: Mapping[str, Any], network: Any, *, paths: RunPaths, allow_code: bool
) -> dict[str, Any]:
    """mmar_hydra's evaluation of a resolved flat config with ``network`` (``paths``: the
    task's, whose MMAR the config's relative paths start from).

    Returns ``{"metric": key label or None, "cases": {case: value}}``.
    """
    parts = build_eval(config, paths=paths, allow_code=allow_code, train_model=network)
    result = evaluate(network, parts, _TRAINER)
    key = next((m.log_label for m in parts.metrics if m.is_key), None)
    cases = per_case(*result["details"][key]) if key in result["details"] else {}
    return {"metric": key, "cases": cases}


def _collect_names(names: list[str]) -> Any:
    def collect(engine: Any) -> None:
        batch = engine.state.batch
        items = batch if isinstance(batch, list) else [batch]
        for item in items:
            meta = getattr(item.get("image"), "meta", None) or item.get("image_meta_dict") or {}
            found = meta.get("filename_or_obj", "?")
            names.extend(found if isinstance(found, list | tuple) else [found])

    return collect


def bundle_evaluation(bundle: Path, config: str, *, output_dir: Path) -> dict[str, Any]:
    """``ConfigWorkflow`` of ``configs/<config>`` (initialize, run, finalize), outputs in
    ``output_dir``. Returns ``{"metric": key label or None, "cases": {case: value}}``."""
    from ignite.engine import Events

    bundle = Path(bundle).resolve()
    with bundle_on_path(bundle):
        workflow = config_workflow(bundle, config, None, output_dir=str(output_dir))
        workflow.initialize()
        evaluator = workflow.parser.get_parsed_content("evaluator")
        names: list[str] = []
        evaluator.add_event_handler(Events.ITERATION_COMPLETED, _collect_names(names))
        workflow.run()
        workflow.finalize()
    key = getattr(evaluator.state, "key_metric_name", None)
    details = (getattr(evaluator.state, "metric_details", None) or {}).get(key)
    cases = per_case(names, details.cpu().numpy()) if key and details is not None else {}
    return {"metric": key, "cases": cases}


def _images(folder: Path) -> dict[str, Path]:
    files = [p for p in Path(folder).rglob("*") if p.name.endswith((".nii.gz", ".nii"))]
    return {str(p.relative_to(folder)): p for p in sorted(files)}


def compare_segmentations(mmar_dir: Path, bundle_dir: Path) -> dict[str, Any]:
    """Voxel agreement and affine difference of the segmentations both sides saved.

    Files pair by their path relative to each output folder (SaveImaged's
    ``<case>/<case>_<postfix>.nii.gz``). Returns ``{"cases": [...], "missing": [...]}``.
    """
    import nibabel as nib
    import numpy as np

    ours, theirs = _images(mmar_dir), _images(bundle_dir)
    rows = []
    for rel in sorted(set(ours) & set(theirs)):
        a: Any = nib.load(ours[rel])
        b: Any = nib.load(theirs[rel])
        x, y = np.asarray(a.dataobj), np.asarray(b.dataobj)
        same_shape = x.shape == y.shape
        rows.append(
            {
                "file": rel,
                "shape": list(x.shape),
                "same_shape": same_shape,
                "voxel_agreement": float((x == y).mean()) if same_shape else 0.0,
                "affine_max_abs_diff": float(np.abs(a.affine - b.affine).max()),
            }
        )
    missing = [f"only the MMAR wrote {r}" for r in sorted(set(ours) - set(theirs))]
    missing += [f"only the bundle wrote {r}" for r in sorted(set(theirs) - set(ours))]
    return {"cases": rows, "missing": missing}
