"""The data check: the first case as the dataset will give it.

``task=check`` (and every building task, first) runs it after the component walk found no
problem: a transform that does not accept the data, or labels on another grid than their
images, fail here in seconds instead of after minutes of caching. The dataset's args come
from the same resolver walk as the build (datalist hook, cache estimate included). MONAI's
data + transform datasets are not constructed (no cache is filled): the first datalist item
goes through the built pre-transforms by hand, and the image and label shapes are compared
as loaded. Any other dataset (whole-slide patches, custom/ datasets) is constructed and
asked for its first item.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from os import PathLike
from typing import Any

from mmar_hydra.components.hooks import split_of
from mmar_hydra.components.origins import failing_origin
from mmar_hydra.components.resolver import Resolver, Unbuilt, is_pipeline_dataset
from mmar_hydra.errors import ConfigError, DataError, MMARError, first_line, json_path, json_type

__all__ = ["check_first_case"]


def check_first_case(section: Resolver | None) -> list[MMARError]:
    """Problems of the first case of ``section``'s dataset (``[]`` when there is none)."""
    spec = section.spec.get("dataset") if section is not None else None
    if section is None or not isinstance(spec, Mapping) or "pre_transforms" not in section.spec:
        return []
    items: list[Any] = []
    try:
        cls = section.resolve(spec, section.where("dataset"))
        if hasattr(cls, "first_case"):  # a caching dataset that reads its own first case
            unbuilt = section.component(spec, section.where("dataset"), instantiate=False)
            cls.first_case(dict(unbuilt.args))
            return []
        pipeline = is_pipeline_dataset(cls)
        dataset = section.component(spec, section.where("dataset"), instantiate=not pipeline)
        if not pipeline:
            dataset[0]  # the dataset's own reading (whole-slide patches, custom code)  # noqa: B018
            return []
        transform = dataset.args.get("transform")
        if transform is not None and not callable(transform) and not isinstance(transform, Unbuilt):
            return [_not_a_transform(section, transform)]
        items = dataset.args.get("data") or []
        if not items:
            return []
        if transform is not None and transform is not section.get("pre_transforms"):
            return _own_transform(section, transform, items[0])
        steps = list(section.get("pre_transforms").transforms)
        # shapes are compared as loaded: crops and resampling later would hide a mismatch
        loaded = steps[0](copy.deepcopy(items[0])) if steps else items[0]
        if steps[1:]:
            from monai.transforms import Compose

            Compose(steps[1:])(loaded)  # the rest must run too; its output is not needed
    except MMARError as exc:
        return [exc]
    except Exception as exc:  # noqa: BLE001 - report what the transforms said
        first = items[0] if items else _first_entry(section, spec)
        return [_transform_failed(section, exc, first)]
    if section.name != "train":  # evaluation configs may keep labels in their own space
        return []
    return _shape_mismatch(section, loaded, items[0])


def _first_entry(section: Resolver, spec: Mapping[str, Any]) -> Any:
    """The dataset's first datalist entry, read again (a hook failed before it was kept)."""
    if "data_list_file_path" not in spec:
        return None
    try:
        items = split_of(section.hooks, spec, section.where("dataset"))[1]
    except MMARError:
        return None
    return items[0] if items else None


def _transform_failed(section: Resolver, exc: Exception, item: Any) -> DataError:
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    origin = failing_origin(exc, section.walk.origins)
    if origin is not None:
        failing, path = origin.describe(), origin.where
        dotted = path.replace("[", ".").replace("]", "")
        fix = f"change the transform's args for this data, or disable it: {dotted}.disabled=true"
    else:
        failing = first_line(exc, 160).replace("applying transform ", "")
        path, fix = section.where("pre_transforms"), "run with debug=true for the traceback"
    image = item.get("image") if isinstance(item, Mapping) else None
    case = f" (case {image})" if isinstance(image, str | PathLike) else ""
    return DataError(
        f"the pre_transforms failed on the first case{case}, in {failing}: "
        f"{type(root).__name__}: {first_line(root, 300)}",
        file=section.file,
        path=path,
        expected="transforms that accept this data",
        fix=fix,
    )


def _own_transform(section: Resolver, transform: Any, item: Any) -> list[MMARError]:
    """A dataset whose transform is not the section's pre_transforms: its first case."""
    try:
        transform(copy.deepcopy(item))
    except MMARError as exc:
        return [exc]
    except Exception as exc:  # noqa: BLE001 - report what the transform said
        return [
            DataError(
                f"the dataset's transform failed on the first case: {type(exc).__name__}: "
                f"{first_line(exc)}",
                file=section.file,
                path=json_path(section.where("dataset"), "args", "transform"),
                expected="a transform chain that accepts this data",
                fix='set it to "@pre_transforms"',
            )
        ]
    return []


def _not_a_transform(section: Resolver, transform: Any) -> MMARError:
    """A dataset whose ``transform`` is a plain value: MONAI would call it on every case."""
    return ConfigError(
        f"the dataset's transform is a JSON {json_type(transform)}, not a transform chain",
        file=section.file,
        path=json_path(section.where("dataset"), "args", "transform"),
        expected='"@pre_transforms" (or another transform component)',
        fix='set it to "@pre_transforms"',
    )


def _shape_mismatch(section: Resolver, loaded: Any, item: Mapping[str, Any]) -> list[MMARError]:
    if not isinstance(loaded, dict):
        return []
    img: Any = loaded.get("image")
    lbl: Any = loaded.get("label")
    if not (hasattr(img, "shape") and hasattr(lbl, "shape") and len(lbl.shape) == len(img.shape)):
        return []
    if tuple(img.shape) == tuple(lbl.shape):
        return []
    return [
        DataError(
            f"image and label shapes differ as loaded: {tuple(img.shape)} vs {tuple(lbl.shape)}",
            file=str(item.get("label")),
            path=section.where("dataset"),
            expected="labels on the same grid as their images",
            fix="check the case's label file, or add a resampling transform for the label",
        )
    ]
