"""Lightning callbacks that leave in ``models/`` what Clara left there.

- :class:`ClaraCheckpointCallback`: model.pt (best by the validate key metric) and
  final_model.pt, as Clara checkpoint dicts, written by rank 0 only, atomically.
- :class:`TrainStatsCallback`: train_stats.json (Clara's ``--write_train_stats``).
- :class:`EpochSummaryCallback`: one readable console line per epoch (StatsHandler).
- :class:`SmartCacheCallback`: SmartCacheDataset's start / update / shutdown (SmartCacheHandler).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from mmar_hydra.engine.peak_memory import peak_memory_mb
from mmar_hydra.writers.atomic import atomic_torch_save, atomic_write_text
from mmar_hydra.writers.checkpoints import save_checkpoint
from mmar_hydra.writers.eval_csv import write_metrics_saver

__all__ = [
    "ClaraCheckpointCallback",
    "TrainStatsCallback",
    "EpochSummaryCallback",
    "SmartCacheCallback",
    "TrackMetaCallback",
    "ResumeCheckpointCallback",
    "IntervalCheckpointCallback",
    "ValidationMetricsSaver",
    "RESUME_FILENAME",
    "engine_states",
]


def _metrics(trainer: pl.Trainer) -> dict[str, float]:
    out = {}
    for key, value in trainer.callback_metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class ClaraCheckpointCallback(pl.Callback):
    """Best model by the key metric as ``best_filename``, the last one as ``final_filename``."""

    def __init__(
        self,
        save_dir: Path,
        train_conf: dict[str, Any],
        key_metric: str | None,
        *,
        mode: str = "max",
        best_filename: str = "model.pt",
        final_filename: str = "final_model.pt",
        save_best: bool = True,
        save_final: bool = True,
        save_dict: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.save_dir = Path(save_dir)
        self.train_conf = train_conf
        self.key_metric = key_metric
        self.mode = mode
        self.best_filename = best_filename
        self.final_filename = final_filename
        self.save_best = save_best and key_metric is not None
        self.save_final = save_final
        # which objects each file holds: validate's save_dict for the best, train's for the rest
        self.save_dict = save_dict or {}
        self.best_value: float | None = None
        self.best_epoch: int | None = None

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.save_best or trainer.sanity_checking:
            return
        value = _metrics(trainer).get(self.key_metric or "")
        if value is None or not self._better(value):
            return
        self.best_value, self.best_epoch = value, trainer.current_epoch + 1
        if trainer.is_global_zero:
            extra = {"epoch": self.best_epoch, self.key_metric: value}
            path = self.save_dir / self.best_filename
            self.save(trainer, pl_module, path, extra, section="validate")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_final and trainer.is_global_zero:
            extra = {"epoch": trainer.current_epoch}
            self.save(trainer, pl_module, self.save_dir / self.final_filename, extra)

    def save(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        path: Path,
        extra: dict,
        section: str = "train",
    ) -> None:
        """A Clara checkpoint with what that section's CheckpointSaver ``save_dict`` names."""
        keys = self.save_dict.get(section, ("model", "train_conf"))
        save_checkpoint(
            path,
            pl_module.network,
            self.train_conf,
            extra={**extra, **engine_states(trainer, keys)},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_value = state_dict.get("best_value")
        self.best_epoch = state_dict.get("best_epoch")


def engine_states(trainer: pl.Trainer, keys: tuple[str, ...]) -> dict[str, Any]:
    """Optimizer / lr_scheduler state dicts, when ``keys`` (a ``save_dict``) names them."""
    states: dict[str, Any] = {}
    if "optimizer" in keys and trainer.optimizers:
        states["optimizer"] = trainer.optimizers[0].state_dict()
    if "lr_scheduler" in keys and trainer.lr_scheduler_configs:
        states["lr_scheduler"] = trainer.lr_scheduler_configs[0].scheduler.state_dict()
    return states


class IntervalCheckpointCallback(pl.Callback):
    """CheckpointSaver's ``save_interval`` / ``n_saved``: ``checkpoint_epoch=N.pt`` every N.

    Named as MONAI's CheckpointSaver (ignite's Checkpoint) names them; with ``n_saved`` only
    the newest files are kept.
    """

    def __init__(self, checkpoint: ClaraCheckpointCallback, plan: Any) -> None:
        self.checkpoint = checkpoint
        self.every = int(plan.every)
        self.epoch_level = bool(plan.epoch_level)
        self.n_saved = plan.n_saved
        self.written: list[Path] = []

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, count: int) -> None:
        if count % self.every or not trainer.is_global_zero:
            return
        unit = "epoch" if self.epoch_level else "iteration"
        path = self.checkpoint.save_dir / f"checkpoint_{unit}={count}.pt"
        self.checkpoint.save(trainer, pl_module, path, {unit: count})
        self.written.append(path)
        while self.n_saved is not None and len(self.written) > self.n_saved:
            self.written.pop(0).unlink(missing_ok=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.epoch_level:
            self._write(trainer, pl_module, trainer.current_epoch + 1)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        if not self.epoch_level:
            self._write(trainer, pl_module, trainer.global_step)


class TrainStatsCallback(pl.Callback):
    """train_stats.json, rewritten after every epoch so a killed run still has one;
    ``extra()`` adds keys (the skipped bad cases of ``faults.bad_case_loader``)."""

    def __init__(self, path: Path, checkpoint: ClaraCheckpointCallback, extra: Any = dict) -> None:
        self.path, self.checkpoint, self.extra = Path(path), checkpoint, extra
        self.start = time.perf_counter()
        self.epoch_start = self.start
        self.epoch_times: list[float] = []
        self.epoch_losses: list[float] = []
        self.validation_times: list[float] = []  # validation start to metrics logged
        self._validation_start = 0.0
        self.data_wait = 0.0  # seconds between training steps (fetching the next batch)
        self.step_time = 0.0  # seconds inside training steps
        self._batch_end: float | None = None
        self._batch_start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()
        self._batch_end = self.epoch_start

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._batch_start = time.perf_counter()
        if self._batch_end is not None:  # the time between two steps is spent fetching data
            self.data_wait += self._batch_start - self._batch_end

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._batch_end = time.perf_counter()
        self.step_time += self._batch_end - self._batch_start

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validation_times.append(round(time.perf_counter() - self._validation_start, 4))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batch_end = None
        self.epoch_times.append(round(time.perf_counter() - self.epoch_start, 3))
        loss = _metrics(trainer).get("train_loss_epoch")
        if loss is not None:
            self.epoch_losses.append(round(loss, 6))
        self.write(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer)

    def stats(self, trainer: pl.Trainer) -> dict[str, Any]:
        return {
            "total_time": round(time.perf_counter() - self.start, 3),
            "epochs": trainer.max_epochs,
            "epochs_completed": len(self.epoch_times),
            "iterations": trainer.global_step,
            "key_metric_name": self.checkpoint.key_metric,
            "best_key_metric": self.checkpoint.best_value,
            "best_key_metric_epoch": self.checkpoint.best_epoch,
            "last_metrics": _metrics(trainer),
            "epoch_times": self.epoch_times,
            "epoch_losses": self.epoch_losses,
            "validation_times": self.validation_times,
            "data_wait_share": self._wait_share(),
            **peak_memory_mb(),
            **self.extra(),
        }

    def _wait_share(self) -> float:
        return round(self.data_wait / max(self.data_wait + self.step_time, 1e-9), 4)

    def write(self, trainer: pl.Trainer) -> None:
        if trainer.is_global_zero:
            atomic_write_text(self.path, json.dumps(self.stats(trainer), indent=2))

    def state_dict(self) -> dict[str, Any]:  # carried across resume=true
        return {
            "epoch_times": self.epoch_times,
            "epoch_losses": self.epoch_losses,
            "validation_times": self.validation_times,
            "data_wait_share": self._wait_share(),
            "elapsed": time.perf_counter() - self.start,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch_times = list(state_dict.get("epoch_times", []))
        self.epoch_losses = list(state_dict.get("epoch_losses", []))
        self.validation_times = list(state_dict.get("validation_times", []))
        self.start = time.perf_counter() - float(state_dict.get("elapsed", 0.0))


class EpochSummaryCallback(pl.Callback):
    """One line per epoch: loss, metrics, learning rate, time (Clara's StatsHandler).

    Args:
        loss_label: StatsHandler's ``tag_name``, the loss's name in the line.
        show_lr: LrScheduleHandler's ``print_lr``.
    """

    def __init__(self, loss_label: str = "loss", *, show_lr: bool = True) -> None:
        self.loss_label = loss_label
        self.show_lr = show_lr
        self.epoch_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = _metrics(trainer)
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        if "train_loss_epoch" in metrics:
            parts.append(f"{self.loss_label} {metrics['train_loss_epoch']:.4f}")
        for key, value in sorted(metrics.items()):
            if not key.startswith(("train_loss", "lr")):
                parts.append(f"{key} {value:.4f}")
        if "lr" in metrics and self.show_lr:
            parts.append(f"lr {metrics['lr']:.2e}")
        parts.append(f"{time.perf_counter() - self.epoch_start:.1f}s")
        print(" | ".join(parts), flush=True)


class ValidationMetricsSaver(pl.Callback):
    """A validate MetricsSaver of a training config: the eval CSVs after every validation."""

    def __init__(self, save_dir: Path, saver_args: dict[str, Any]) -> None:
        self.save_dir = Path(save_dir)
        self.saver_args = saver_args

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:

        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        names = list(getattr(pl_module, "last_val_filenames", []))
        found: Any = pl_module.last_val_details
        details = {k: (names, v) for k, v in found.items() if v is not None}
        metrics: Any = pl_module.last_val_metrics
        write_metrics_saver(self.save_dir, self.saver_args, metrics, details)


class TrackMetaCallback(pl.Callback):
    """``fast=true``: no MONAI metadata tracking in the training loop, full tracking to validate.

    The cache holds MetaTensors; the random transforms, the network and the loss then work on
    plain tensors. Validation (Invertd, SaveImaged, the eval file names) gets metadata back.
    """

    @staticmethod
    def _track(on: bool) -> None:
        from monai.data import set_track_meta

        set_track_meta(on)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._track(False)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._track(True)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._track(str(getattr(trainer.state.fn, "value", trainer.state.fn)) != "fit")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._track(True)

    def on_exception(self, trainer: pl.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._track(True)


class SmartCacheCallback(pl.Callback):
    """Drive a SmartCacheDataset: start before training, replace between epochs, shut down."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.dataset.start()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.dataset.update_cache()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.dataset.shutdown()


RESUME_FILENAME = "resume_state.pt"


def _rng_state() -> dict[str, Any]:
    """RNG states as tensors, so the resume checkpoint loads with weights_only=True."""
    import random

    import numpy as np
    import torch

    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype("int64")),  # type: ignore[index]
        "numpy_pos": int(np_state[2]),  # type: ignore[index]
        "python": torch.tensor(py_state[1], dtype=torch.int64),
        "python_version": int(py_state[0]),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(
        ("MT19937", state["numpy_keys"].numpy().astype("uint32"), state["numpy_pos"], 0, 0.0)
    )
    random.setstate(
        (state["python_version"], tuple(int(x) for x in state["python"].tolist()), None)
    )


class ResumeCheckpointCallback(pl.Callback):
    """Everything needed to continue a killed run, rewritten atomically after every epoch.

    Model, optimizer, scheduler, epoch, step, loop state, the best metric so far (the
    ClaraCheckpointCallback's state) and the RNG states; ``resume=true`` picks it up.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer)

    def save(self, trainer: pl.Trainer) -> None:
        """Write the resume state now (every epoch, and mid-epoch when preempted)."""
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        checkpoint["mmar_hydra_rng"] = _rng_state()
        if trainer.is_global_zero:
            atomic_torch_save(checkpoint, self.path)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if "mmar_hydra_rng" in checkpoint:
            restore_rng_state(checkpoint["mmar_hydra_rng"])
