"""Clara metric names -> cumulative ``monai.metrics`` objects.

Clara's metrics were ignite handlers (``MeanDice`` and friends from ``monai.handlers``,
``Accuracy`` from ignite itself). The Lightning engine needs no ignite: each name maps to a
MONAI Cumulative metric with the same meaning, fed the post-transformed (one-hot)
predictions and labels: ``m(y_pred=, y=)`` per batch, ``m.aggregate()``, ``m.reset()``,
``m.get_buffer()`` for per-case values (the eval CSVs).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import ComponentError, json_path

__all__ = ["CLARA_METRIC_NAMES", "is_clara_metric", "build_metric", "metric_value"]

# args of Clara's metric *handlers* (ignite plumbing), meaningless to the metric itself
_HANDLER_ARGS = frozenset(
    {"output_transform", "save_details", "device", "batch_transform", "skip_unrolling"}
)

# Clara name -> (monai.metrics class, defaults); Accuracy is ours (ignite's had no MONAI twin)
_METRICS: dict[str, tuple[str, dict[str, Any]]] = {
    "MeanDice": ("DiceMetric", {"reduction": "mean"}),
    "Accuracy": ("", {}),
    "ROCAUC": ("ROCAUCMetric", {}),
    "HausdorffDistance": ("HausdorffDistanceMetric", {"reduction": "mean"}),
    "SurfaceDistance": ("SurfaceDistanceMetric", {"reduction": "mean"}),
    "MeanIoU": ("MeanIoU", {"reduction": "mean"}),
    "ConfusionMatrix": ("ConfusionMatrixMetric", {"reduction": "mean"}),
}
CLARA_METRIC_NAMES: tuple[str, ...] = tuple(_METRICS)


@functools.cache
def _accuracy_class() -> type:
    """ignite's ``Accuracy`` as a MONAI Cumulative metric (built lazily: imports torch)."""
    import torch
    from monai.metrics import CumulativeIterationMetric

    def _plain(data: Any) -> torch.Tensor:  # MetaTensor metadata is not needed per element
        if isinstance(data, torch.Tensor):
            return data.as_subclass(torch.Tensor)
        return torch.as_tensor(data)

    class Accuracy(CumulativeIterationMetric):
        """ignite's Accuracy as Clara used it, on post-transformed predictions and labels.

        - same shapes (one-hot or binary): the share of equal elements;
        - ``y`` with one dim fewer, or one channel where ``y_pred`` has several: class-index
          accuracy (``argmax`` over the channels of ``y_pred``);
        - ``is_multilabel=True`` (same shapes): a position counts as correct only when all
          its channels match.

        ignite divides all correct elements by all elements, so cases weigh by their size;
        ``aggregate()`` does the same. ``get_buffer()`` gives one accuracy per case.

        Args:
            is_multilabel: ignite's multilabel mode.
        """

        def __init__(self, is_multilabel: bool = False) -> None:
            super().__init__()
            self.is_multilabel = is_multilabel

        def _compute_tensor(  # type: ignore[override]
            self, y_pred: torch.Tensor, y: torch.Tensor
        ) -> list[torch.Tensor]:
            y_pred, y = self._align(_plain(y_pred), _plain(y))
            equal = y_pred.round() == y.round()
            if self.is_multilabel:
                equal = equal.all(dim=1)
            equal = equal.reshape(equal.shape[0], -1).float()
            count = torch.full((equal.shape[0], 1), float(equal.shape[1]), device=equal.device)
            return [equal.mean(dim=1, keepdim=True), count]

        def _align(self, y_pred: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if y_pred.shape == y.shape:
                return y_pred, y
            if y_pred.ndim == y.ndim + 1 and y_pred.shape[2:] == y.shape[1:]:
                return y_pred.argmax(dim=1), y
            channel_label = y.ndim == y_pred.ndim and y.shape[1] == 1
            if channel_label and y_pred.shape[2:] == y.shape[2:]:
                return y_pred.argmax(dim=1, keepdim=True), y
            raise ValueError(
                f"Accuracy: prediction shape {tuple(y_pred.shape)} does not fit label shape "
                f"{tuple(y.shape)}; expected equal shapes, or class-index labels"
            )

        def get_buffer(self) -> torch.Tensor | None:  # per-case accuracies only
            buffers = super().get_buffer()
            return buffers[0] if isinstance(buffers, list) else buffers

        def aggregate(self) -> torch.Tensor:
            buffers = super().get_buffer()
            if not isinstance(buffers, list) or buffers[0].numel() == 0:
                return torch.tensor(float("nan"))
            accuracy, count = buffers
            return (accuracy * count).sum() / count.sum()

    return Accuracy


def _metric_class(short: str) -> Any:
    if short == "Accuracy":
        return _accuracy_class()
    import monai.metrics

    return getattr(monai.metrics, _METRICS[short][0])


def _short(name: str) -> str:
    return str(name).rsplit(".", 1)[-1]


def is_clara_metric(name: str) -> bool:
    """True for a Clara metric name, also written as a path (``monai.handlers.MeanDice``)."""
    return _short(name) in _METRICS


def build_metric(
    name: str, args: Mapping[str, Any], *, where: str = "", file: str | None = None
) -> Any:
    """A Cumulative MONAI metric for a Clara metric name.

    Handler-only args (``output_transform``, ``save_details``, ``device``...) are accepted
    and dropped; any other arg must be one the MONAI metric takes.

    Raises:
        ComponentError: unknown metric name, unknown or invalid args.
    """
    short = _short(name)
    if short not in _METRICS:
        raise ComponentError(
            f"unknown metric '{name}'",
            file=file,
            path=json_path(where, "name"),
            expected="one of " + ", ".join(CLARA_METRIC_NAMES),
            fix="use one of those names, or remove the metric",
        )
    cls = _metric_class(short)
    kwargs = {k: v for k, v in args.items() if k not in _HANDLER_ARGS}
    check_args(cls, kwargs, component=f"metric {short}", where=where, file=file)
    for key, value in _METRICS[short][1].items():
        kwargs.setdefault(key, value)
    try:
        _check_values(kwargs)
        return cls(**kwargs)
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise ComponentError(
            f"bad arguments for metric {short}: {exc}",
            file=file,
            path=json_path(where, "args"),
            expected=f"the arguments of {cls.__name__} (MONAI's metric behind {short})",
            fix="correct the values in args",
        ) from None


def _check_values(kwargs: Mapping[str, Any]) -> None:
    """Values MONAI only checks in ``aggregate()``: fail at build time, not after an epoch."""
    from monai.metrics.confusion_matrix import check_confusion_matrix_metric_name
    from monai.utils import MetricReduction

    if "reduction" in kwargs and str(kwargs["reduction"]) not in {m.value for m in MetricReduction}:
        choices = ", ".join(m.value for m in MetricReduction)
        raise ValueError(f"reduction {kwargs['reduction']!r} is not one of {choices}")
    names = kwargs.get("metric_name")
    for metric_name in [names] if isinstance(names, str) else names or []:
        try:
            check_confusion_matrix_metric_name(str(metric_name))
        except NotImplementedError:
            raise ValueError(
                f"metric_name {metric_name!r} is not a confusion-matrix metric "
                "(e.g. sensitivity, specificity, precision, accuracy, f1 score)"
            ) from None


def metric_value(aggregated: Any) -> float:
    """One float from what ``aggregate()`` returned.

    ``DiceMetric(get_not_nans=True)`` returns ``(value, not_nans)`` and
    ``ConfusionMatrixMetric`` one tensor per metric name: the first is the value. Tensors
    with several entries (per-class values) are averaged ignoring NaN, as MONAI reduces.
    """
    if isinstance(aggregated, list | tuple):
        aggregated = aggregated[0] if aggregated else float("nan")
    if hasattr(aggregated, "numel"):  # a tensor; torch is imported by whoever built it
        if aggregated.numel() == 0:
            return float("nan")
        return float(aggregated.float().nanmean())
    return float(aggregated)


def __getattr__(name: str) -> Any:  # ``metrics.Accuracy`` without importing torch up front
    if name == "Accuracy":
        return _accuracy_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
