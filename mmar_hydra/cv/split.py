"""The cross-validation split: which case validates in which fold.

Either the datalist says it (every item carries a ``fold`` key, as MSD / Auto3DSeg datalists
do) or a seeded k-fold assigns the cases. With ``group_key`` every item of one group (one
patient) lands in the same fold, so no patient is trained on and validated on in one fold.
Everything here is plain data: items in, fold numbers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmar_hydra.errors import ConfigError, DataError

__all__ = ["FOLD_KEY", "Split", "make_split", "case_id", "fold_datalist"]

FOLD_KEY = "fold"


@dataclass(frozen=True)
class Split:
    """One fold number per pool item, and how the numbers were chosen.

    Args:
        folds: the fold of each item, in pool order.
        k: the number of folds.
        source: ``"fold key"`` (from the datalist) or ``"kfold"`` (seeded assignment).
    """

    folds: tuple[int, ...]
    k: int
    source: str

    def validation(self, fold: int) -> list[int]:
        """Indices of the pool items that validate in ``fold``."""
        return [i for i, f in enumerate(self.folds) if f == fold]


def case_id(item: Mapping[str, Any]) -> str:
    """A case's name in split files and reports: its image path (the first, for lists)."""
    image = item.get("image")
    if isinstance(image, list | tuple) and image:
        image = image[0]
    return str(image)


def _require(
    items: Sequence[Mapping[str, Any]], key: str, what: str, file: str, expected: str, fix: str
) -> None:
    """A DataError naming how many items lack ``key`` and the first of them."""
    missing = [i for i, item in enumerate(items) if key not in item]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(items)} cases have no '{key}'{what}",
            file=file,
            path=f"{key} (first without it: {case_id(items[missing[0]])})",
            expected=expected,
            fix=fix,
        )


def _from_fold_key(items: Sequence[Mapping[str, Any]], file: str, requested: int | None) -> Split:
    _require(
        items,
        FOLD_KEY,
        " key",
        file,
        f"a '{FOLD_KEY}' on every case of the pool, or on none",
        f"add '{FOLD_KEY}' to those cases, or remove it from all to split with a seeded k-fold",
    )
    try:
        folds = [int(item[FOLD_KEY]) for item in items]
    except (TypeError, ValueError):
        bad = next(i for i in items if not str(i[FOLD_KEY]).lstrip("-").isdigit())
        raise DataError(
            f"the '{FOLD_KEY}' value {bad[FOLD_KEY]!r} is not a whole number",
            file=file,
            path=f"{FOLD_KEY} of {case_id(bad)}",
            expected="fold numbers 0, 1, ..., k-1",
        ) from None
    present = sorted(set(folds))
    k = max(present) + 1 if present else 0
    gaps = [f for f in range(k) if f not in present]
    if gaps or min(present) < 0 or k < 2:
        raise DataError(
            f"the datalist's '{FOLD_KEY}' values are {present}: "
            + (
                f"fold {', '.join(map(str, gaps))} has no case"
                if gaps
                else "not 0..k-1 with k >= 2"
            ),
            file=file,
            path=FOLD_KEY,
            expected="every fold from 0 to k-1 with at least one case (k >= 2)",
            fix="renumber the folds without gaps, or remove the fold keys to split with a seeded k-fold",
        )
    if requested is not None and requested != k:
        raise ConfigError(
            f"folds={requested}, but the datalist's '{FOLD_KEY}' keys define {k} folds",
            file=file,
            path="folds",
            expected=f"folds={k} (or leave folds unset to use the datalist's folds)",
            fix=f"drop folds=..., or remove the '{FOLD_KEY}' keys from the datalist",
        )
    return Split(tuple(folds), k, "fold key")


def _kfold(groups: Sequence[Any], k: int, seed: int) -> list[int]:
    """Seeded group k-fold: shuffled groups, largest first, each to the emptiest fold."""
    rng = np.random.default_rng(seed)
    order = list(dict.fromkeys(groups))
    order = [order[i] for i in rng.permutation(len(order))]
    sizes = {g: 0 for g in order}
    for g in groups:
        sizes[g] += 1
    order.sort(key=lambda g: -sizes[g])  # stable: equal sizes keep their shuffled order
    fill, fold_of = [0] * k, {}
    for g in order:
        target = min(range(k), key=lambda f: (fill[f], f))
        fold_of[g] = target
        fill[target] += sizes[g]
    return [fold_of[g] for g in groups]


def _groups(items: Sequence[Mapping[str, Any]], group_key: str | None, file: str) -> list[Any]:
    if not group_key:
        return list(range(len(items)))
    _require(
        items,
        group_key,
        " (the group_key)",
        file,
        f"a '{group_key}' value on every case, e.g. the patient id",
        f"add '{group_key}' to every case of the datalist, or drop group_key=",
    )
    return [str(item[group_key]) for item in items]


def _check_groups_in_one_fold(groups: list[Any], folds: Sequence[int], key: str, file: str) -> None:
    seen: dict[Any, int] = {}
    for g, f in zip(groups, folds, strict=True):
        if seen.setdefault(g, f) != f:
            raise DataError(
                f"{key}={g!r} has cases in fold {seen[g]} and fold {f}",
                file=file,
                path=FOLD_KEY,
                expected=f"all cases with the same '{key}' in one fold (no patient leaks)",
                fix="move those cases into one fold in the datalist",
            )


def make_split(
    items: Sequence[Mapping[str, Any]],
    *,
    folds: int | None,
    seed: int = 0,
    group_key: str | None = None,
    file: str = "",
) -> Split:
    """The fold of every pool item.

    Args:
        items: the pool (training cases, plus validation ones with ``cv_pool=all``).
        folds: k; ``None`` means the datalist's fold keys, else 5.
        seed: the k-fold's shuffling seed.
        group_key: item key whose equal values must share a fold (e.g. a patient id).
        file: the datalist, for error messages.

    Raises:
        DataError: fold keys on some items only, with gaps, a missing group_key, groups
            split across folds by the datalist.
        ConfigError: more folds than cases (or groups), k < 2, folds= disagreeing with the
            datalist's fold keys.
    """
    groups = _groups(items, group_key, file)
    if any(FOLD_KEY in item for item in items):
        split = _from_fold_key(items, file, folds)
        if group_key:
            _check_groups_in_one_fold(groups, split.folds, group_key, file)
        return split
    k = 5 if folds is None else int(folds)
    units = len(set(groups))
    what = f"{units} groups ('{group_key}')" if group_key else f"{units} cases"
    if k < 2 or k > units:
        raise ConfigError(
            f"folds={k} with {what} in the pool",
            file=file,
            path="folds",
            expected=f"2 <= folds <= {units}: every fold needs at least one "
            + ("group" if group_key else "case")
            + " to validate on",
            fix=f"use folds={min(max(2, units), 5)}"
            + (", or cv_pool=all to add the validation cases" if units < 5 else ""),
        )
    return Split(tuple(_kfold(groups, k, seed)), k, "kfold")


def fold_datalist(
    datalist: Mapping[str, Any],
    pool: Sequence[Mapping[str, Any]],
    split: Split,
    fold: int,
    *,
    train_key: str,
    val_key: str,
) -> dict[str, Any]:
    """The datalist of one fold: the source's other keys, ``train_key`` = the other folds'
    cases, ``val_key`` = this fold's."""
    out = {k: v for k, v in datalist.items() if k not in (train_key, val_key)}
    out[train_key] = [dict(item) for item, f in zip(pool, split.folds, strict=True) if f != fold]
    out[val_key] = [dict(item) for item, f in zip(pool, split.folds, strict=True) if f == fold]
    return out
