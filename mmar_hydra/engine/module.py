"""The LightningModule that stands in for Clara's SupervisedTrainer and SupervisedEvaluator.

It wraps the MONAI network, the loss, the train and validate inferers, the post transforms
and the metrics of a :class:`TrainParts`. Metrics run on the post-transformed, decollated
predictions exactly as Clara's handlers saw them, and are logged under their ``log_label``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from mmar_hydra.components.metrics import metric_value
from mmar_hydra.components.parts import EvalParts, MetricPart, TrainParts
from mmar_hydra.engine.ignite_bridge import IgniteBridge, batched_output, ignite_handlers
from mmar_hydra.engine.interaction import run_interaction
from mmar_hydra.engine.step_errors import guarded_step
from mmar_hydra.errors import ConfigError, MMARError

__all__ = [
    "MMARLightningModule",
    "prepare_label",
    "metric_mode",
    "run_post_transforms",
    "component_summary",
]

# losses that want class indices, not masks / one-hot targets
_INDEX_LOSSES = ("CrossEntropyLoss", "NLLLoss")
_LOWER_IS_BETTER = ("HausdorffDistance", "SurfaceDistance")


def _described(obj: Any) -> str:
    prob = getattr(obj, "prob", None)
    name = type(obj).__name__
    return f"{name}(prob={prob:g})" if isinstance(prob, float | int) else name


def component_summary(parts: TrainParts) -> dict[str, Any]:
    """The classes the engine trains with (logged as hyperparameters: ``hparams.yaml``)."""
    opt = getattr(parts, "optimizer", None)
    lrs = [g.get("lr") for g in getattr(opt, "param_groups", [])]
    pre = getattr(getattr(parts, "pre_transforms", None), "transforms", None) or []
    net, scheduler = getattr(parts, "network", None), getattr(parts, "lr_scheduler", None)
    params = net.parameters() if isinstance(net, torch.nn.Module) else []
    return {
        "network": type(net).__name__,
        "parameters": sum(p.numel() for p in params),
        "loss": type(getattr(parts, "loss", None)).__name__,
        "optimizer": type(opt).__name__,
        "lr": float(lrs[0]) if lrs and isinstance(lrs[0], float | int) else None,
        "lr_scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "pre_transforms": [_described(t) for t in pre],
    }


def metric_mode(part: MetricPart | None) -> str:
    """ "min" for distance metrics, "max" for the rest (Dice, accuracy, AUC...)."""
    return "min" if part is not None and part.clara_name in _LOWER_IS_BETTER else "max"


def prepare_label(label: Any, pred: torch.Tensor, loss: Any) -> Any:
    """Labels as the loss needs them; older MONAI cast bool/int labels to float itself."""
    if not isinstance(label, torch.Tensor):
        return label
    if type(loss).__name__ in _INDEX_LOSSES:
        if label.ndim == pred.ndim and label.shape[1] == 1:
            label = label.squeeze(1)
        return label.long()
    if label.dtype == torch.bool or not label.is_floating_point():
        label = label.float()
    if label.ndim == 1 and pred.ndim == 2:  # class index per case vs per-class scores
        label = label.unsqueeze(1) if pred.shape[1] == 1 else label
    return label


def run_post_transforms(
    post: Any, batch: dict[str, Any], pred: torch.Tensor
) -> list[dict[str, Any]]:
    """Decollate ``batch`` + ``pred`` into per-case dicts and apply the post transforms."""
    from monai.data import decollate_batch

    data = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor | list | tuple)}
    data["pred"] = pred
    items = decollate_batch(data, detach=True)
    return [post(item) for item in items] if post is not None else items


def _update_metrics(metrics: list[MetricPart], items: list[dict[str, Any]]) -> None:
    if not metrics or not items or "label" not in items[0]:
        return
    y_pred = [item["pred"] for item in items]
    y = [item["label"] for item in items]
    for part in metrics:
        if part.output is None:
            part.metric(y_pred=y_pred, y=y)
        else:  # Clara's output_transform picks the pair, e.g. the inverted prediction
            pairs = [_metric_pair(part, item) for item in items]
            part.metric(y_pred=[p[0] for p in pairs], y=[p[1] for p in pairs])


def _metric_pair(part: MetricPart, item: dict[str, Any]) -> tuple[Any, Any]:
    """(y_pred, y) of one case through the metric's output_transform."""
    output: Any = part.output
    try:
        pair = output(item)
    except KeyError as exc:
        raise ConfigError(
            f"the output_transform of metric {part.log_label} reads {exc}, which the case "
            "does not have",
            path=f"{part.json_path}.args.output_transform",
            expected="one of the keys after the post transforms: " + ", ".join(map(str, item)),
            fix="read a key the post transforms produce (a TransformInverter makes "
            "<key>_<postfix>)",
        ) from None
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ConfigError(
            f"the output_transform of metric {part.log_label} does not give (y_pred, y)",
            path=f"{part.json_path}.args.output_transform",
            expected="lambda x: (x['pred'], x['label'])",
        )
    return pair[0], pair[1]


