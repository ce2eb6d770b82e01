"""Clara metric names -> cumulative ``monai.metrics`` objects.

Clara's metrics were ignite handlers (``MeanDice``, and ``Accuracy`` from ignite itself).
The Lightning engine needs no ignite: each name maps to a MONAI Cumulative metric with the
same meaning, fed the post-transformed (one-hot) predictions and labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmar_hydra.errors import ComponentError, json_path

__all__ = ["CLARA_METRIC_NAMES", "is_clara_metric", "build_metric", "metric_value"]

# handler-only args of Clara's metric handlers: meaningful to ignite, not to the metric
_HANDLER_ARGS = {"output_transform", "save_details", "device", "batch_transform"}


def _accuracy_class() -> type:
    import torch
    from monai.metrics import CumulativeIterationMetric

    class Accuracy(CumulativeIterationMetric):
        """ignite's Accuracy as Clara used it: the share of equal elements per case.

        With one-hot (or binary) ``y_pred`` and ``y`` of the same shape this is what ignite
        computed; with class scores and class-index labels, the argmax is compared.
        """

        def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if y_pred.shape != y.shape:
                if y_pred.ndim == y.ndim + 1 or (y.ndim == y_pred.ndim and y.shape[1] == 1):
                    y_pred = y_pred.argmax(dim=1, keepdim=y.ndim == y_pred.ndim)
                else:
                    raise ValueError(f"Accuracy: shapes {tuple(y_pred.shape)} and {tuple(y.shape)}")
            equal = (y_pred.round() == y.round()).float()
            return equal.reshape(equal.shape[0], -1).mean(dim=1, keepdim=True)

        def aggregate(self) -> torch.Tensor:
            data = self.get_buffer()
            if data is None or (hasattr(data, "numel") and data.numel() == 0):
                return torch.tensor(float("nan"))
            return data.mean()

    return Accuracy


def _mean_dice(args: dict[str, Any]) -> Any:
    from monai.metrics import DiceMetric

    args.setdefault("reduction", "mean")
    return DiceMetric(**args)


def _simple(cls_name: str, defaults: Mapping[str, Any] | None = None):  # noqa: ANN202
    def make(args: dict[str, Any]) -> Any:
        import monai.metrics

        for k, v in (defaults or {}).items():
            args.setdefault(k, v)
        return getattr(monai.metrics, cls_name)(**args)

    return make


_BUILDERS = {
    "MeanDice": _mean_dice,
    "Accuracy": lambda args: _accuracy_class()(**args),
    "ROCAUC": _simple("ROCAUCMetric"),
    "HausdorffDistance": _simple("HausdorffDistanceMetric", {"reduction": "mean"}),
    "SurfaceDistance": _simple("SurfaceDistanceMetric", {"reduction": "mean"}),
    "MeanIoU": _simple("MeanIoU", {"reduction": "mean"}),
    "ConfusionMatrix": _simple("ConfusionMatrixMetric", {"reduction": "mean"}),
}
CLARA_METRIC_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def is_clara_metric(name: str) -> bool:
    return str(name).rsplit(".", 1)[-1] in _BUILDERS


def build_metric(
    name: str, args: Mapping[str, Any], *, where: str = "", file: str | None = None
) -> Any:
    """A Cumulative MONAI metric for a Clara metric name (handler-only args are dropped)."""
    short = str(name).rsplit(".", 1)[-1]
    if short not in _BUILDERS:
        raise ComponentError(
            f"unknown metric '{name}'",
            file=file,
            path=json_path(where, "name"),
            expected="one of " + ", ".join(CLARA_METRIC_NAMES),
        )
    kwargs = {k: v for k, v in args.items() if k not in _HANDLER_ARGS}
    try:
        return _BUILDERS[short](kwargs)
    except TypeError as exc:
        raise ComponentError(
            f"bad arguments for metric {short}: {exc}",
            file=file,
            path=json_path(where, "args"),
            expected=f"the arguments of MONAI's metric behind {short}",
        ) from None


def metric_value(aggregated: Any) -> float:
    """One float from what ``aggregate()`` returned (tensor, list of tensors, number)."""
    import torch

    if isinstance(aggregated, list | tuple):
        aggregated = aggregated[0] if aggregated else float("nan")
    if isinstance(aggregated, torch.Tensor):
        return float(aggregated.float().nanmean()) if aggregated.numel() else float("nan")
    return float(aggregated)


def __getattr__(name: str) -> Any:  # the Accuracy class is built lazily (imports torch)
    if name == "Accuracy":
        return _accuracy_class()
    raise AttributeError(name)
