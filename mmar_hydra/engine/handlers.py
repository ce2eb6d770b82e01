"""Clara handlers -> Lightning pieces.

Clara's handlers were ignite event handlers. Each one with a Lightning meaning becomes
trainer arguments, a callback, a logger or a checkpoint load; one without is listed in
``HandlerPlan.unmapped`` with the reason, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.components.parts import HandlerPart, TrainParts
from mmar_hydra.mmar.layout import resolve_inside

__all__ = ["HandlerPlan", "CheckpointLoad", "plan_handlers"]


@dataclass
class CheckpointLoad:
    """Weights to load before training (Clara's CheckpointLoader)."""

    path: Path
    strict: bool
    skip_mismatched: bool
    where: str


@dataclass
class HandlerPlan:
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler_interval: str = "epoch"
    print_lr: bool = False
    tensorboard_dir: Path | None = None
    stats: bool = False
    smart_cache: list[Any] = field(default_factory=list)
    ckpt_dir: Path | None = None
    best_filename: str = "model.pt"
    final_filename: str = "final_model.pt"
    save_best: bool = True  # validate CheckpointSaver's save_key_metric
    save_final: bool = True  # train CheckpointSaver's save_final
    load: list[CheckpointLoad] = field(default_factory=list)
    metrics_saver: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    write_roots: tuple[Path, ...] = ()


def _path(value: Any, root: Path) -> Path:
    p = Path(str(value)).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1") if isinstance(value, str) else bool(value)


def _map(
    handler: HandlerPart, plan: HandlerPlan, root: Path, *, section: str, finetune: bool
) -> None:
    name, args = handler.name.rsplit(".", 1)[-1], handler.args
    if name == "ValidationHandler":
        interval = int(args.get("interval", 1))
        if _truthy(args.get("epoch_level", True)):
            plan.trainer_kwargs["check_val_every_n_epoch"] = interval
        else:
            plan.trainer_kwargs["check_val_every_n_epoch"] = None
            plan.trainer_kwargs["val_check_interval"] = interval
    elif name == "LrScheduleHandler":
        plan.scheduler_interval = "epoch" if _truthy(args.get("epoch_level", True)) else "step"
        plan.print_lr = _truthy(args.get("print_lr", False))
    elif name == "CheckpointLoader":
        plan.load.append(
            CheckpointLoad(
                path=_path(args["load_path"], root),
                strict=_truthy(args.get("strict", True)),
                skip_mismatched=finetune or not _truthy(args.get("strict_shape", True)),
                where=handler.json_path,
            )
        )
    elif name == "CheckpointSaver":
        plan.ckpt_dir = resolve_inside(
            root,
            args.get("save_dir", "models"),
            *plan.write_roots,
            where=f"{handler.json_path}.args.save_dir",
        )
        if section == "validate":
            plan.save_best = _truthy(args.get("save_key_metric", True))
            plan.best_filename = str(args.get("key_metric_filename") or plan.best_filename)
        if section == "train":
            plan.save_final = _truthy(args.get("save_final", True))
            plan.final_filename = str(args.get("final_filename") or plan.final_filename)
        if args.get("save_interval"):
            plan.notes.append(
                f"{handler.json_path}: save_interval={args['save_interval']} is covered by the "
                "resumable checkpoint; model.pt (best) and final_model.pt are written"
            )
    elif name == "StatsHandler":
        plan.stats = True
    elif name == "TensorBoardStatsHandler":
        plan.tensorboard_dir = resolve_inside(
            root,
            args.get("log_dir", "models"),
            *plan.write_roots,
            where=f"{handler.json_path}.args.log_dir",
        )
    elif name == "SmartCacheHandler":
        plan.smart_cache.append(args.get("smartcacher"))
    elif name == "MetricsSaver":
        plan.metrics_saver = {**args, "json_path": handler.json_path}
    else:
        plan.unmapped.append(
            f"{handler.json_path}: {handler.name} has no Lightning counterpart in "
            "mmar_hydra and is not run"
        )


def plan_handlers(
    parts: TrainParts,
    mmar_root: Path,
    *,
    finetune: bool = False,
    write_roots: tuple[Path, ...] = (),
) -> HandlerPlan:
    """Map the train and validate handlers of ``parts`` to a plan.

    Folders handlers write to must lie inside the MMAR or one of ``write_roots`` (the run dir).
    """
    plan = HandlerPlan(write_roots=tuple(write_roots))
    for handler in parts.handlers:
        _map(handler, plan, mmar_root, section="train", finetune=finetune)
    for handler in parts.validate.handlers if parts.validate else []:
        _map(handler, plan, mmar_root, section="validate", finetune=finetune)
    dataset = getattr(parts.dataloader, "dataset", None)
    if type(dataset).__name__ == "SmartCacheDataset" and dataset not in plan.smart_cache:
        plan.smart_cache = [dataset]
    plan.smart_cache = [d for d in plan.smart_cache if d is not None] or (
        [dataset] if plan.smart_cache and dataset is not None else []
    )
    return plan
