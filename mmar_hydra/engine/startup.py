"""What a training run does around its Lightning fit: the weights it starts from, one batch
through the network before anything is cached, and the faults of ``Trainer.fit`` as the
errors users read. The steps themselves are :mod:`mmar_hydra.tasks.train_recipe`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from monai.data import CacheDataset, SmartCacheDataset
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException

from mmar_hydra.components.parts import TrainParts
from mmar_hydra.components.resolver import is_pipeline_dataset
from mmar_hydra.distributed import ddp_job
from mmar_hydra.engine.handlers import CheckpointLoad, HandlerPlan
from mmar_hydra.engine.trainer import misconfigured
from mmar_hydra.errors import CheckpointError, DataError, first_line
from mmar_hydra.faults.bad_case_loader import first_good_index
from mmar_hydra.faults.ddp import dead_rank_error
from mmar_hydra.faults.peers import PeerTable
from mmar_hydra.faults.preempt import PreemptionCallback, preempted_error
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
from mmar_hydra.writers.run_info import say_drift

__all__ = [
    "load_start_weights",
    "load_engine_states",
    "use_channels_last",
    "dry_run",
    "fit_with_faults",
]


def load_start_weights(
    parts: TrainParts,
    plan: HandlerPlan,
    *,
    finetune: bool,
    globals_: Mapping[str, Any],
    paths: RunPaths,
    say: Any = print,
) -> None:
    """What the CheckpointLoaders load (``task=finetune`` without one: ``MMAR_CKPT``).

    Args:
        parts: the built training config (its network, optimizer and scheduler are loaded).
        plan: the handler plan (its ``load`` list).
        finetune: layers whose shapes changed are skipped.
        globals_: the resolved globals (``MMAR_CKPT``).
        paths: the task's folders.
        say: prints a line.
    """
    if finetune and not plan.load:
        plan.load.append(_finetune_start(globals_, paths, say))
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


def fit_with_faults(
    trainer: Any,
    module: Any,
    datamodule: Any,
    *,
    ckpt_path: Path | None,
    preemption: PreemptionCallback | None,
    ddp_timeout: int,
    peers: PeerTable | None = None,
) -> None:
    """``trainer.fit``, with its faults as the errors users read: a preemption (SIGTERM) names
    the resume command, a misconfiguration the setting, a dead DDP rank its number (found in
    ``peers``, every rank's host and pid, wherever the ranks were started)."""
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
        error = dead_rank_error(trainer, exc, ddp_timeout, peers.peers if peers else ())
        if error is None:
            raise
        raise error from None


def use_channels_last(network: Any) -> None:
    """The network in ``channels_last_3d`` memory (3D, 5D inputs), ``channels_last`` (2D)."""
    dims: Any = getattr(network, "dimensions", None) or getattr(network, "spatial_dims", 3)
    network.to(memory_format=torch.channels_last_3d if int(dims) == 3 else torch.channels_last)


def _finetune_start(globals_: Mapping[str, Any], paths: RunPaths, say: Any) -> Any:
    """Clara 4.0 early access fine-tuned without a CheckpointLoader in config_train.json (its
    finetune configs carried one): ``task=finetune`` still starts from ``MMAR_CKPT``."""
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
    dataset = parts.dataloader.dataset
    cached = isinstance(dataset, CacheDataset) and not isinstance(dataset, SmartCacheDataset)
    if cached and getattr(dataset, "cache_num", 0) > 0:
        sample = dataset[first_good_index(dataset)]  # a skipped bad case is cached as a marker
        sample = sample[0] if isinstance(sample, list) else sample
        return sample["image"].unsqueeze(0)
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
