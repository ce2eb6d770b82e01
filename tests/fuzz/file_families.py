"""The hostile-file families: checkpoints, NIfTI, datalists, symlinks, environment.json.

They work on the demo seed (the one with data and a trained model) and run the task that
reads or writes what they broke, besides ``task=check``.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from hypothesis import strategies as st

from fuzz import hostile, hostile_paths
from fuzz.cases import Case, Ctx, task_args
from fuzz.seeds import DEMO_TRAIN
from fuzz.workspace import Ex, replace_file

__all__ = ["checkpoints", "nifti", "datalists", "symlinks", "environment"]

_CKPT_TASKS = ["validate_ckpt", "finetune", "export", "check ckpt"]


def _run(task: str) -> list[str]:
    if task == "check ckpt":
        return task_args("check", "config/config_validation_ckpt.json")
    return task_args(task)


def checkpoints(data: Any, ctx: Ctx) -> Case:
    ts = data.draw(st.booleans(), label="torchscript")
    table = hostile.TORCHSCRIPT_VARIANTS if ts else hostile.CHECKPOINT_VARIANTS
    variant = data.draw(st.sampled_from(sorted(table)), label="variant")
    n = data.draw(st.integers(0, 1 << 20), label="n")
    rel = "models/model.ts" if ts else "models/model.pt"

    def edit(ex: Ex) -> None:
        path = ex.mmar / rel
        replace_file(path, table[variant](ex, path.read_bytes(), n))

    if ts:
        tasks = [data.draw(st.sampled_from(["validate", "infer"]), label="task")]
    else:
        first = data.draw(st.sampled_from(_CKPT_TASKS), label="task")
        tasks = [first, *([] if first == "check ckpt" else ["check ckpt"])]
    steps = [f"demo: {rel} = {variant} (n={n}); tasks {tasks}"]
    return Case("checkpoints", ctx.demo, steps, [edit], [_run(t) for t in tasks])


def _datalist(ex: Ex) -> dict[str, Any]:
    return json.loads((ex.mmar / "data" / "dataset.json").read_text())


def nifti(data: Any, ctx: Ctx) -> Case:
    variant = data.draw(st.sampled_from(sorted(hostile.NIFTI_VARIANTS)), label="variant")
    split = data.draw(st.sampled_from(["training", "validation"]), label="split")
    index = data.draw(st.integers(0, 3 if split == "training" else 1), label="index")
    key = data.draw(st.sampled_from(["image", "label"]), label="key")
    n = data.draw(st.integers(0, 1 << 16), label="n")

    def edit(ex: Ex) -> None:
        entry = _datalist(ex)[split][index]
        path = ex.mmar / "data" / entry[key]
        import gzip

        raw = gzip.decompress(path.read_bytes())
        replace_file(path, hostile.NIFTI_VARIANTS[variant](raw, n))

    config = DEMO_TRAIN if split == "training" else "config/config_validation.json"
    runs = [task_args("check", config)]
    if ctx.every("nifti", 4):
        runs.append(task_args("train" if split == "training" else "validate", config))
    steps = [f"demo: {split}[{index}].{key} = {variant} (n={n})"]
    return Case("nifti", ctx.demo, steps, [edit], runs)


def datalists(data: Any, ctx: Ctx) -> Case:
    variant = data.draw(st.sampled_from(hostile_paths.DATALIST_VARIANTS), label="variant")
    n = data.draw(st.integers(0, 10), label="n")

    def edit(ex: Ex) -> None:
        shutil.copy(
            ex.mmar / "data" / "imagesTr" / "spleen_000.nii.gz", ex.outside / "secret.nii.gz"
        )
        doc = _datalist(ex)
        doc["training"] = hostile_paths.datalist_entries(variant, ex, n)
        text = json.dumps(doc)
        replace_file(ex.mmar / "data" / "dataset.json", text)

    runs = [task_args("check", DEMO_TRAIN)]
    if not variant.startswith("1e5") and ctx.every("datalist", 4):
        runs.append(task_args("train"))
    return Case(
        "datalists",
        ctx.demo,
        [f"demo: data/dataset.json training = {variant} (n={n})"],
        [edit],
        runs,
    )


_WRITING_TASKS = ["train", "finetune", "validate", "validate_ckpt", "infer", "export"]


def _tasks(data: Any, own: str) -> list[list[str]]:
    """``check``, the task the variant is about, and sometimes one more that reads or writes."""
    tasks = [own] if own != "check" else []
    if data.draw(st.booleans(), label="another task"):
        tasks.append(data.draw(st.sampled_from(_WRITING_TASKS), label="task"))
    return [task_args("check", DEMO_TRAIN), *(task_args(t) for t in dict.fromkeys(tasks))]


def symlinks(data: Any, ctx: Ctx) -> Case:
    labels = sorted(hostile_paths.SYMLINK_VARIANTS)
    chosen = data.draw(
        st.lists(st.sampled_from(labels), min_size=1, max_size=2, unique=True), label="variants"
    )
    edits = [hostile_paths.SYMLINK_VARIANTS[v][0] for v in chosen]
    runs = _tasks(data, hostile_paths.SYMLINK_VARIANTS[chosen[0]][1])
    steps = [f"demo: {' + '.join(chosen)}; runs {[r[0] for r in runs]}"]
    return Case("symlinks", ctx.demo, steps, edits, runs)


def environment(data: Any, ctx: Ctx) -> Case:
    labels = sorted(hostile_paths.ENV_VARIANTS)
    chosen = data.draw(
        st.lists(st.sampled_from(labels), min_size=1, max_size=2, unique=True), label="variants"
    )

    def edit(ex: Ex) -> None:
        path = ex.mmar / "config" / "environment.json"
        env = json.loads(path.read_text())
        for label in chosen:
            env.update(hostile_paths.ENV_VARIANTS[label][0](ex))
        replace_file(path, json.dumps(env))

    runs = _tasks(data, hostile_paths.ENV_VARIANTS[chosen[0]][1])
    steps = [f"demo: environment.json {' + '.join(chosen)}; runs {[r[0] for r in runs]}"]
    return Case("environment", ctx.demo, steps, [edit], runs)
