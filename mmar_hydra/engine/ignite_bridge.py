"""Ignite event handlers run inside the Lightning evaluation loop.

Clara's evaluators were ignite engines; some evaluation handlers only make sense as ignite
handlers: MONAI's ``ProbMapProducer`` (whole-slide probability maps) and a trusted MMAR's
own ``custom/`` handlers. Each is attached to an ignite ``Engine`` that does no work of
its own: it carries ``data_loader``, and the evaluation loop sets ``state.batch`` /
``state.output`` and fires ``ITERATION_COMPLETED`` after every step, then
``EPOCH_COMPLETED`` and ``COMPLETED`` at the end, as ``SupervisedEvaluator`` did.
``state.output`` is a dict of batched tensors (``pred`` after the post transforms), the
form MONAI's handlers read with ``decollate=False``.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.errors import MMARError

__all__ = ["IgniteBridge"]


class IgniteBridge:
    """Drive ignite handlers from a Lightning loop.

    Args:
        handlers: built handler objects with ``attach(engine)``.
        dataloader: the evaluation data loader (``engine.data_loader``).
    """

    def __init__(self, handlers: list[Any], dataloader: Any) -> None:
        try:
            from ignite.engine import Engine, Events
        except ImportError:
            names = ", ".join(type(h).__name__ for h in handlers)
            raise MMARError(
                f"{names}: an ignite event handler, and pytorch-ignite is not installed",
                expected="pytorch-ignite, which runs Clara's evaluation handlers",
                fix='pip install -e ".[pathology]" (or pip install pytorch-ignite)',
            ) from None
        self.events = Events
        self.engine = Engine(lambda engine, batch: None)
        self.engine.data_loader = dataloader  # type: ignore[attr-defined]
        state: Any = self.engine.state
        state.epoch, state.max_epochs, state.iteration = 1, 1, 0
        state.epoch_length = len(dataloader) if hasattr(dataloader, "__len__") else None
        for handler in handlers:
            handler.attach(self.engine)
        self.engine.fire_event(Events.STARTED)
        self.engine.fire_event(Events.EPOCH_STARTED)

    def iteration(self, batch: dict[str, Any], output: dict[str, Any]) -> None:
        """One evaluation step is done: ``batch`` as loaded, ``output`` with ``pred``."""
        state: Any = self.engine.state
        state.iteration += 1
        state.batch, state.output = batch, output
        self.engine.fire_event(self.events.ITERATION_COMPLETED)

    def completed(self) -> None:
        """The pass is over (maps are finalised, files closed)."""
        self.engine.fire_event(self.events.EPOCH_COMPLETED)
        self.engine.fire_event(self.events.COMPLETED)
