"""Bad cases met in the middle of a run: what a bad case is and what the run does about it.

A truncated or unreadable image, or a label whose shape does not match its image, does not
raise inside the data pipeline. The dataset's transform chain (:mod:`.case_guard`) turns the
failure into a *marker*, a plain dict ``{MARKER: {...}}`` that names the datalist entry,
the file and the reason. Markers travel like items (through DataLoader workers, CacheDataset
memory, PersistentDataset's ``torch.load(weights_only=True)`` files, since they hold only
strings and ints) and the main process decides (:mod:`.bad_case_loader`): without
``skip_bad_cases`` the run stops with a :class:`~mmar_hydra.errors.BadCaseError`, with it
the case is logged, skipped and counted in train_stats.json, and the run stops when more than
``max_bad_fraction`` of a dataset's cases are bad.

This module is plain data (no torch, no MONAI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mmar_hydra.errors import BadCaseError, ConfigError

__all__ = [
    "MARKER",
    "BadCase",
    "BadCasePolicy",
    "CaseIndex",
    "is_marker",
    "too_many_error",
    "root_cause",
]

#: the key of a bad-case marker (an item of the dataset that stands for a case it could not load)
MARKER = "__mmar_bad_case__"
PATH_KEYS = ("image", "label", "mask")


def is_marker(item: Any) -> bool:
    """``item`` is a bad-case marker, not a loaded case."""
    return isinstance(item, Mapping) and MARKER in item


@dataclass(frozen=True)
class BadCasePolicy:
    """What the run does with bad cases.

    Args:
        skip: ``skip_bad_cases``: log, skip and count them instead of stopping.
        max_fraction: ``max_bad_fraction``: stop when more than this share of a dataset's
            cases are bad, even with ``skip``.
    """

    skip: bool = False
    max_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_fraction <= 1.0:
            raise ConfigError(
                f"max_bad_fraction={self.max_fraction:g} is not a fraction",
                path="max_bad_fraction",
                expected="a number from 0 to 1, e.g. 0.1 (a tenth of the cases)",
                fix="write max_bad_fraction=0.1",
            )


@dataclass(frozen=True)
class BadCase:
    """One case that could not be loaded.

    Args:
        section: ``train`` / ``validate`` (the config section of its dataset).
        key: the datalist split (``training``), or ``data`` for a dataset's inline data.
        index: its position in that split (None: the case was not found in it).
        field: the entry key at fault (``image``, ``label``), or "" when it is not known.
        file: the data file at fault (or the case's first file).
        datalist: the datalist file (or the config file of inline data).
        reason: the error, one line.
    """

    section: str
    key: str
    index: int | None
    field: str
    file: str
    datalist: str
    reason: str

    @property
    def entry(self) -> str:
        """``training[4].image``: the datalist entry, as users find it in the JSON."""
        at = f"{self.key}[{self.index}]" if self.index is not None else f"{self.key}[?]"
        return f"{at}.{self.field}" if self.field else at

    @property
    def case_id(self) -> str:
        """One id per case (its fields share it), for counting cases once."""
        if self.index is None:
            return f"{self.section}:{self.file}"
        return f"{self.section}:{self.key}[{self.index}]"

    def to_marker(self) -> dict[str, Any]:
        return {MARKER: asdict(self)}

    @classmethod
    def from_marker(cls, marker: Mapping[str, Any]) -> BadCase:
        return cls(**dict(marker[MARKER]))

    def describe(self) -> str:
        return f"{self.entry} = {self.file}: {self.reason}"

    def record(self) -> dict[str, Any]:
        """The train_stats.json entry."""
        return {
            "entry": self.entry,
            "file": self.file,
            "section": self.section,
            "reason": self.reason,
        }

    def error(self, policy: BadCasePolicy) -> BadCaseError:
        """The error that stops a run which does not skip bad cases."""
        return BadCaseError(
            f"the {self.field or 'case'} file {self.file} cannot be used: {self.reason}",
            file=self.datalist,
            path=self.entry,
            expected="readable images, each label of the same shape as its image",
            fix="replace the file or remove the entry from the datalist, or set "
            f"skip_bad_cases=true to skip it (the run still stops when more than "
            f"max_bad_fraction={policy.max_fraction:g} of the cases are bad)",
        )


def too_many_error(cases: Sequence[BadCase], total: int, policy: BadCasePolicy) -> BadCaseError:
    """More than ``max_bad_fraction`` of a dataset's cases are bad."""
    shown = "\n            ".join(c.describe() for c in cases[:5])
    return BadCaseError(
        f"too many bad cases: {len(cases)} of {total} {cases[0].section} cases "
        f"({len(cases) / max(total, 1):.0%}) is more than max_bad_fraction="
        f"{policy.max_fraction:g}",
        file=cases[0].datalist,
        path=", ".join(c.entry for c in cases[:5]) + (", ..." if len(cases) > 5 else ""),
        expected=f"at most {policy.max_fraction:g} of the cases bad; bad:\n            {shown}",
        fix="fix or remove these cases from the datalist, or raise max_bad_fraction",
    )


def root_cause(exc: BaseException) -> str:
    """``EOFError: Compressed file ended...``: the innermost cause, one line.

    MONAI wraps a transform's failure in ``RuntimeError("applying transform ...")``.
    """
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _name(value: Any) -> str | None:
    """The file a field stands for: a path, the first of a list, a MetaTensor's source."""
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if isinstance(value, str | os.PathLike):
        return os.path.normpath(str(value))
    meta = getattr(value, "meta", None)
    if isinstance(meta, Mapping) and meta.get("filename_or_obj"):
        return _name(meta["filename_or_obj"])
    return None


class CaseIndex:
    """A dataset's cases by file, to name the datalist entry of whatever failed.

    Items reach the transforms as the datalist gave them, deep-copied (PersistentDataset),
    shuffled (SmartCacheDataset), sharded (DDP) or already loaded from a cache (MetaTensors
    with their ``filename_or_obj``), so cases are found by their first file, not by position.

    Args:
        items: the whole split, in datalist order (before any DDP sharding).
        key: the split's name (``training``).
        datalist: the datalist file (or the config file of inline data).
        section: the config section (``train`` / ``validate``).
    """

    def __init__(self, items: Sequence[Any], *, key: str, datalist: str, section: str) -> None:
        self.items = list(items)
        self.key = key
        self.datalist = datalist
        self.section = section
        self._by_name: dict[str, int] = {}
        for i, item in enumerate(self.items):
            name = self.name_of(item)
            if name is not None:
                self._by_name.setdefault(name, i)

    @staticmethod
    def name_of(item: Any) -> str | None:
        """The case's first file (``image``, else ``label``, else ``mask``)."""
        if isinstance(item, list) and item:  # several crops of one case
            item = item[0]
        if not isinstance(item, Mapping):
            return None
        for key in PATH_KEYS:
            name = _name(item.get(key))
            if name is not None:
                return name
        return None

    def find(self, item: Any) -> int | None:
        """The datalist index of ``item`` (a raw entry or a partly transformed one)."""
        name = self.name_of(item)
        return self._by_name.get(name) if name is not None else None

    def find_marker(self, marker: Mapping[str, Any]) -> int | None:
        """The datalist index a marker names (None: not one of these cases)."""
        index = marker[MARKER].get("index")
        return index if isinstance(index, int) and 0 <= index < len(self.items) else None

    def case(self, index: int | None, field: str, file: str, reason: str) -> BadCase:
        return BadCase(self.section, self.key, index, field, file, self.datalist, reason)
