"""Post-processing chosen by cross-validation, as nnU-Net chooses it.

On the out-of-fold predictions, ``KeepLargestConnectedComponent`` is tried first on all
labels together (the union of the foreground labels as one object), then on each label on
top of what was kept so far. A step is kept only where it raises the mean key metric over
every out-of-fold case (lowers it, for distance metrics); a tie is not kept. The choice is
written into a copy of the inference config as ``KeepLargestConnectedComponentd``
transforms after the prediction is discretized.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mmar_hydra.components.metrics import metric_value
from mmar_hydra.cv.oof import OOFCase, decode
from mmar_hydra.errors import ConfigError, DataError
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["Choice", "labels_of", "apply_choice", "score", "choose", "klcc_specs", "write_config"]


@dataclass(frozen=True)
class Choice:
    """Which components are kept.

    Args:
        together: keep the largest component of all foreground labels as one object.
        labels: labels whose own largest component is kept (independently).
    """

    together: bool = False
    labels: tuple[int, ...] = ()

    def describe(self, labels: list[int]) -> str:
        """In words, for the console."""
        parts = []
        if self.together:
            parts.append(f"the largest component of labels {list(labels)} together")
        if self.labels:
            parts.append(f"the largest component of each of labels {list(self.labels)}")
        return "; then ".join(parts) or "nothing (no step raised the key metric)"


def labels_of(case: OOFCase) -> list[int]:
    """The labels post-processing may touch: 1..C-1 for classes (0 is background), else
    every channel of a multi-label output."""
    return list(range(1, case.num_classes)) if case.categorical else list(range(case.num_classes))


def _check_discrete(case: OOFCase) -> None:
    allowed = range(case.num_classes) if case.categorical else (0, 1)
    if case.pred.ndim < 3 or not np.isin(case.pred, allowed).all():
        raise DataError(
            "the out-of-fold predictions are not segmentation masks",
            file=case.source,
            expected="discrete channel-first predictions with spatial dims (after AsDiscreted)",
            fix="post-processing applies to segmentation MMARs whose validate post transforms "
            "discretize the prediction",
        )


def _add_label(choice: Choice, lab: int) -> Choice:
    """``choice`` with ``lab``'s own largest component kept too."""
    return Choice(choice.together, (*choice.labels, lab))


def apply_choice(choice: Choice, case: OOFCase, labels: list[int]) -> np.ndarray:
    """The case's prediction, one-hot (C, ...), after the chosen components are kept."""
    import torch
    from monai.transforms import KeepLargestConnectedComponent

    pred: Any = torch.tensor(case.pred)  # a copy: the transform may write into its input
    onehot = not case.categorical
    if choice.together:
        pred = KeepLargestConnectedComponent(
            applied_labels=labels, is_onehot=onehot, independent=False
        )(pred)
    if choice.labels:
        pred = KeepLargestConnectedComponent(
            applied_labels=list(choice.labels), is_onehot=onehot, independent=True
        )(pred)
    pred = np.asarray(pred.as_tensor() if hasattr(pred, "as_tensor") else pred)
    return decode(pred.astype(case.pred.dtype), case.categorical, case.num_classes)


def score(
    choice: Choice,
    cases: Callable[[], Iterable[OOFCase]],
    metric_factory: Callable[[], Any],
    labels: list[int],
) -> float:
    """The key metric over every case with ``choice`` applied (one pass over the cases)."""
    import torch

    metric = metric_factory()
    for case in cases():
        pred = torch.as_tensor(apply_choice(choice, case, labels), dtype=torch.float32)
        label = torch.as_tensor(decode(case.label, case.categorical, case.num_classes)).float()
        metric(y_pred=[pred], y=[label])
    value = metric_value(metric.aggregate())
    metric.reset()
    return value


