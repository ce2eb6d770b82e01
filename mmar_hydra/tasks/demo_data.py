"""``task=demo_data out=DIR``: the sample MMAR plus a generated synthetic dataset.

The sample MMAR ships inside the package (``mmar_hydra/demo/sample_mmar``) with the layout
Clara's documentation gives an MMAR (config/, commands/, resources/log.config, docs/); it is
copied to ``DIR`` so training writes into the user's folder, never into the installation. The
data goes to ``DIR/data`` (environment.json's DATA_ROOT, with its ``dataset.json``), and its
datalist also to ``DIR/config/dataset_0.json``, where Clara's documented infer.sh points
(``--set DATASET_JSON=$MMAR_ROOT/config/dataset_0.json``). Existing files are kept unless
``force=true``, so ``make demo`` can be re-run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.demo.synthetic import generate_dataset
from mmar_hydra.errors import ConfigError
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["run", "make_demo", "SAMPLE_MMAR", "DATALIST_COPY"]

SAMPLE_MMAR = Path(__file__).resolve().parent.parent / "demo" / "sample_mmar"
DATALIST_COPY = Path("config") / "dataset_0.json"  # the MMAR's own copy of the datalist


def make_demo(out: str | Path, *, seed: int = 0, force: bool = False, **data_kwargs: Any) -> Path:
    """Copy the sample MMAR to ``out`` and generate its data; returns the MMAR root."""

    root = Path(out).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    copy_list = root / DATALIST_COPY
    had_copy = copy_list.is_file()
    for item in SAMPLE_MMAR.iterdir():
        target = root / item.name
        if item.is_dir():
            shutil.copytree(
                item, target, dirs_exist_ok=True, copy_function=shutil.copy2 if force else _copy_new
            )
        elif force or not target.exists():
            shutil.copy2(item, target)
    datalist = root / "data" / "dataset.json"
    generated = force or not datalist.is_file()
    if generated:
        generate_dataset(root / "data", seed=seed, **data_kwargs)
    if generated or not had_copy:  # the shipped copy lists the default data, not this data
        atomic_write_text(copy_list, datalist.read_text())
    return root


def _copy_new(src: str, dst: str) -> str:
    if not Path(dst).exists():
        shutil.copy2(src, dst)
    return dst


def run(ctx: TaskContext) -> Path:
    out = ctx.settings.out
    if not out:
        raise ConfigError(
            "task=demo_data needs an output folder",
            path="out",
            expected="out=DIR",
            fix="e.g. `python -m mmar_hydra task=demo_data out=demo`",
        )
    root = make_demo(out, seed=ctx.settings.seed, force=ctx.settings.force)
    print(
        f"demo MMAR: {root}\n  data:    {root / 'data'} (datalist {root / 'data' / 'dataset.json'},"
        f" copied to {root / DATALIST_COPY})"
    )
    print(f"next:      python -m mmar_hydra mmar={out} task=train")
    return root
