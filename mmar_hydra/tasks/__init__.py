"""The tasks ``python -m mmar_hydra task=NAME`` runs, one module each, imported lazily.

Lazy imports keep start-up fast: ``task=check`` never imports Lightning, and no task imports
what another needs.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

from mmar_hydra.errors import ConfigError

__all__ = ["TaskSpec", "TASKS", "get_task"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    module: str  # module under mmar_hydra.tasks with a `run(ctx)` function
    needs_mmar: bool
    summary: str
    reader_task: str = ""  # which config file the reader picks by default (see MMARLayout)
    run_dir: bool = True  # False: the task writes no run folder (no Hydra outputs/)
    sweep_clone: bool = False  # a job of a -m sweep writes into its own MMAR clone


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "check", "check", True, "validate an MMAR end to end without training", "train", False
        ),
        TaskSpec(
            "train",
            "train",
            True,
            "train what config_train.json describes",
            "train",
            sweep_clone=True,
        ),
        TaskSpec(
            "finetune",
            "train",
            True,
            "train starting from MMAR_CKPT (config_finetune.json, else config_train.json)",
            "finetune",
            sweep_clone=True,
        ),
        TaskSpec(
            "validate",
            "validate",
            True,
            "validate a model with config_validation.json",
            "validate",
            sweep_clone=True,
        ),
        TaskSpec(
            "infer",
            "validate",
            True,
            "write predictions with config_inference.json",
            "infer",
            sweep_clone=True,
        ),
        TaskSpec(
            "export",
            "export",
            True,
            "write model.ts / .onnx / .pt2 (format=) from a checkpoint",
            "export",
        ),
        TaskSpec(
            "bundle",
            "bundle",
            True,
            "write the MMAR and its trained model as a MONAI bundle to out=DIR",
            "train",
            False,
        ),
        TaskSpec(
            "parity",
            "parity",
            True,
            "certify bundle=DIR against the MMAR it came from (docs/parity.json, parity.md)",
            "train",
            False,
        ),
        TaskSpec(
            "import",
            "import_yaml",
            True,
            "write the MMAR as editable Hydra YAML to out=DIR",
            "train",
            False,
        ),
        TaskSpec(
            "commands",
            "commands",
            False,
            "write Clara-style commands/*.sh for mmar=PATH",
            "",
            False,
        ),
        TaskSpec(
            "clone",
            "clone",
            False,
            "copy mmar=SRC to out=DST with the overrides written in",
            "",
            False,
        ),
        TaskSpec(
            "compare",
            "compare",
            False,
            "compare trained variants: runs=DIR|[DIRS]|GLOB out=DIR",
            "",
            False,
        ),
        TaskSpec(
            "cv",
            "cv",
            True,
            "k-fold cross-validation: folds=K [group_key=, cv_pool=all, cv_dir=]",
            "train",
            False,
        ),
        TaskSpec(
            "automl",
            "automl",
            True,
            "Clara AutoML: search a trn_autoML_*.json's space (automl.trials=, automl.seed=)",
            "automl",
            False,
        ),
        TaskSpec(
            "ensemble",
            "validate",  # task=validate's evaluation with the members (cv.ensemble_setup)
            True,
            "validate / infer with the fold models: cv_dir= or models=[...], ensemble=, tta=",
            "validate",
            sweep_clone=True,
        ),
        TaskSpec(
            "postprocess",
            "postprocess",
            True,
            "choose KeepLargestConnectedComponent on the out-of-fold predictions",
            "infer",
            False,
        ),
        TaskSpec(
            "prepare_dataset",
            "prepare_dataset",
            True,
            "deepgrow: 2D/3D items of an MSD dataset, dataset_root=DIR out=DIR",
            "train",
            False,
        ),
        TaskSpec(
            "demo_data",
            "demo_data",
            False,
            "write the sample MMAR and synthetic data to out=DIR",
            "",
            False,
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name``; a ConfigError with a did-you-mean otherwise."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(str(name), TASKS, n=1)
    hint = f"did you mean task={close[0]}? " if close else ""
    raise ConfigError(
        f"unknown task '{name}'",
        path="task",
        expected="one of: " + ", ".join(TASKS),
        fix=hint + "see `python -m mmar_hydra --help`",
    )


def load_task_module(spec: TaskSpec):  # noqa: ANN201 - a module
    return importlib.import_module(f"mmar_hydra.tasks.{spec.module}")