def choose(
    cases: Callable[[], Iterable[OOFCase]],
    metric_factory: Callable[[], Any],
    *,
    lower_is_better: bool = False,
    metric_name: str = "key metric",
) -> tuple[Choice, list[dict[str, Any]]]:
    """The post-processing to keep, and the decision table.

    Args:
        cases: a callable returning the out-of-fold cases afresh (they stream from disk).
        metric_factory: builds a fresh cumulative key metric.
        lower_is_better: for distance metrics.
        metric_name: the key metric's label, for the table.

    Raises:
        DataError: no cases, or predictions that are not segmentation masks.
    """
    first = next(iter(cases()), None)
    if first is None:
        raise DataError(
            "there are no out-of-fold predictions",
            expected="<cv_dir>/oof/fold_<i>/*.npz written by task=cv",
            fix="run task=cv first (it writes them after training the folds)",
        )
    _check_discrete(first)
    labels = labels_of(first)

    def better(new: float, old: float) -> bool:
        if np.isnan(new):
            return False
        return bool(new < old if lower_is_better else new > old) or np.isnan(old)

    current = Choice()
    current_value = score(current, cases, metric_factory, labels)
    candidates: list[tuple[str, list[int], Callable[[Choice], Choice]]] = [
        ("all labels together", labels, lambda c: Choice(True, c.labels))
    ]
    candidates += [(f"label {lab}", [lab], partial(_add_label, lab=lab)) for lab in labels]
    rows = []
    for step, (name, applied, extend) in enumerate(candidates, 1):
        candidate = extend(current)
        value = score(candidate, cases, metric_factory, labels)
        kept = better(value, current_value)
        rows.append(
            {
                "step": step,
                "candidate": f"KeepLargestConnectedComponent, {name}",
                "applied_labels": json.dumps(applied),
                f"{metric_name} before": current_value,
                f"{metric_name} with it": value,
                "change": value - current_value,
                "kept": "yes" if kept else "no",
            }
        )
        if kept:
            current, current_value = candidate, value
    return current, rows


def klcc_specs(choice: Choice, labels: list[int]) -> list[dict[str, Any]]:
    """The chosen post-processing as Clara components for a config's ``post_transforms``."""
    specs = []
    if choice.together:
        specs.append(
            {
                "name": "KeepLargestConnectedComponentd",
                "args": {"keys": "pred", "applied_labels": list(labels), "independent": False},
            }
        )
    if choice.labels:
        specs.append(
            {
                "name": "KeepLargestConnectedComponentd",
                "args": {
                    "keys": "pred",
                    "applied_labels": list(choice.labels),
                    "independent": True,
                },
            }
        )
    return specs


def _keys(spec: Mapping[str, Any]) -> list[str]:
    keys = (spec.get("args") or {}).get("keys", [])
    return [keys] if isinstance(keys, str) else list(keys)


def write_config(
    source: Path, config: Mapping[str, Any], specs: list[dict[str, Any]], dest: Path
) -> Path:
    """``config`` (the inference config as written) with ``specs`` after the prediction's
    last AsDiscreted(d), saved as ``dest``.

    Raises:
        ConfigError: the config has no AsDiscreted on ``pred`` to put them after.
    """
    out = json.loads(json.dumps(config))
    post = out.get("post_transforms")
    positions = [
        i
        for i, spec in enumerate(post if isinstance(post, list) else [])
        if isinstance(spec, Mapping)
        and str(spec.get("name", "")).rsplit(".", 1)[-1] in ("AsDiscreted", "AsDiscrete")
        and "pred" in _keys(spec)
    ]
    if specs and not positions:
        raise ConfigError(
            "the inference config does not discretize the prediction",
            file=source,
            path="post_transforms",
            expected='an AsDiscreted on "pred" (argmax or threshold) to keep components after',
            fix="add AsDiscreted to the inference config's post_transforms, or pick another "
            "config_file=",
        )
    if specs:
        at = positions[-1] + 1
        post[at:at] = specs
    atomic_write_text(dest, json.dumps(out, indent=2) + "\n")
    return dest
