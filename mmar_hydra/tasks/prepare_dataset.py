"""``task=prepare_dataset``: deepgrow's ``commands/prepare_dataset.sh`` on mmar_hydra.

The deepgrow MMARs train on 2D slices or 3D volumes cut from an MSD dataset: one item per
label region, image and label resampled to 1 mm, written as ``.npy`` files. Their
``commands/prepare_dataset.sh`` ran ``custom/deepgrow/prepare_dataset.py`` (MONAI's
``monai.apps.deepgrow.dataset.create_dataset`` plus a seeded training/validation split).
This task does the same from the command line, with no custom/ code run:

    python -m mmar_hydra mmar=M task=prepare_dataset dataset_root=D out=OUT [dimensions=2]

It writes ``OUT/dataset.json`` (every prepared item) and ``OUT/dataset_0.json`` (the
``training`` / ``validation`` split, ``split=0.9`` by default, seeded by ``seed=``) with paths
relative to ``OUT``, so ``DATA_ROOT=OUT DATASET_JSON=OUT/dataset_0.json`` trains the MMAR.
Everything is written into a temporary sibling folder first and renamed at the end: a failed
run leaves no half-prepared dataset. ``dimensions`` defaults to the MMAR network's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmar_hydra.components.datalist import load_datalist, missing_files
from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError, DataError
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["run", "prepare_dataset", "network_dimensions"]

_DIMS_KEYS = ("train.model.args.spatial_dims", "train.model.args.dimensions")


def network_dimensions(cfg: Any) -> int | None:
    """The spatial dimensions of the MMAR's train network (``spatial_dims``), if it says."""
    for key in _DIMS_KEYS:
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if isinstance(value, int):
            return value
    return None


def _relative(items: list[dict[str, Any]], root: Path) -> list[dict[str, Any]]:
    """``image`` / ``label`` paths of ``items`` relative to ``root`` (the output folder)."""
    out = []
    for item in items:
        entry = dict(item)
        for key in ("image", "label"):
            if isinstance(entry.get(key), str):
                entry[key] = os.path.relpath(entry[key], root)
        out.append(entry)
    return out


def _split(items: list[dict[str, Any]], share: float, seed: int) -> dict[str, list]:
    """MONAI's ``partition_dataset`` (shuffled, seeded), as prepare_dataset.py split."""
    from monai.data import partition_dataset

    if not 0.0 < share < 1.0:
        raise ConfigError(
            f"split={share} leaves one side of dataset_0.json empty",
            path="split",
            expected="a training share between 0 and 1 (exclusive), e.g. split=0.9",
        )
    train, val = partition_dataset(items, ratios=[share, 1 - share], shuffle=True, seed=seed)
    if not train or not val:
        raise DataError(
            f"{len(items)} prepared item(s) cannot be split {share:g} / {1 - share:g} "
            "into a non-empty training and validation list",
            path="split",
            expected="enough label regions for both lists",
            fix="prepare more cases (limit=0) or choose another split=",
        )
    return {"training": train, "validation": val}


def _replace(work: Path, out: Path) -> None:
    """``work`` becomes ``out``; an ``out`` already there (force=true) goes only after that."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    work.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def prepare_dataset(
    dataset_json: Path,
    dataset_root: Path,
    out: Path,
    *,
    dimensions: int,
    datalist_key: str = "training",
    limit: int = 0,
    split: float = 0.9,
    seed: int = 0,
) -> dict[str, int]:
    """Prepare ``dataset_json``'s ``datalist_key`` cases into ``out`` (see the module doc).

    Args:
        dataset_json: the MSD datalist.
        dataset_root: the folder its paths are relative to.
        out: the output folder (replaced only once the new one is complete).
        dimensions: 2 (slices) or 3 (volumes).
        datalist_key: the datalist split to prepare.
        limit: only the first ``limit`` cases (0: all).
        split: the training share of ``dataset_0.json``.
        seed: the split's random seed.

    Returns:
        ``{"items": n, "training": n_train, "validation": n_val}``.
    """
    from monai.apps.deepgrow.dataset import create_dataset

    if dimensions not in (2, 3):
        raise ConfigError(
            f"dimensions={dimensions} is not 2 or 3",
            path="dimensions",
            expected="dimensions=2 (slices) or dimensions=3 (volumes)",
        )
    cases = load_datalist(dataset_json, dataset_root, datalist_key, where="dataset_json")
    cases = cases[:limit] if limit > 0 else cases
    missing = missing_files(cases)
    if missing:
        raise DataError(
            f"{len(missing)} file(s) of the datalist do not exist, e.g. {missing[0]}",
            file=dataset_json,
            path=datalist_key,
            expected="image and label paths relative to dataset_root",
            fix="set dataset_root= to the folder the datalist's paths start from",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        items = create_dataset(
            datalist=cases, output_dir=str(work), dimension=dimensions, pixdim=[1.0] * dimensions
        )
        if not items:
            raise DataError(
                "no labelled region in the prepared cases",
                file=dataset_json,
                path=datalist_key,
                expected="labels with at least one non-zero voxel",
            )
        items = _relative(items, work)
        lists = _split(items, split, seed)
        atomic_write_text(work / "dataset.json", json.dumps(items, indent=2))
        atomic_write_text(work / "dataset_0.json", json.dumps(lists, indent=2))
        _replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"items": len(items), **{k: len(v) for k, v in lists.items()}}


def _required(ctx: TaskContext, key: str, example: str) -> str:
    value = getattr(ctx.settings, key)
    if not value:
        raise ConfigError(
            f"task=prepare_dataset needs {key}=",
            path=key,
            expected=example,
            fix="e.g. `python -m mmar_hydra mmar=M task=prepare_dataset "
            "dataset_root=/data/Task09_Spleen out=/data/deepgrow_2d`",
        )
    return str(value)


def run(ctx: TaskContext) -> Path:
    settings = ctx.settings
    root = Path(_required(ctx, "dataset_root", "dataset_root=/data/Task09_Spleen")).expanduser()
    out = Path(_required(ctx, "out", "out=/data/deepgrow_2d")).expanduser().resolve()
    dataset_json = Path(settings.dataset_json or root / "dataset.json").expanduser()
    dims = settings.dimensions or network_dimensions(ctx.cfg)
    if dims is None:
        raise ConfigError(
            "the MMAR's network does not say whether it is 2D or 3D",
            path="dimensions",
            expected="dimensions=2 or dimensions=3",
        )
    if out.exists():
        if not settings.force:
            raise ConfigError(
                f"the output folder {out} already exists",
                path="out",
                expected="a new folder",
                fix="choose another out= or add force=true to replace it",
            )
    counts = prepare_dataset(
        dataset_json,
        root,
        out,
        dimensions=dims,
        datalist_key=settings.datalist_key,
        limit=settings.limit,
        split=settings.split,
        seed=settings.seed,
    )
    print(
        f"prepared {counts['items']} {dims}D item(s) (one per label region) in {out}\n"
        f"  dataset_0.json: {counts['training']} training, {counts['validation']} validation"
    )
    print(
        f"next:      python -m mmar_hydra mmar={ctx.mmar_root} task=train "
        f"DATA_ROOT={out} DATASET_JSON={out / 'dataset_0.json'}"
    )
    return out
