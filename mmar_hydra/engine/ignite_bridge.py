"""Ignite event handlers run inside the Lightning training and evaluation loops.

Clara's evaluators were ignite engines; some evaluation handlers only make sense as ignite
handlers: MONAI's ``ProbMapProducer`` (whole-slide probability maps) and a trusted MMAR's
own ``custom/`` handlers (``components.eval_handlers``). Each is attached once to an ignite
``Engine`` that does no work of its own: it carries ``data_loader`` and ``state.device``.
Every evaluation pass (``task=validate`` / ``task=infer``, or one validation during
training) is one ``run`` of that engine, as ``SupervisedEvaluator.run(global_epoch)`` was:
``STARTED`` and ``EPOCH_STARTED`` with ``state.epoch`` set to the training epoch and the
iteration count back at 0, ``ITERATION_COMPLETED`` after every step with ``state.batch`` /
``state.output`` set, then ``EPOCH_COMPLETED`` and ``COMPLETED``. ``state.output`` holds the
batched ``image``, ``label`` and ``pred`` after the post transforms, the dict MONAI's
evaluator handed its handlers. A training config's own ``train`` handlers see one run for
the whole fit, as Clara's trainer gave them: ``STARTED`` once, ``EPOCH_STARTED`` /
``EPOCH_COMPLETED`` per epoch, ``ITERATION_COMPLETED`` per step with the iteration counted
across epochs and ``loss`` in ``state.output``, ``COMPLETED`` at the end.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Sequence
from typing import Any

import torch

from mmar_hydra.components.parts import HandlerPart
from mmar_hydra.distributed import process_rank
from mmar_hydra.errors import ComponentError, MMARError

__all__ = ["IgniteBridge", "ignite_handlers", "batched_output"]


def ignite_handlers(parts: Sequence[HandlerPart]) -> list[HandlerPart]:
    """The built handlers the loop runs itself, for this process (Clara's ``rank`` honoured)."""
    rank = process_rank()
    return [h for h in parts if h.obj is not None and h.rank in (None, rank)]


def _source(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(type(obj))
    except TypeError:
        return None


def batched_output(batch: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"image", "label", "pred"}`` batched again after the per-case post transforms."""
    output: dict[str, Any] = {}
    for key in ("image", "label", "pred"):
        values = [item.get(key) for item in items]
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if len(tensors) == len(values) and len({tuple(t.shape) for t in tensors}) == 1:
            output[key] = torch.stack([t.as_subclass(torch.Tensor) for t in tensors])
        elif key in batch:
            output[key] = batch[key]
    return output


class IgniteBridge:
    """Drive ignite handlers from a Lightning loop.

    An exception inside a handler stops the pass with a :class:`ComponentError` naming the
    handler (found by its source file in the traceback) and its JSON path.

    Args:
        handlers: the handler parts whose built ``obj`` has ``attach(engine)``.
        dataloader: the loop's data loader (``engine.data_loader``).
        role: ``"evaluation"`` or ``"training"``: which loop, for error messages.
    """

    def __init__(
        self, handlers: list[HandlerPart], dataloader: Any, role: str = "evaluation"
    ) -> None:
        self.handlers = handlers
        self.role = role
        try:
            from ignite.engine import Engine, Events
        except ImportError:
            names = ", ".join(h.name for h in handlers)
            raise MMARError(
                f"{names}: an ignite event handler, and pytorch-ignite is not installed",
                expected=f"pytorch-ignite, which runs Clara's {role} handlers",
                fix='pip install -e ".[pathology]" (or pip install pytorch-ignite)',
            ) from None
        self.events = Events
        self.engine = Engine(lambda engine, batch: None)
        self.engine.data_loader = dataloader  # type: ignore[attr-defined]
        state: Any = self.engine.state
        state.device = torch.device("cpu")
        state.epoch, state.max_epochs, state.iteration = 0, 1, 0
        state.epoch_length = len(dataloader) if hasattr(dataloader, "__len__") else None
        for handler in handlers:
            self._guarded(lambda h=handler: h.obj.attach(self.engine), "attach")

    def start(self, epoch: int = 1, device: Any = "cpu") -> None:
        """An evaluation pass begins (one ``SupervisedEvaluator.run``): ``epoch`` is the
        training epoch it validates (1 for a task), ``device`` where the loop runs."""
        self.engine.state.epoch = epoch - 1  # ignite's epoch while STARTED fires
        self.run_started(device, max_epochs=max(epoch, 1), iteration=0)
        self.epoch_started(epoch)

    def completed(self) -> None:
        """The evaluation pass is over (maps are finalised, files closed)."""
        self.epoch_completed()
        self.run_completed()

    def run_started(self, device: Any, *, max_epochs: int, iteration: int = 0) -> None:
        """``STARTED``: a run begins on ``device``; ``iteration`` counts the steps already
        done (a resumed training run)."""
        state: Any = self.engine.state
        state.device = torch.device(device)
        state.max_epochs, state.iteration = max_epochs, iteration
        self._fire(self.events.STARTED)

    def epoch_started(self, epoch: int) -> None:
        """``EPOCH_STARTED`` of ``epoch`` (1-based, as ignite counts)."""
        state: Any = self.engine.state
        state.epoch = epoch
        self._fire(self.events.EPOCH_STARTED)

    def iteration(self, batch: dict[str, Any], output: dict[str, Any]) -> None:
        """One step is done: ``batch`` as loaded, ``output`` with ``pred`` (and ``loss``)."""
        state: Any = self.engine.state
        state.iteration += 1
        state.batch, state.output = batch, output
        self._fire(self.events.ITERATION_COMPLETED)

    def epoch_completed(self) -> None:
        """``EPOCH_COMPLETED`` of the current epoch."""
        self._fire(self.events.EPOCH_COMPLETED)

    def run_completed(self) -> None:
        """``COMPLETED``: the run is over."""
        self._fire(self.events.COMPLETED)

    def _fire(self, event: Any) -> None:
        self._guarded(lambda: self.engine.fire_event(event), getattr(event, "name", str(event)))

    def _guarded(self, call: Any, when: str) -> None:
        try:
            call()
        except MMARError:
            raise
        except Exception as exc:  # noqa: BLE001 - a handler's failure, said with its place
            raise self._failed(exc, when) from exc

    def _failed(self, exc: Exception, when: str) -> ComponentError:
        files = {_source(h.obj): h for h in self.handlers}
        frames = traceback.extract_tb(exc.__traceback__)
        found = next((files[f.filename] for f in reversed(frames) if f.filename in files), None)
        name = found.name if found else ", ".join(h.name for h in self.handlers)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return ComponentError(
            f"the {self.role} handler {name} failed ({when}): {type(exc).__name__}: {first}",
            file=found.file if found else None,
            path=found.json_path if found else None,
            expected="a handler that runs on this MMAR's data",
            fix="run with debug=true for the traceback; disable the handler with "
            f"{(found.json_path if found else 'handlers[i]').replace('[', '.').replace(']', '')}"
            ".disabled=true",
        )
