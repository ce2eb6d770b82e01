"""The transform chain of a training dataset, with each case's failure turned into a marker.

:class:`CaseGuard` is the dataset's ``Compose`` (same transforms, same random state), so
every MONAI dataset runs it where it ran the original: ``Dataset.__getitem__``,
CacheDataset's cache fill at start-up (``_load_cache_item``) and its random part per item,
PersistentDataset's pre-random part (cached on disk) and post-random part, and
SmartCacheDataset's background replacement threads (where an exception would kill the
thread and hang ``update_cache``). Right after ``LoadImaged`` it compares the label's
spatial shape with the image's, since a mismatch would otherwise surface later as a
cropping or collate error naming no file.

Installed by the ``bad_cases`` hook (``components/hooks.py``) on the datasets of
``build_train`` and ``build_eval``; what to do with markers is decided in the main process
(:mod:`.bad_case_loader`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from monai.transforms import Compose, LoadImage, LoadImaged

from mmar_hydra.faults.bad_cases import PATH_KEYS, BadCase, CaseIndex, is_marker, root_cause

__all__ = ["CaseGuard", "ShapeMismatch"]


class ShapeMismatch(ValueError):
    """A label whose spatial shape differs from its image's (found right after loading)."""

    def __init__(self, image: tuple[int, ...], label: tuple[int, ...]) -> None:
        super().__init__(f"label shape {label} does not match image shape {image}")


def _spatial_shape(value: Any) -> tuple[int, ...] | None:
    meta = getattr(value, "meta", None)
    shape = meta.get("spatial_shape") if isinstance(meta, Mapping) else None
    return tuple(int(s) for s in shape) if shape is not None else None


def _check_shapes(data: Any) -> None:
    if not isinstance(data, Mapping):
        return
    image, label = _spatial_shape(data.get("image")), _spatial_shape(data.get("label"))
    if image is not None and label is not None and image != label:
        raise ShapeMismatch(image, label)


class CaseGuard(Compose):
    """``Compose`` whose failures become bad-case markers naming the datalist entry.

    Made with :meth:`around`, which shares the wrapped Compose's state instead of calling
    ``Compose.__init__`` (that would re-seed every random transform).

    Args (of :meth:`around`):
        compose: the dataset's transform chain (a Compose, or a list of transforms).
        cases: the dataset's cases, to name the entry of a failing item.
        retry_cached: a marker met after the cached part (a PersistentDataset's file on
            disk, from this run or an earlier one) is tried again from the datalist entry,
            so a file fixed since is used.
        names: each transform's name and JSON path (``"NormalizeIntensityd
            (train.pre_transforms[3])"``), to say which one raised.
    """

    cases: CaseIndex
    retry_cached: bool
    names: list[str]

    @staticmethod
    def can_wrap(transform: Any) -> bool:
        """A plain Compose or a list of transforms (a OneOf / RandomOrder... keeps its own
        ``__call__``, so it is left as it is)."""
        return type(transform) is Compose or isinstance(transform, list | tuple)

    @classmethod
    def around(
        cls,
        compose: Any,
        cases: CaseIndex,
        *,
        retry_cached: bool = False,
        names: list[str] | None = None,
    ) -> CaseGuard:
        if not isinstance(compose, Compose):
            compose = Compose(compose)
        guard = cls.__new__(cls)
        guard.__dict__.update(compose.__dict__)
        guard.cases = cases
        guard.retry_cached = retry_cached
        guard.names = list(names or [])
        return guard

    def _reason(self, exc: BaseException) -> str:
        """The root cause, with the transform that raised (matched in this process: after
        pickling into a DataLoader worker, objects have new addresses)."""
        reason = root_cause(exc)
        wrapped = {f"applying transform {t}": i for i, t in enumerate(self.transforms)}
        current: BaseException | None = exc
        found = None
        while current is not None:
            found = wrapped.get(str(current), found)
            current = current.__cause__
        if found is None:
            return reason
        name = (
            self.names[found] if found < len(self.names) else type(self.transforms[found]).__name__
        )
        return f"{reason} (raised in {name})"

    def _load_index(self) -> int | None:
        return next((i for i, t in enumerate(self.transforms) if isinstance(t, LoadImaged)), None)

    def __call__(
        self,
        input_: Any,
        start: int = 0,
        end: int | None = None,
        threading: bool = False,
        lazy: bool | None = None,
    ) -> Any:
        if is_marker(input_):
            index = self.cases.find_marker(input_) if self.retry_cached and start > 0 else None
            if index is None:
                return input_
            input_, start = copy.deepcopy(self.cases.items[index]), 0
        try:
            return self._run(input_, start, end, threading, lazy)
        except Exception as exc:  # noqa: BLE001 - any failure of a case is that case's
            return self._bad_case(input_, exc).to_marker()

    def _run(
        self, data: Any, start: int, end: int | None, threading: bool, lazy: bool | None
    ) -> Any:
        load = self._load_index()
        stop = len(self.transforms) if end is None else end
        if load is None or not start <= load < stop:
            return super().__call__(data, start, end, threading, lazy)
        data = super().__call__(data, start, load + 1, threading, lazy)
        _check_shapes(data)
        return super().__call__(data, load + 1, end, threading, lazy)

    def _bad_case(self, data: Any, exc: Exception) -> BadCase:
        index = self.cases.find(data)
        entry = self.cases.items[index] if index is not None else {}
        files = {k: entry[k] for k in PATH_KEYS if isinstance(entry.get(k), str)}
        if isinstance(exc, ShapeMismatch):
            return self.cases.case(index, "label", files.get("label", ""), str(exc))
        load = self._load_index()
        loader = self.transforms[load]._loader if load is not None else LoadImage(image_only=True)
        for key, path in files.items():  # which file? MONAI's error does not say
            try:
                loader(path)
            except Exception as probe:  # noqa: BLE001 - this file is the bad one
                return self.cases.case(index, key, path, root_cause(probe))
        first = next(iter(files.values()), CaseIndex.name_of(data) or "")
        return self.cases.case(index, "", first, self._reason(exc))
