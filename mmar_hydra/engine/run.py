"""One training run: plan the handlers, load weights, build module + data + Trainer, fit.

This is the engine's single entry point for tasks; it returns what the task reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.components.fast import FastPlan
from mmar_hydra.components.parts import TrainParts
from mmar_hydra.errors import CheckpointError, first_line
from mmar_hydra.faults.bad_cases import BadCasePolicy
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.tracking.info import TrackingInfo

__all__ = ["fit", "dry_run"]

log = logging.getLogger("mmar_hydra")


def fit(
    parts: TrainParts,
    *,
    globals_: Mapping[str, Any],
    paths: RunPaths,
    trainer_overrides: Mapping[str, Any] | None = None,
    finetune: bool = False,
    resume: bool | str = False,
    say: Any = print,
    fast: FastPlan | None = None,
    ddp_timeout: int = 600,
    logger_spec: Mapping[str, Mapping[str, Any]] | None = None,
    tracking: TrackingInfo | None = None,
    config_files: list[Path] | None = None,
    progress: str = "auto",
    rank: int = 0,
    bad_cases: BadCasePolicy | None = None,
) -> dict[str, Any]:
    """Train; returns {"best_key_metric", "best_key_metric_epoch", "key_metric_name",
    "ckpt_dir", ...}. Every folder it writes to comes from ``paths``.

    SIGTERM / SIGUSR1 stop the run with the resume state written (``faults.preempt``); a dead
    DDP rank stops the others within ``ddp_timeout`` seconds (``faults.ddp``); a case that
    cannot be loaded stops the run, or is skipped and counted (``faults.bad_cases``).

    Args:
        parts: what the builder made of the training config.
        globals_: the resolved globals (device, amp, seed...).
        paths: the task's folders.
        trainer_overrides: the ``trainer`` group (and a ``debug`` preset's switches).
        finetune: layers whose shapes changed are skipped when loading.
        resume: true or "auto": continue from ``resume_state.pt`` when it exists.
        say: prints a line (silent on ranks other than 0).
        fast: the ``fast=true`` plan (channels_last, precision, track_meta off).
        ddp_timeout: seconds before a dead DDP rank stops the others.
        bad_cases: what a case that cannot be loaded does: stop the run, or be skipped and
            counted (``faults.bad_cases``).
        logger_spec: the ``logger`` group, ``{kind: args}`` (default: TensorBoard as Clara).
        tracking: what the loggers record (params, tags); None: TensorBoard only.
        config_files: the resolved config and run_info.json, stored by the loggers.
        progress: ``auto``, ``rich``, ``tqdm`` or ``none`` (:mod:`.progress`).
        rank: this process's global rank.
    """
    from pytorch_lightning.callbacks import LearningRateMonitor
    from pytorch_lightning.utilities.exceptions import (
        MisconfigurationException,
        SIGTERMException,
    )

    from mmar_hydra import gc_policy
    from mmar_hydra.distributed import ddp_job
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
    from mmar_hydra.engine.handlers import plan_handlers
    from mmar_hydra.engine.loggers import TrackingCallback, build_loggers
    from mmar_hydra.engine.module import MMARLightningModule
    from mmar_hydra.engine.progress import plan_progress
    from mmar_hydra.engine.trainer import (
        build_trainer,
        misconfigured,
        quiet_lightning,
        trainer_kwargs,
    )
    from mmar_hydra.faults.bad_case_loader import BadCaseTracker
    from mmar_hydra.faults.ddp import apply_ddp_timeout, dead_rank_error
    from mmar_hydra.faults.hygiene import FlushLoggersCallback
    from mmar_hydra.faults.preempt import PreemptionCallback, preempted_error
    from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
    from mmar_hydra.writers.run_info import say_drift

    quiet_lightning()
    plan = plan_handlers(parts, default_dir=paths.ckpt_dir, finetune=finetune)
    for text in plan.report():
        say(f"handlers: {text}")
    if finetune and not plan.load:
        plan.load.append(_finetune_start(globals_, paths, say))
    overrides = dict(trainer_overrides or {})
    if fast is not None and fast.precision and "precision" not in overrides:
        overrides["precision"] = fast.precision
    kwargs, notes = trainer_kwargs(globals_, overrides, run_dir=paths.run_dir)
    apply_ddp_timeout(kwargs, ddp_timeout)
    dev_run = bool(kwargs.get("fast_dev_run"))  # debug=fast_dev_run: nothing is written
    for load in plan.load:
        loaded = load_checkpoint(load.path)
        say_drift(loaded.get("versions"), load.path, say)
        report = load_weights(
            parts.network,
            state_dict_of(loaded),
            strict=load.strict,
            skip_mismatched=load.skip_mismatched,
            file=str(load.path),
        )
        say(f"CheckpointLoader: {load.path}: {report.summary()}")
        for text in load_engine_states(loaded, load.load_dict, parts):
            say(f"CheckpointLoader: {text}")

    if fast is not None and fast.channels_last:
        parts.network.to(memory_format=_channels_last(parts.network))
    module = MMARLightningModule(parts, scheduler_interval=plan.scheduler_interval)
    ckpt_dir = plan.ckpt_dir or paths.ckpt_dir  # CheckpointSaver's save_dir, else MMAR_CKPT_DIR
    checkpoint = ClaraCheckpointCallback(
        ckpt_dir,
        parts.train_conf,
        module.key_metric.log_label if module.key_metric else None,
        mode=module.key_metric_mode,
        best_filename=plan.best_filename,
        final_filename=plan.final_filename,
        save_best=plan.save_best,
        save_final=plan.save_final,
        save_dict=plan.save_dict,
    )
    shown = plan_progress(progress)
    tracker = BadCaseTracker(bad_cases or BadCasePolicy(), say=say)
    callbacks: list[Any] = list(shown.callbacks)
    if not dev_run:
        # before the checkpoint callback: its validation time excludes writing model.pt
        callbacks += [
            TrainStatsCallback(ckpt_dir / "train_stats.json", checkpoint, tracker.stats),
            checkpoint,
        ]
    callbacks.append(tracker)
    if plan.stats_tag is not None or shown.epoch_lines:
        tag = plan.stats_tag if plan.stats_tag is not None else "loss"
        callbacks.append(EpochSummaryCallback(tag, show_lr=plan.print_lr))
    if plan.interval is not None and not dev_run:
        callbacks.append(IntervalCheckpointCallback(checkpoint, plan.interval))
    if plan.metrics_saver is not None and not dev_run:
        saver = plan.metrics_saver
        callbacks.append(
            ValidationMetricsSaver(Path(saver.get("save_dir") or paths.eval_dir), saver)
        )
    callbacks += [SmartCacheCallback(d) for d in plan.smart_cache]
    if fast is not None and fast.track_meta_off:
        callbacks.append(TrackMetaCallback())
    resume_path = ckpt_dir / RESUME_FILENAME
    preemption = None
    if not dev_run:  # debug=fast_dev_run writes no resume state
        resume_callback = ResumeCheckpointCallback(resume_path)
        preemption = PreemptionCallback(resume_callback)
        callbacks += [resume_callback, preemption]
    ckpt_path = None
    if resume:
        if resume_path.is_file():
            ckpt_path = resume_path
            say(f"resume: continuing from {resume_path}")
        else:
            say(f"resume: no {resume_path.name} in {ckpt_dir}, starting from scratch")
    spec = {"tensorboard": {}} if logger_spec is None else logger_spec
    built = []
    if not dev_run:  # Lightning's fast_dev_run would replace them by a dummy logger anyway
        built = build_loggers(
            spec, tracking, paths=paths, tensorboard_dir=plan.tensorboard_dir, rank=rank
        )
    if built:
        callbacks += [LearningRateMonitor(logging_interval="epoch"), FlushLoggersCallback()]
    if tracking is not None and built:
        files = [
            ckpt_dir / n for n in (plan.best_filename, plan.final_filename, "train_stats.json")
        ]
        callbacks.append(TrackingCallback(built, tracking, files, list(config_files or [])))
    for text in notes:
        say(f"trainer: {text}")
    if dev_run:
        say("debug: fast_dev_run: 1 batch of training and validation, nothing written")
    extra = dict(plan.trainer_kwargs)
    extra["enable_progress_bar"] = shown.enable_progress_bar
    # the resolver already gave each rank its own shard of the data (components.hooks.datalist)
    extra["use_distributed_sampler"] = False
    if parts.validate is None:
        extra["limit_val_batches"] = 0
    trainer = build_trainer(
        kwargs,
        max_epochs=parts.max_epochs,
        callbacks=callbacks,
        logger=[b.logger for b in built] or None,
        default_root_dir=paths.run_dir,
        extra=extra,
    )
    # start-up caches are scanned; debug=overfit: the training batches in their fixed order
    sequential = bool(getattr(trainer, "overfit_batches", 0))
    datamodule = MMARDataModule(*tracker.loaders(parts, sequential=sequential))
    dry_run(parts)
    gc_policy.settle()
    try:
        with ddp_job():
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        if preemption is None:  # debug=fast_dev_run: nothing to resume from
            raise
        raise preempted_error(preemption, trainer) from None
    except MisconfigurationException as exc:  # e.g. debug=limit: under 1 batch per epoch
        raise misconfigured(exc) from None
    except Exception as exc:  # a dead DDP rank surfaces as a backend error of a collective
        error = dead_rank_error(trainer, exc, ddp_timeout)
        if error is None:
            raise
        raise error from None
    # every rank records what it trained, so a sweep can be checked rank by rank
    log.info(
        "rank %d of %d trained with lr=%s, %d steps",
        trainer.global_rank,
        trainer.world_size,
        parts.optimizer.defaults.get("lr"),
        trainer.global_step,
    )
    return {
        "best_key_metric": checkpoint.best_value,
        "best_key_metric_epoch": checkpoint.best_epoch,
        "key_metric_name": checkpoint.key_metric,
        "last_metrics": dict(module.last_val_metrics),
        "global_step": trainer.global_step,
        "ckpt_dir": str(ckpt_dir),
        "best_filename": plan.best_filename if checkpoint.save_best else "",
        "final_filename": plan.final_filename if checkpoint.save_final else "",
    }


def _channels_last(network: Any) -> Any:
    """``channels_last_3d`` for a 3D network (5D inputs), ``channels_last`` for a 2D one."""
    import torch

    dims: Any = getattr(network, "dimensions", None) or getattr(network, "spatial_dims", 3)
    return torch.channels_last_3d if int(dims) == 3 else torch.channels_last


def _finetune_start(globals_: Mapping[str, Any], paths: RunPaths, say: Any) -> Any:
    """Clara 4.0 early access fine-tuned without a CheckpointLoader in config_train.json (its
    finetune configs carried one): ``task=finetune`` still starts from ``MMAR_CKPT``."""
    from mmar_hydra.engine.handlers import CheckpointLoad

    path = paths.read(str(globals_.get("MMAR_CKPT")), where="MMAR_CKPT")
    say(f"finetune: the config has no CheckpointLoader; starting from MMAR_CKPT ({path})")
    return CheckpointLoad(path=path, strict=True, skip_mismatched=True, where="MMAR_CKPT")


def load_engine_states(
    checkpoint: Mapping[str, Any], load_dict: tuple[str, ...], parts: TrainParts
) -> list[str]:
    """CheckpointLoader's ``load_dict`` beyond the model: optimizer / lr_scheduler states."""
    loaded = []
    for key, target in (("optimizer", parts.optimizer), ("lr_scheduler", parts.lr_scheduler)):
        if key not in load_dict or target is None:
            continue
        if key not in checkpoint:
            loaded.append(f"load_dict names '{key}' but the checkpoint has none: not loaded")
            continue
        try:
            target.load_state_dict(checkpoint[key])
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(
                f"the checkpoint's {key} state does not fit this {key}: {exc}",
                path=f"CheckpointLoader.args.load_dict.{key}",
                expected=f"a {key} state saved from the same {key} and network",
                fix=f"drop '{key}' from load_dict to start it fresh",
            ) from None
        loaded.append(f"{key} state loaded")
    return loaded


def dry_run(parts: TrainParts) -> None:
    """One batch through the network before training: a channel mismatch fails in seconds.

    Otherwise it would surface after the caches are filled, deep inside Lightning, as a bare
    convolution error.
    """
    import torch

    from mmar_hydra.errors import DataError

    image = _first_image(parts)
    expected = getattr(parts.network, "in_channels", None)
    if expected is not None and image.ndim >= 3 and image.shape[1] != int(expected):
        raise DataError(
            f"the data has {image.shape[1]} channel(s) but the network expects in_channels={expected}",
            path="train.model.args.in_channels",
            expected=f"image batches of shape (B, {expected}, ...); got {tuple(image.shape)}",
            fix="set the network's in_channels to the data's channel count, or fix the transforms",
        )
    was_training = parts.network.training
    parts.network.eval()
    try:
        with torch.no_grad():
            parts.network(image.as_tensor() if hasattr(image, "as_tensor") else image)
    except RuntimeError as exc:
        raise DataError(
            f"the network cannot process a training batch: {first_line(exc)}",
            path="train.model",
            expected=f"a network that accepts batches shaped {tuple(image.shape)}",
            fix="check in_channels / spatial_dims against the data and the crop sizes",
        ) from None
    finally:
        parts.network.train(was_training)


def _first_image(parts: TrainParts):  # noqa: ANN202 - a (1, C, ...) tensor
    """The first training case through the pre-transforms, as a batch of one.

    A filled CacheDataset gives it from its cache (only the random transforms run; on real CT
    volumes loading and resampling a case takes seconds). Other datasets compute it from the
    datalist rather than drawing from the loader, so persistent / smart caches are not
    half-filled before training (a mixed batch of cached and fresh items cannot collate).
    """
    import copy

    import torch
    from monai.data import CacheDataset, SmartCacheDataset

    dataset = parts.dataloader.dataset
    cached = isinstance(dataset, CacheDataset) and not isinstance(dataset, SmartCacheDataset)
    if cached and getattr(dataset, "cache_num", 0) > 0:
        from mmar_hydra.faults.bad_case_loader import first_good_index

        sample = dataset[first_good_index(dataset)]  # a skipped bad case is cached as a marker
        sample = sample[0] if isinstance(sample, list) else sample
        return sample["image"].unsqueeze(0)
    from mmar_hydra.components.resolver import is_pipeline_dataset

    if not is_pipeline_dataset(type(dataset)) and not isinstance(dataset, SmartCacheDataset):
        sample = dataset[0]  # it reads its own items (whole-slide patches, custom/ datasets)
        sample = sample[0] if isinstance(sample, list) else sample
        return torch.as_tensor(sample["image"]).unsqueeze(0)
    data = getattr(dataset, "data", None)
    if data and parts.pre_transforms is not None:
        sample = parts.pre_transforms(copy.deepcopy(data[0]))
        sample = sample[0] if isinstance(sample, list) else sample
        return sample["image"].unsqueeze(0)
    return next(iter(parts.dataloader))["image"][:1]