class MMARLightningModule(pl.LightningModule):
    """Train and validate what an MMAR's training config describes."""

    def __init__(self, parts: TrainParts, *, scheduler_interval: str = "epoch") -> None:
        super().__init__()
        self.save_hyperparameters(component_summary(parts))
        self.network = parts.network
        self.loss_fn = parts.loss
        self._optimizer = parts.optimizer
        self._scheduler = parts.lr_scheduler
        self.scheduler_interval = scheduler_interval
        self.train_inferer = parts.inferer
        self.train_post = parts.post_transforms
        self.train_metrics = parts.metrics
        self.train_iteration = parts.iteration  # deepgrow's Interaction, or None
        self.amp = parts.amp
        self.eval_parts: EvalParts | None = parts.validate
        val_metrics = parts.validate.metrics if parts.validate else []
        self.key_metric: MetricPart | None = next((m for m in val_metrics if m.is_key), None)
        self.key_metric_mode = metric_mode(self.key_metric)
        self.last_val_metrics: dict[str, float] = {}
        self.last_val_filenames: list[str] = []
        # per-case values of the last validation, {log_label: buffer}, for eval CSVs
        self.last_val_details: dict[str, Any] = {}
        # each section's ignite handlers (custom/ ones), run by bridges made lazily
        self._ignite = ignite_handlers(parts.validate.handlers) if parts.validate else []
        self.bridge: IgniteBridge | None = None
        self._train_ignite = ignite_handlers(parts.handlers)
        self.train_bridge: IgniteBridge | None = None
        self._last_output: dict[str, Any] = {}
        # for errors raised inside a step (engine.step_errors): what was built, from where
        self.origins = parts.origins
        self.step_loaders = {
            "training": parts.dataloader,
            "validation": parts.validate.dataloader if parts.validate else None,
        }

    # -- forward ---------------------------------------------------------------------
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image)

    def _infer(self, inferer: Any, image: torch.Tensor) -> torch.Tensor:
        return inferer(image, self.network) if inferer is not None else self.network(image)

    # -- training --------------------------------------------------------------------
    @guarded_step("training")
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.train_iteration is not None:  # Clara's iteration_update (engine.interaction)
            batch = run_interaction(
                self.train_iteration, self, batch, inferer=self.train_inferer, amp=self.amp
            )
        image = batch["image"]
        pred = self._infer(self.train_inferer, image)
        label = prepare_label(batch["label"], pred, self.loss_fn)
        loss = _plain_tensor(self.loss_fn(pred, label))
        if not torch.isfinite(loss):
            origin = self.origins.find(self.loss_fn) if self.origins is not None else None
            raise MMARError(
                f"the training loss is {loss.item()} at epoch {self.current_epoch + 1}, "
                f"iteration {batch_idx + 1}",
                file=origin.file if origin else None,
                path=origin.where if origin else "train.loss",
                expected="a finite loss",
                fix="lower learning_rate, check the labels and the intensity scaling; "
                "model.pt and final_model.pt from earlier epochs are kept",
            )
        n = image.shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n)
        if self.train_bridge is not None:  # Clara's trainer output, for its handlers
            items = run_post_transforms(self.train_post, batch, pred.detach())
            self._last_output = {**batched_output(batch, items), "loss": loss.detach()}
        elif self.train_metrics and self.train_post is not None:
            # only what the metric reads: decollating the image batch too costs ~10% of a step
            items = run_post_transforms(self.train_post, {"label": batch["label"]}, pred.detach())
        if self.train_metrics and self.train_post is not None:
            _update_metrics(self.train_metrics, items)
        return loss

    # -- the train section's ignite handlers (one run for the whole fit) ---------------
    def on_train_start(self) -> None:
        if self._train_ignite:
            loader = self.trainer.train_dataloader
            self.train_bridge = IgniteBridge(self._train_ignite, loader, role="training")
            max_epochs = int(self.trainer.max_epochs or 1)
            self.train_bridge.run_started(
                self.device, max_epochs=max_epochs, iteration=self.global_step
            )

    def on_train_epoch_start(self) -> None:
        if self.train_bridge is not None:
            self.train_bridge.epoch_started(self.current_epoch + 1)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.train_bridge is not None:
            self.train_bridge.iteration(batch, self._last_output)

    def on_train_end(self) -> None:
        if self.train_bridge is not None:
            self.train_bridge.run_completed()

    def on_train_epoch_end(self) -> None:
        for part in self.train_metrics:
            self.log(part.log_label, metric_value(part.metric.aggregate()), sync_dist=True)
            part.metric.reset()
        found = self.optimizers(use_pl_optimizer=False)
        opt = found[0] if isinstance(found, list) and found else found  # one per MMAR
        if isinstance(opt, torch.optim.Optimizer) and opt.param_groups:
            self.log("lr", float(opt.param_groups[0]["lr"]), sync_dist=False)
        if self.train_bridge is not None:
            self.train_bridge.epoch_completed()

    # -- validation ------------------------------------------------------------------
    @guarded_step("validation")
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        parts = self.eval_parts
        if parts is None:
            return
        if parts.iteration is not None:
            batch = run_interaction(
                parts.iteration, self, batch, inferer=parts.inferer, amp=parts.amp
            )
        pred = self._infer(parts.inferer, batch["image"])
        items = run_post_transforms(parts.post_transforms, batch, pred)
        _update_metrics(parts.metrics, items)
        self.last_val_filenames.extend(_filenames(items))
        if self.bridge is not None:
            self.bridge.iteration(batch, batched_output(batch, items))

    def on_validation_epoch_start(self) -> None:
        self.last_val_filenames = []
        if self._ignite and not self.trainer.sanity_checking:
            if self.bridge is None:  # attached once, as Clara attached them to its evaluator
                self.bridge = IgniteBridge(self._ignite, self.trainer.val_dataloaders)
            self.bridge.start(epoch=self.current_epoch + 1, device=self.device)

    def on_validation_epoch_end(self) -> None:
        if self.eval_parts is None:
            return
        values, details = {}, {}
        for part in self.eval_parts.metrics:
            values[part.log_label] = metric_value(part.metric.aggregate())
            details[part.log_label] = _buffer(part.metric)
            part.metric.reset()
        self.last_val_metrics, self.last_val_details = values, details
        if self.bridge is not None and not self.trainer.sanity_checking:
            self.bridge.completed()
        for label, value in values.items():
            # MONAI's Cumulative metrics already gathered every rank's cases: equal on all ranks
            self.log(label, value, prog_bar=True, sync_dist=True)

    # -- optimisation ----------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        if self._scheduler is None:
            return self._optimizer
        scheduler: dict[str, Any] = {
            "scheduler": self._scheduler,
            "interval": self.scheduler_interval,
        }
        if type(self._scheduler).__name__ == "ReduceLROnPlateau" and self.key_metric is not None:
            scheduler["monitor"] = self.key_metric.log_label
        return {"optimizer": self._optimizer, "lr_scheduler": scheduler}


def _plain_tensor(value: Any) -> Any:
    """A MONAI MetaTensor loss as a plain tensor, still attached to the autograd graph.

    The loss of MetaTensor inputs is a MetaTensor carrying the batch's metadata. Lightning
    clones the loss three times a step (closure result, ``self.log``, epoch aggregation), and
    each MetaTensor clone deep-copies that metadata: ~14 ms a step on the demo, 6 % of it.
    """
    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor:
        return value.as_subclass(torch.Tensor)
    return value


def _buffer(metric: Any) -> Any:
    """The metric's per-case values (a detached CPU tensor), kept past ``reset()``."""
    buffer = metric.get_buffer() if hasattr(metric, "get_buffer") else None
    if isinstance(buffer, list | tuple):
        buffer = buffer[0] if buffer else None
    return buffer.detach().cpu() if isinstance(buffer, torch.Tensor) else buffer


def _filenames(items: list[dict[str, Any]]) -> list[str]:
    names = []
    for item in items:
        image = item.get("image")
        meta = getattr(image, "meta", None) or item.get("image_meta_dict") or {}
        names.append(str(meta.get("filename_or_obj", "")))
    return names
