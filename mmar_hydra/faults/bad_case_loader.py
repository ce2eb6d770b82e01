"""The main process's side of bad cases: stop, or skip and count (``skip_bad_cases``).

Markers (:mod:`.bad_cases`) are made wherever a case is loaded, DataLoader workers included,
so they are judged here, in the main process, from the batches themselves:

- :class:`DropBadCases` wraps the DataLoader's collate: markers are left out of the batch
  and ride along under their own key (it runs in the workers);
- :class:`GuardedLoader` is the loader Lightning iterates: it takes them off each batch and
  reports them to the tracker, and drops a batch that held only bad cases;
- :class:`BadCaseTracker` (a Lightning callback, so its count survives ``resume``) stops the
  run (:class:`~mmar_hydra.errors.BadCaseError`), or logs and counts each case once, and
  stops when more than ``max_bad_fraction`` of a dataset is bad. CacheDataset and
  SmartCacheDataset load their cache at start-up: :meth:`BadCaseTracker.loaders` scans it,
  so a bad case there stops the run (or is counted) before the first step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl

from mmar_hydra.errors import BadCaseError, DataError, MMARError
from mmar_hydra.faults.bad_cases import (
    MARKER,
    BadCase,
    BadCasePolicy,
    is_marker,
    root_cause,
    too_many_error,
)
from mmar_hydra.faults.case_guard import CaseGuard

__all__ = ["DropBadCases", "GuardedLoader", "BadCaseTracker", "first_good_index", "in_order"]

_CARRIED = "__mmar_bad_cases__"  # a collated batch's markers: {..., _CARRIED: [...]}
_BATCH = "__mmar_batch__"  # a non-dict batch that carries markers: {_BATCH: batch, _CARRIED: ...}


class DropBadCases:
    """A collate function without the bad cases; their markers travel with the batch.

    Args:
        collate: the DataLoader's collate function (MONAI's ``list_data_collate``...).
    """

    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, batch: list[Any]) -> Any:
        bad = [item[MARKER] for item in batch if is_marker(item)]
        good = [item for item in batch if not is_marker(item)]
        if not bad:
            return self.collate(batch)
        out = self.collate(good) if good else {}
        if not isinstance(out, dict):
            out = {_BATCH: out}
        out[_CARRIED] = bad
        return out


class GuardedLoader:
    """A DataLoader as Lightning sees it: batches of good cases, the bad ones reported.

    Attributes it does not have (``dataset``, ``sampler``, ``batch_size``...) are the
    loader's, so Lightning treats it like the loader.

    Args:
        loader: the built DataLoader (its collate function is wrapped in place).
        tracker: where bad cases are reported.
        section: ``train`` / ``validate``.
    """

    _OWN = ("loader", "tracker", "section")

    def __init__(self, loader: Any, tracker: BadCaseTracker, section: str) -> None:
        object.__setattr__(self, "loader", loader)
        object.__setattr__(self, "tracker", tracker)
        object.__setattr__(self, "section", section)
        if getattr(loader, "batch_sampler", None) is not None:  # batches are collated
            loader.collate_fn = DropBadCases(loader.collate_fn)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name in GuardedLoader._OWN:
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __setattr__(self, name: str, value: Any) -> None:  # e.g. Lightning's worker_init_fn
        setattr(self.loader, name, value)

    def __iter__(self) -> Iterator[Any]:
        for batch in _batches(self.loader, self.section):
            if is_marker(batch):  # not collated (batch_size=None)
                self.tracker.report([batch[MARKER]])
                continue
            if isinstance(batch, dict) and _CARRIED in batch:
                self.tracker.report(batch.pop(_CARRIED))
                if not batch:
                    self.tracker.empty_batch(self.section)
                    continue
                batch = batch.get(_BATCH, batch)
            yield batch


def _batches(loader: Any, section: str) -> Iterator[Any]:
    """``loader``'s batches; a batch that cannot be made (cases of different shapes after the
    pre_transforms, met in collate) is a DataError, not a DataLoader traceback."""
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except MMARError:
            raise
        except Exception as exc:  # noqa: BLE001 - collate (or a worker) failed on the data
            raise DataError(
                f"a batch of the {section} data cannot be made: {root_cause(exc)}",
                path=f"{section}.dataloader",
                expected="cases that go in one batch: the same channels and shape after the "
                "pre_transforms",
                fix="check the images and labels of this split (a 4D image, a label with "
                "channels), or set the dataloader's batch_size to 1",
            ) from exc
        yield batch


def in_order(loader: Any) -> Any:
    """``loader`` reading its dataset in order, as Lightning's ``overfit_batches`` wants.

    Lightning re-makes a shuffling loader with a ``SequentialSampler`` itself, but only a
    ``DataLoader``: a :class:`GuardedLoader` is re-made here instead, before it is guarded.
    """
    from torch.utils.data import DataLoader, SequentialSampler

    if not isinstance(loader, DataLoader) or isinstance(loader.sampler, SequentialSampler):
        return loader
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        shuffle=False,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers if loader.num_workers else False,
    )


def first_good_index(dataset: Any) -> int:
    """The first cached case that is not a bad-case marker (the dry run's batch)."""
    cache = getattr(dataset, "_cache", None) or []
    return next((i for i, item in enumerate(cache) if not is_marker(item)), 0)


class BadCaseTracker(pl.Callback):
    """Bad cases of one run: stop at the first, or skip and count them (``skip_bad_cases``).

    Args:
        policy: ``skip_bad_cases`` / ``max_bad_fraction``.
        say: where a skipped case is logged (the run's console).
    """

    def __init__(self, policy: BadCasePolicy, say: Callable[[str], Any] = print) -> None:
        self.policy = policy
        self.say = say
        self.cases: dict[str, BadCase] = {}
        self.totals: dict[str, int] = {}  # cases per section's dataset

    def loaders(self, parts: Any, *, sequential: bool = False) -> tuple[Any, Any]:
        """(train, validate) loaders of ``parts``, guarded; start-up caches are scanned.

        Args:
            parts: the built training parts.
            sequential: the training loader without shuffling (Lightning's
                ``overfit_batches``, which cannot re-make a guarded loader itself).
        """
        train = in_order(parts.dataloader) if sequential else parts.dataloader
        val = parts.validate.dataloader if parts.validate is not None else None
        return self.guard(train, "train"), self.guard(val, "validate")

    def guard(self, loader: Any, section: str) -> Any:
        dataset: Any = getattr(loader, "dataset", None)
        if not isinstance(getattr(dataset, "transform", None), CaseGuard):
            return loader  # not built by build_train / build_eval (or not a MONAI pipeline)
        data: Any = getattr(dataset, "data", None)
        self.totals[section] = len(data if data is not None else dataset)
        self.report([m[MARKER] for m in getattr(dataset, "_cache", None) or [] if is_marker(m)])
        return GuardedLoader(loader, self, section)

    def report(self, markers: list[dict[str, Any]]) -> None:
        """Judge bad cases: raise, or count each case once and check the fraction."""
        for marker in markers:
            case = BadCase.from_marker({MARKER: marker})
            if not self.policy.skip:
                raise case.error(self.policy)
            if case.case_id in self.cases:
                continue
            self.cases[case.case_id] = case
            same = [c for c in self.cases.values() if c.section == case.section]
            self.say(f"bad case skipped ({len(same)} in {case.section}): {case.describe()}")
            total = self.totals.get(case.section, 0)
            if len(same) > self.policy.max_fraction * total:
                raise too_many_error(same, total, self.policy)

    def empty_batch(self, section: str) -> None:
        """A batch of bad cases only: skipped, except under DDP (the ranks would diverge)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise BadCaseError(
                f"a {section} batch holds only bad cases; under DDP it cannot be skipped "
                "(the other ranks would wait for this one)",
                path=f"{section}.dataloader.args.batch_size",
                expected="batches with at least one good case",
                fix="remove the bad cases from the datalist (they are in the log) or use a "
                "larger batch_size",
            )

    def stats(self) -> dict[str, Any]:
        """What train_stats.json says about bad cases."""
        return {
            "skipped_cases": len(self.cases),
            "bad_cases": [c.record() for c in self.cases.values()],
        }

    def state_dict(self) -> dict[str, Any]:  # carried across resume
        return {"cases": [{"case_id": k, **vars(c)} for k, c in self.cases.items()]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for item in state_dict.get("cases", []):
            item = dict(item)
            self.cases.setdefault(item.pop("case_id"), BadCase(**item))
