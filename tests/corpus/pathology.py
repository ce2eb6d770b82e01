"""Synthetic whole-slide data shaped like the two pathology MMARs' data (CAMELYON16).

A slide is a small pyramidal RGB TIFF (levels 0..5, each half the size of the one before,
tiled, uncompressed, so tifffile reads it without imagecodecs): white background, a pink
tissue disc and darker "tumor" blobs. The datalists have the shapes the MMARs' own scripts
write:

- ``cte_pathology_40`` (``custom/generate_json.py``): ``datalist.json`` with
  ``training`` / ``validation`` items ``{"image": "WSI/x.tif", "location": [a, b],
  "label": [9 ints]}`` (a 768-pixel region centred at ``location`` in Clara 4.0's (x, y)
  reading order, one label per 256-pixel cell of its 3x3 grid) and ``testing`` items
  ``{"image": ..., "mask": "FG/x.npy"}`` (a foreground mask at level 5, as
  ``commands/prepare_inference_data.sh`` writes it);
- ``cte_pathology_ea`` (``custom/create_list.py``): ``LocLabel/*.txt`` rows
  ``name,x,y,l1..l9`` and a datalist whose items are ``{"image": "<WSI folder>/",
  "label": "LocLabel/<split>.txt"}``.

Everything is seeded; a slide is 1536 x 1536 pixels (7 MB), so the corpus stays small.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["SLIDE", "REGION", "GRID", "write_slide", "make_pathology_data"]

SLIDE = 1536  # level-0 width and height
LEVELS = 6  # 1536, 768, ..., 48
MASK_LEVEL = 5
REGION = 768  # Clara's region_size
GRID = 3  # Clara's grid_shape
CELL = REGION // GRID


def _slide_pixels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [H, W, 3], tumor mask [H, W]) of one synthetic slide."""
    yy, xx = np.mgrid[0:SLIDE, 0:SLIDE].astype(np.float32)
    c = SLIDE / 2
    tissue = (yy - c) ** 2 + (xx - c) ** 2 < (0.45 * SLIDE) ** 2
    tumor = np.zeros_like(tissue)
    for _ in range(3):
        cy, cx = rng.uniform(0.3 * SLIDE, 0.7 * SLIDE, size=2)
        r = rng.uniform(0.05, 0.12) * SLIDE
        tumor |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    tumor &= tissue
    rgb = np.full((SLIDE, SLIDE, 3), 240, np.float32)
    rgb[tissue] = (220, 150, 190)
    rgb[tumor] = (120, 60, 140)
    rgb += rng.normal(0, 8, size=rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), tumor


def write_slide(path: Path, rgb: np.ndarray) -> None:
    """A tiled pyramidal TIFF: level 0 then each reduced level as its own page."""
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tif:
        level = rgb
        for i in range(LEVELS):
            tif.write(
                level,
                photometric="rgb",
                tile=(128, 128) if min(level.shape[:2]) >= 128 else None,
                subfiletype=1 if i else 0,
            )
            level = level[::2, ::2]


def _cell_labels(tumor: np.ndarray, x: int, y: int) -> list[int]:
    """The 9 labels of the region centred at column x, row y, in Clara 4.0's order.

    MONAI 0.5's reader cut the grid column by column (its cell index was
    ``column * GRID + row``), so the labels are listed in that order.
    """
    top, left = y - REGION // 2, x - REGION // 2
    labels = []
    for col in range(GRID):
        for row in range(GRID):
            cy = top + row * CELL + CELL // 2
            cx = left + col * CELL + CELL // 2
            labels.append(int(tumor[cy, cx]))
    return labels


def make_pathology_data(
    root: Path, *, slides: int = 2, per_split: int = 3, seed: int = 0
) -> dict[str, Path]:
    """Slides, masks, Clara 4.0 and early-access datalists under ``root``.

    Returns ``{"data_root", "datalist_40", "datalist_ea"}``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    names = [f"tumor_{i + 1:03d}" for i in range(slides)]
    rows: dict[str, list[str]] = {"training": [], "validation": []}
    items: dict[str, list[dict]] = {"training": [], "validation": [], "testing": []}
    lo, hi = REGION // 2 + 8, SLIDE - REGION // 2 - 8
    for n, name in enumerate(names):
        rgb, tumor = _slide_pixels(rng)
        write_slide(root / "WSI" / f"{name}.tif", rgb)
        ratio = 2**MASK_LEVEL
        small = rgb[::ratio, ::ratio].astype(int)
        inner = np.zeros(small.shape[:2], bool)
        edge = (REGION // 2) // ratio  # patches around a mask pixel stay inside the slide
        inner[edge:-edge, edge:-edge] = True
        foreground = (small.sum(-1) < 3 * 200) & inner & (rng.random(small.shape[:2]) < 0.01)
        mask_path = root / "FG" / f"{name}.npy"
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(mask_path, foreground.astype(np.uint8))
        items["testing"].append({"image": f"WSI/{name}.tif", "mask": f"FG/{name}.npy"})
        for split in ("training", "validation"):
            for _ in range(per_split if n == 0 or split == "training" else 1):
                x, y = (int(v) for v in rng.integers(lo, hi, size=2))
                labels = _cell_labels(tumor, x, y)
                rows[split].append(",".join(map(str, [name, x, y, *labels])))
                items[split].append(
                    {"image": f"WSI/{name}.tif", "location": [x, y], "label": labels}
                )
    datalist_40 = root / "datalist.json"
    datalist_40.write_text(json.dumps({"name": "Pathology", **items}, indent=1))
    loclabel = root / "LocLabel"
    loclabel.mkdir(exist_ok=True)
    # the early-access datalist names a slide's foreground mask "label" (its config/dataset.json)
    testing = [{"image": i["image"], "label": i["mask"]} for i in items["testing"]]
    ea: dict[str, list[dict]] = {"testing": testing, "testing_one": testing[:1]}
    for split, lines in rows.items():
        (loclabel / f"tumor_{split}.txt").write_text("\n".join(lines) + "\n")
        ea[split] = [{"image": "WSI/", "label": f"LocLabel/tumor_{split}.txt"}]
    datalist_ea = root / "dataset_ea.json"
    datalist_ea.write_text(json.dumps(ea, indent=1))
    return {"data_root": root, "datalist_40": datalist_40, "datalist_ea": datalist_ea}
