"""Clara's ``iteration_update`` on Lightning: deepgrow's Interaction inside every step.

An Interaction (``monai.apps.deepgrow.interaction.Interaction``, or the MMAR's custom one)
is an ignite process function: ``interaction(engine, batch)`` predicts ``max_interactions``
times with ``engine.network`` under ``engine.inferer``, adds simulated clicks to the batch
with its transforms, and ends with ``engine._iteration(engine, batch)``, the engine's own
step. :class:`InteractionEngine` gives it what it reads of an ignite engine, taken from
the Lightning module, and its ``_iteration`` hands the clicked batch back: the module then
runs its ordinary training or validation step on it. No ignite engine is made (and
pytorch-ignite need not be installed for MONAI's Interaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["InteractionEngine", "run_interaction"]


class InteractionEngine:
    """The part of ``SupervisedTrainer`` / ``SupervisedEvaluator`` an Interaction uses.

    Args:
        network: the module's network (the Interaction switches it to eval mode).
        inferer: the section's inferer; ``None`` calls the network directly.
        amp: Clara's ``amp`` switch (the Interaction autocasts its predictions).
        device: where the module runs.
        epoch, iteration: 1-based, as ignite counts them.
    """

    def __init__(
        self,
        network: Any,
        inferer: Any,
        *,
        amp: bool,
        device: torch.device,
        epoch: int = 1,
        iteration: int = 1,
    ) -> None:
        self.network = network
        self.inferer = inferer if inferer is not None else _direct
        self.amp = amp
        self.state = SimpleNamespace(device=device, epoch=epoch, iteration=iteration)

    def prepare_batch(self, batchdata: Mapping[str, Any], *_: Any, **__: Any) -> tuple[Any, Any]:
        """(image, label) of a batch, as MONAI's ``default_prepare_batch`` gives them."""
        return batchdata["image"], batchdata.get("label")

    def fire_event(self, event: Any) -> None:
        """MONAI's inner-iteration events: no handler of a Clara MMAR listens to them."""

    @staticmethod
    def _iteration(engine: InteractionEngine, batchdata: Any) -> Any:
        """The end of the Interaction: the clicked batch goes back to the Lightning step."""
        return batchdata


def _direct(inputs: torch.Tensor, network: Any) -> torch.Tensor:
    return network(inputs)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def run_interaction(interaction: Any, module: Any, batch: Any, *, inferer: Any, amp: bool) -> Any:
    """``batch`` after ``interaction``'s simulated clicks, on the module's device.

    Args:
        interaction: the built ``iteration`` component.
        module: the Lightning module (its network, device, epoch and step).
        batch: the collated batch Lightning gave the step.
        inferer: the section's inferer.
        amp: the section's ``amp``.
    """
    network = module.network
    trainer = getattr(module, "_trainer", None)
    engine = InteractionEngine(
        network,
        inferer,
        amp=amp,
        device=module.device,
        epoch=(module.current_epoch + 1) if trainer is not None else 1,
        iteration=(module.global_step + 1) if trainer is not None else 1,
    )
    keys = list(batch)
    was_training = network.training
    try:
        clicked = interaction(engine, batch)
    finally:
        network.train(was_training)  # the Interaction predicted in eval mode
    # the batch's own keys with their clicked values; the Interaction's working keys (pred,
    # probability, discrepancy) stay behind: the step predicts again, as Clara's _iteration did
    return _to_device({k: clicked[k] for k in keys if k in clicked}, module.device)
