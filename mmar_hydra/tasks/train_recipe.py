"""Training as a recipe of named steps, as torchtune's recipes are.

:class:`TrainPlan` is what this run is, decided once before anything is built: the Trainer's
arguments (the MMAR's globals, the ``trainer`` group, a ``debug`` preset, ``fast=true``'s
precision, the DDP timeout), whether it is a ``debug=fast_dev_run`` smoke test, and this
process's rank. :class:`TrainRecipe` then runs its steps in order; each reads what the ones
before it made::

    setup_parts      the one build walk of the checked config (builder.build_train)
    setup_model      the handler plan, the weights to start from, the LightningModule
    setup_data       bad-case guarded loaders in a data module
    setup_callbacks  checkpoints, train_stats.json, resume state, progress, eval CSVs
    setup_loggers    the ``logger`` group (TensorBoard as Clara by default)
    setup_trainer    the Lightning Trainer
    fit              one batch through the network, then Trainer.fit

:func:`mmar_hydra.tasks.train.run` checks the config first, holds the run lock and writes the
run records around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import LearningRateMonitor

from mmar_hydra import gc_policy
from mmar_hydra.components.builder import build_train
from mmar_hydra.components.fast import FastPlan
from mmar_hydra.components.parts import TrainParts
from mmar_hydra.engine.callbacks import (
    RESUME_FILENAME,
    ClaraCheckpointCallback,
    EpochSummaryCallback,
    IntervalCheckpointCallback,
    ResumeCheckpointCallback,
    SmartCacheCallback,
    TrackMetaCallback,
    TrainStatsCallback,
    ValidationMetricsSaver,
)
from mmar_hydra.engine.data import MMARDataModule
from mmar_hydra.engine.handlers import HandlerPlan, plan_handlers
from mmar_hydra.engine.module import MMARLightningModule
from mmar_hydra.engine.progress import plan_progress
from mmar_hydra.engine.startup import (
    dry_run,
    fit_with_faults,
    load_start_weights,
    use_channels_last,
)
from mmar_hydra.engine.trainer import (
    build_trainer,
    distributed_layout,
    quiet_lightning,
    trainer_kwargs,
)
from mmar_hydra.faults.bad_case_loader import BadCaseTracker
from mmar_hydra.faults.bad_cases import BadCasePolicy
from mmar_hydra.faults.ddp import apply_ddp_timeout
from mmar_hydra.faults.hygiene import FlushLoggersCallback
from mmar_hydra.faults.peers import PeerTable
from mmar_hydra.faults.preempt import PreemptionCallback
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.tracking.info import TrackingInfo
from mmar_hydra.tracking.loggers import BuiltLogger, TrackingCallback, build_loggers

__all__ = ["TrainPlan", "TrainRecipe"]

log = logging.getLogger("mmar_hydra")


def _silent(*_: Any) -> None:
    """Ranks other than 0 keep quiet: one console, one set of messages."""


@dataclass(frozen=True)
class TrainPlan:
    """What one training run is, decided once.

    Args:
        trainer_kwargs: the Trainer's arguments.
        notes: what choosing them said (CPU fallbacks, presets).
        dev_run: ``debug=fast_dev_run``: one batch of each loop, nothing written.
        rank: this process's global rank once the Trainer launches.
        world_size: the number of processes.
        ddp_timeout: seconds before a dead DDP rank stops the others.
    """

    trainer_kwargs: dict[str, Any]
    notes: tuple[str, ...] = ()
    dev_run: bool = False
    rank: int = 0
    world_size: int = 1
    ddp_timeout: int = 600

    @classmethod
    def of(
        cls,
        globals_: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
        *,
        run_dir: Path | None = None,
        fast: FastPlan | None = None,
        ddp_timeout: int = 600,
    ) -> TrainPlan:
        """The plan of a run of ``globals_`` (the resolved, checked config) with the
        ``trainer`` group ``overrides``."""
        wanted = dict(overrides or {})
        if fast is not None and fast.precision and "precision" not in wanted:
            wanted["precision"] = fast.precision
        kwargs, notes = trainer_kwargs(globals_, wanted, run_dir=run_dir)
        apply_ddp_timeout(kwargs, ddp_timeout)
        rank, world_size = distributed_layout(kwargs)
        return cls(
            kwargs,
            tuple(notes),
            dev_run=bool(kwargs.get("fast_dev_run")),
            rank=rank,
            world_size=world_size,
            ddp_timeout=ddp_timeout,
        )

    @property
    def say(self) -> Callable[..., None]:
        return print if self.rank == 0 else _silent


@dataclass
class TrainRecipe:
    """One training run of a checked config, step by step (see the module docstring).

    Args:
        config: the resolved config, checked (:func:`mmar_hydra.tasks.preflight.checked_config`).
        paths: the task's folders.
        plan: what the run is (:meth:`TrainPlan.of`).
        allow_code: as ``allow_code=``.
        finetune: ``task=finetune``: layers whose shapes changed are skipped when loading.
        resume: true or ``auto``: continue from ``resume_state.pt`` when it exists.
        fast: the ``fast=true`` plan (track_meta off, channels_last).
        bad_cases: what a case that cannot be loaded does (``faults.bad_cases``).
        logger_spec: the ``logger`` group, ``{kind: args}`` (``None``: TensorBoard, as Clara).
        tracking: what the loggers record (params, tags); ``None``: TensorBoard only.
        records: writes the run's records (run_info.json, the resolved config) once the build
            passed; the loggers store the files it returns.
        progress: ``auto``, ``rich``, ``tqdm`` or ``none``.
    """

    config: dict[str, Any]
    paths: RunPaths
    plan: TrainPlan
    allow_code: bool = False
    finetune: bool = False
    resume: bool | str = False
    fast: FastPlan | None = None
    bad_cases: BadCasePolicy = field(default_factory=BadCasePolicy)
    logger_spec: Mapping[str, Mapping[str, Any]] | None = None
    tracking: TrackingInfo | None = None
    records: Callable[[], Sequence[Path]] | None = None
    progress: str = "auto"
    # made by the steps
    parts: TrainParts = field(init=False)
    handlers: HandlerPlan = field(init=False)
    module: MMARLightningModule = field(init=False)
    checkpoint: ClaraCheckpointCallback = field(init=False)
    tracker: BadCaseTracker = field(init=False)
    datamodule: MMARDataModule = field(init=False)
    callbacks: list[Any] = field(init=False)
    loggers: list[BuiltLogger] = field(init=False)
    trainer: Any = field(init=False)
    preemption: PreemptionCallback | None = field(init=False, default=None)
    config_files: list[Path] = field(init=False, default_factory=list)
    enable_progress_bar: bool = field(init=False, default=True)
    peers: PeerTable = field(init=False, default_factory=PeerTable)

    def train(self) -> dict[str, Any]:
        """Every step in order; returns what :meth:`fit` returns."""
        quiet_lightning()
        self.setup_parts()
        self.config_files = list(self.records()) if self.records is not None else []
        self.setup_model()
        self.setup_data()
        self.setup_callbacks()
        self.setup_loggers()
        self.setup_trainer()
        return self.fit()

    @property
    def ckpt_dir(self) -> Path:
        """CheckpointSaver's ``save_dir``, else ``MMAR_CKPT_DIR``."""
        return self.handlers.ckpt_dir or self.paths.ckpt_dir

    def setup_parts(self) -> None:
        """The build walk: every component of the train and validate sections."""
        self.parts = build_train(
            self.config,
            paths=self.paths,
            allow_code=self.allow_code,
            rank=self.plan.rank,
            world_size=self.plan.world_size,
        )

    def setup_model(self) -> None:
        """The Clara handlers planned, the starting weights loaded, the LightningModule."""
        say = self.plan.say
        self.handlers = plan_handlers(
            self.parts, default_dir=self.paths.ckpt_dir, finetune=self.finetune
        )
        for text in self.handlers.report():
            say(f"handlers: {text}")
        load_start_weights(
            self.parts,
            self.handlers,
            finetune=self.finetune,
            globals_=self.config,
            paths=self.paths,
            say=say,
        )
        if self.fast is not None and self.fast.channels_last:
            use_channels_last(self.parts.network)
        self.module = MMARLightningModule(
            self.parts, scheduler_interval=self.handlers.scheduler_interval
        )

    def setup_data(self) -> None:
        """The loaders behind the bad-case guard (``debug=overfit``: in a fixed order)."""
        self.tracker = BadCaseTracker(self.bad_cases, say=self.plan.say)
        sequential = bool(self.plan.trainer_kwargs.get("overfit_batches", 0))
        self.datamodule = MMARDataModule(*self.tracker.loaders(self.parts, sequential=sequential))

    def setup_callbacks(self) -> None:
        """Checkpoints, statistics, resume state, progress display, eval CSVs."""
        handlers, module, written = self.handlers, self.module, not self.plan.dev_run
        self.checkpoint = ClaraCheckpointCallback(
            self.ckpt_dir,
            self.parts.train_conf,
            module.key_metric.log_label if module.key_metric else None,
            mode=module.key_metric_mode,
            best_filename=handlers.best_filename,
            final_filename=handlers.final_filename,
            save_best=handlers.save_best,
            save_final=handlers.save_final,
            save_dict=handlers.save_dict,
        )
        shown = plan_progress(self.progress)
        callbacks: list[Any] = list(shown.callbacks)
        if written:  # before the checkpoint callback: its validation time excludes model.pt
            stats = TrainStatsCallback(
                self.ckpt_dir / "train_stats.json", self.checkpoint, self.tracker.stats
            )
            callbacks += [stats, self.checkpoint]
        callbacks.append(self.tracker)
        if handlers.stats_tag is not None or shown.epoch_lines:
            tag = handlers.stats_tag if handlers.stats_tag is not None else "loss"
            callbacks.append(EpochSummaryCallback(tag, show_lr=handlers.print_lr))
        callbacks += self._writing_callbacks() if written else []
        callbacks += [SmartCacheCallback(d) for d in handlers.smart_cache]
        callbacks.append(self.peers)  # every rank's host and pid: a survivor names the dead one
        if self.fast is not None and self.fast.track_meta_off:
            callbacks.append(TrackMetaCallback())
        self.callbacks = callbacks
        self.enable_progress_bar = shown.enable_progress_bar

    def _writing_callbacks(self) -> list[Any]:
        """Interval checkpoints, eval CSVs, resume state (none under ``debug=fast_dev_run``)."""
        handlers, out = self.handlers, list[Any]()
        if handlers.interval is not None:
            out.append(IntervalCheckpointCallback(self.checkpoint, handlers.interval))
        if handlers.metrics_saver is not None:
            saver = handlers.metrics_saver
            save_dir = Path(saver.get("save_dir") or self.paths.eval_dir)
            out.append(ValidationMetricsSaver(save_dir, saver))
        resume = ResumeCheckpointCallback(self.ckpt_dir / RESUME_FILENAME)
        self.preemption = PreemptionCallback(resume)
        return [*out, resume, self.preemption]

    def setup_loggers(self) -> None:
        """The ``logger`` group's loggers (none under ``debug=fast_dev_run``: Lightning would
        replace them by a dummy)."""
        self.loggers = []
        if self.plan.dev_run:
            return
        spec = {"tensorboard": {}} if self.logger_spec is None else self.logger_spec
        self.loggers = build_loggers(
            spec,
            self.tracking,
            paths=self.paths,
            tensorboard_dir=self.handlers.tensorboard_dir,
            rank=self.plan.rank,
        )
        if not self.loggers:
            return
        self.callbacks += [LearningRateMonitor(logging_interval="epoch"), FlushLoggersCallback()]
        if self.tracking is not None:
            names = (self.handlers.best_filename, self.handlers.final_filename, "train_stats.json")
            files = [self.ckpt_dir / n for n in names]
            self.callbacks.append(
                TrackingCallback(self.loggers, self.tracking, files, list(self.config_files))
            )

    def setup_trainer(self) -> None:
        """The Lightning Trainer, with what the handlers and the data ask of it."""
        say = self.plan.say
        for text in self.plan.notes:
            say(f"trainer: {text}")
        if self.plan.dev_run:
            say("debug: fast_dev_run: 1 batch of training and validation, nothing written")
        extra = dict(self.handlers.trainer_kwargs)
        extra["enable_progress_bar"] = self.enable_progress_bar
        # the resolver already gave each rank its own shard of the data (components.hooks)
        extra["use_distributed_sampler"] = False
        if self.parts.validate is None:
            extra["limit_val_batches"] = 0
        self.trainer = build_trainer(
            self.plan.trainer_kwargs,
            max_epochs=self.parts.max_epochs,
            callbacks=self.callbacks,
            logger=[b.logger for b in self.loggers] or None,
            default_root_dir=self.paths.run_dir,
            extra=extra,
        )

    def _resume_from(self) -> Path | None:
        path = self.ckpt_dir / RESUME_FILENAME
        if not self.resume:
            return None
        if path.is_file():
            self.plan.say(f"resume: continuing from {path}")
            return path
        self.plan.say(f"resume: no {path.name} in {self.ckpt_dir}, starting from scratch")
        return None

    def fit(self) -> dict[str, Any]:
        """One batch through the network (a channel mismatch fails in seconds), then the fit.

        Returns:
            ``best_key_metric``, ``best_key_metric_epoch``, ``key_metric_name``,
            ``last_metrics``, ``global_step``, ``ckpt_dir``, ``best_filename``,
            ``final_filename``.
        """
        ckpt_path = self._resume_from()
        dry_run(self.parts)
        gc_policy.settle()
        fit_with_faults(
            self.trainer,
            self.module,
            self.datamodule,
            ckpt_path=ckpt_path,
            preemption=self.preemption,
            ddp_timeout=self.plan.ddp_timeout,
            peers=self.peers,
        )
        trainer, checkpoint = self.trainer, self.checkpoint
        # every rank records what it trained, so a sweep can be checked rank by rank
        log.info(
            "rank %d of %d trained with lr=%s, %d steps",
            trainer.global_rank,
            trainer.world_size,
            self.parts.optimizer.defaults.get("lr"),
            trainer.global_step,
        )
        return {
            "best_key_metric": checkpoint.best_value,
            "best_key_metric_epoch": checkpoint.best_epoch,
            "key_metric_name": checkpoint.key_metric,
            "last_metrics": dict(self.module.last_val_metrics),
            "global_step": trainer.global_step,
            "ckpt_dir": str(self.ckpt_dir),
            "best_filename": self.handlers.best_filename if checkpoint.save_best else "",
            "final_filename": self.handlers.final_filename if checkpoint.save_final else "",
        }
