"""Synthetic data shaped like the GettingStarted and FL client MMARs' data (MSD spleen CT).

Those MMARs read a datalist with ``training`` / ``validation`` items ``{"image", "label"}``
and ``test`` items (image paths), one CT channel and a binary label, resampled to 1 mm
(``Spacingd``). The volumes here are 48^3 at 1 mm (``mmar_hydra.demo.synthetic``), and
:func:`shrink_overrides` turns the configs' 96^3 crops and 160^3 sliding windows into
command-line overrides a tiny volume allows, read from each config file itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["SHAPE", "CROP", "ROI", "make_spleen_data", "shrink_overrides", "data_overrides"]

SHAPE = (48, 48, 48)
CROP = [32, 32, 32]  # UNet: 4 strides of 2 leave 2^3 for its instance norm
ROI = [48, 48, 48]


def make_spleen_data(root: Path) -> Path:
    """2 training, 1 validation and 1 test case under ``root``; returns the datalist."""
    from mmar_hydra.demo.synthetic import generate_dataset

    return generate_dataset(root, n_train=2, n_val=1, n_test=1, shape=SHAPE, spacing=(1, 1, 1))


def _sizes(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        if _is_validation_handler(obj) and obj.get("args", {}).get("interval", 1) != 1:
            yield ".".join((*path, "args", "interval")), 1  # validate after the one epoch
        for key, value in obj.items():
            here = (*path, str(key))
            if key == "spatial_size" and isinstance(value, list) and len(value) == 3:
                yield ".".join(here), CROP
            elif key == "roi_size" and isinstance(value, list) and len(value) == 3:
                yield ".".join(here), ROI
            elif key == "num_workers" and isinstance(value, int) and value:
                yield ".".join(here), 0  # worker processes cost more than these volumes
            else:
                yield from _sizes(value, here)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _sizes(value, (*path, str(i)))


def _is_validation_handler(item: dict) -> bool:
    return str(item.get("name", "")).startswith("ValidationHandler")


def shrink_overrides(config_file: Path) -> list[str]:
    """``a.b.spatial_size=[16,16,16]``, ``...roi_size=[32,32,32]``, ``...num_workers=0``."""
    try:
        config = json.loads(Path(config_file).read_text())
    except ValueError:
        return []  # broken as published: the CLI says so
    return [f"{key}={_text(value)}" for key, value in _sizes(config)]


def _text(value: Any) -> str:
    return f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)


def data_overrides(datalist: Path) -> list[str]:
    """``DATA_ROOT`` / ``DATASET_JSON`` pointing at the generated data."""
    return [f"DATA_ROOT={datalist.parent}", f"DATASET_JSON={datalist}"]
