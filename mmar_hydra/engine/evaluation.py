"""Validation and inference of a built model: Clara's SupervisedEvaluator on Lightning.

The same code path serves ``task=validate`` (metrics, per-case values, MetricsSaver files)
and ``task=infer`` (no labels, predictions written by the post transforms' SaveImaged).
The model may be an ``nn.Module`` or a TorchScript module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from mmar_hydra import gc_policy
from mmar_hydra.components.metrics import metric_value
from mmar_hydra.components.parts import EvalParts
from mmar_hydra.distributed import ddp_job
from mmar_hydra.engine.ignite_bridge import IgniteBridge, batched_output, ignite_handlers
from mmar_hydra.engine.interaction import run_interaction
from mmar_hydra.engine.module import _filenames, _update_metrics, run_post_transforms
from mmar_hydra.engine.step_errors import guarded_step
from mmar_hydra.engine.trainer import new_trainer, quiet_lightning
from mmar_hydra.faults.bad_case_loader import BadCaseTracker
from mmar_hydra.faults.bad_cases import BadCasePolicy

__all__ = ["MMAREvalModule", "EvalResult", "evaluate"]


class EvalResult(dict):
    """{"metrics": {label: value}, "details": {label: (filenames, [N, C] values)}, "cases": N}."""


class MMAREvalModule(pl.LightningModule):
    def __init__(self, network: Any, parts: EvalParts) -> None:
        super().__init__()
        self.network = network
        self.parts = parts
        self.filenames: list[str] = []
        self.bridge: Any = None  # engine.ignite_bridge.IgniteBridge, when handlers need one
        # for errors raised inside a step (engine.step_errors)
        self.origins = parts.origins
        self.stage_name = "validation" if parts.metrics else "inference"
        self.step_loaders = {"evaluation": parts.dataloader}

    @guarded_step("evaluation")
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if self.parts.iteration is not None:  # Clara's iteration_update (engine.interaction)
            batch = run_interaction(
                self.parts.iteration, self, batch, inferer=self.parts.inferer, amp=self.parts.amp
            )
        with torch.no_grad():
            image = batch["image"]
            infer = self.parts.inferer
            pred = infer(image, self.network) if infer is not None else self.network(image)
        items = run_post_transforms(self.parts.post_transforms, batch, pred)
        _update_metrics(self.parts.metrics, items)
        self.filenames.extend(_filenames(items))
        if self.bridge is not None:  # ignite handlers see the batch and the batched output
            self.bridge.iteration(batch, batched_output(batch, items))

    def on_validation_epoch_start(self) -> None:
        if self.bridge is not None:
            self.bridge.start(epoch=1, device=self.device)

    def on_validation_epoch_end(self) -> None:
        if self.bridge is not None:
            self.bridge.completed()


def _per_case(metric: Any) -> np.ndarray:
    buffer = metric.get_buffer()
    if isinstance(buffer, list | tuple):
        buffer = buffer[0] if buffer else None
    if buffer is None:
        return np.zeros((0, 1))
    return buffer.detach().cpu().float().numpy()


def evaluate(network: Any, parts: EvalParts, trainer_kwargs: Mapping[str, Any]) -> EvalResult:
    """Run the evaluation loop once; metrics are aggregated over every case."""

    quiet_lightning()
    module = MMAREvalModule(network, parts)
    # a case that cannot be loaded stops the evaluation naming its file and datalist entry
    loader = BadCaseTracker(BadCasePolicy()).guard(parts.dataloader, "evaluation")
    ignite = ignite_handlers(parts.handlers)
    if ignite:
        module.bridge = IgniteBridge(ignite, loader)
    kwargs = {"logger": False, "enable_checkpointing": False, "enable_model_summary": False}
    kwargs.update(trainer_kwargs)
    kwargs.setdefault("use_distributed_sampler", False)  # the builder sharded the data per rank
    trainer = new_trainer(kwargs)
    gc_policy.settle()
    with ddp_job():
        trainer.validate(module, dataloaders=loader, verbose=False)
        filenames = _gather(module.filenames)
        metrics, details = {}, {}
        for part in parts.metrics:  # MONAI's Cumulative gathers every rank's cases, in rank order
            details[part.log_label] = (filenames, _per_case(part.metric))
            metrics[part.log_label] = metric_value(part.metric.aggregate())
            part.metric.reset()
    return EvalResult(metrics=metrics, details=details, cases=len(filenames))


def _gather(names: list[str]) -> list[str]:
    """Every rank's case names, concatenated in rank order (the order of the metric buffers)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(names)
    everything: list[list[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everything, list(names))
    return [n for part in everything for n in (part or [])]
