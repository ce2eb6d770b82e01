"""Long-run hygiene: the TensorBoard events of every epoch are on disk when the epoch ends.

TensorBoard's writer flushes every 120 s by default, so a run killed (or a disk filled) in
between loses up to two minutes of curves; flushing at each epoch end bounds that to the
epoch in flight. Memory over epochs is measured by ``benchmarks/rss_30_epochs.py``.
"""

from __future__ import annotations

import pytorch_lightning as pl

__all__ = ["FlushLoggersCallback"]


class FlushLoggersCallback(pl.Callback):
    """Flush every logger's writer at the end of each training and validation epoch."""

    def _flush(self, trainer: pl.Trainer) -> None:
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            flush = getattr(experiment, "flush", None)
            if callable(flush):
                flush()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)
