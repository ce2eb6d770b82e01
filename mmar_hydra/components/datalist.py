"""MSD-style datalists (``dataset.json``): load a split and check its files exist.

Clara's datasets carry ``data_list_file_path``, ``data_file_base_dir`` and ``data_list_key``
beside ``name``/``args``; the split is loaded like MONAI's ``load_decathlon_datalist`` and
handed to the dataset as its ``data``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmar_hydra.errors import DataError, json_type
from mmar_hydra.mmar.layout import is_file
from mmar_hydra.reader.jsonfile import load_json

__all__ = ["load_datalist", "missing_files", "PATH_KEYS"]

PATH_KEYS = ("image", "label", "mask")  # mask: whole-slide foreground masks


def _join(base: Path, value: Any) -> Any:
    if isinstance(value, str):
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else base / p)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [_join(base, v) for v in value]
    return value


def load_datalist(
    list_path: str | Path, base_dir: str | Path, key: str, *, where: str = ""
) -> list[dict]:
    """The ``key`` split of a datalist, with image/label paths joined to ``base_dir``.

    Entries may be bare path strings (test lists): they become ``{"image": path}``. Labels that
    are numbers or lists of numbers (classification) are kept as they are.
    """
    list_path = Path(list_path)
    if not is_file(list_path):
        raise DataError(
            "datalist file not found",
            file=list_path,
            path=f"{where}.data_list_file_path" if where else "data_list_file_path",
            expected="an MSD-style dataset JSON",
            fix="set DATASET_JSON=/path/to/dataset.json (or generate the demo: task=demo_data)",
        )
    data = load_json(list_path, what="datalist")
    if key not in data:
        raise DataError(
            f"the datalist has no '{key}' split",
            file=list_path,
            path=key,
            expected="one of its keys: " + ", ".join(data) if data else "a non-empty datalist",
            fix=f"set data_list_key to one of: {', '.join(data)}",
        )
    items = data[key]
    if not isinstance(items, list) or not items:
        raise DataError(
            f"the '{key}' split of the datalist is empty",
            file=list_path,
            path=key,
            expected="a non-empty list of cases",
            fix="add cases to the split or point DATASET_JSON at another datalist",
        )
    base = Path(base_dir).expanduser()
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str | dict):
            raise DataError(
                f"entry {i} of the '{key}' split is a JSON {json_type(item)}",
                file=list_path,
                path=f"{key}[{i}]",
                expected='a case {"image": "...", "label": "..."} or a path string',
                fix="fix or remove that entry of the datalist",
            )
        entry = {"image": item} if isinstance(item, str) else dict(item)
        for k in PATH_KEYS:
            if k in entry and not (k == "label" and not isinstance(entry[k], str | list)):
                if (
                    k == "label"
                    and isinstance(entry[k], list)
                    and not all(isinstance(v, str) for v in entry[k])
                ):
                    continue
                entry[k] = _join(base, entry[k])
        out.append(entry)
    return out


def _exists(path: str) -> bool:
    """``Path(path).exists()``, False for paths the OS cannot even look up (a NUL byte, a
    name too long)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def missing_files(items: list[dict]) -> list[str]:
    """Paths named by image/label entries that do not exist (or cannot exist)."""
    missing = []
    for entry in items:
        for k in PATH_KEYS:
            value = entry.get(k)
            for p in value if isinstance(value, list) else [value]:
                if isinstance(p, str) and not _exists(p):
                    missing.append(p)
    return missing
