"""Clara handlers -> Lightning pieces, with every switch accounted for.

Clara's handlers were ignite event handlers. Each one with a Lightning meaning becomes
trainer arguments, a callback, a logger or a checkpoint load. Every arg of a mapped handler
is either honoured (read into the :class:`HandlerPlan`), implicit (wiring the engine does
itself, such as ``validator: "@evaluator"``), or named in ``HandlerPlan.ignored`` as having
no effect here; a handler with no Lightning meaning is listed in ``HandlerPlan.unmapped``.
Nothing is dropped silently. Paths in the args were resolved by the component resolver
(``RunPaths``), so this module only reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.components.parts import HandlerPart, TrainParts
from mmar_hydra.errors import MMARError
from mmar_hydra.settings import parse_bool

__all__ = ["HandlerPlan", "CheckpointLoad", "IntervalSave", "plan_handlers", "HANDLER_ARGS"]


@dataclass
class CheckpointLoad:
    """Weights (and optionally optimizer / scheduler state) to load before training."""

    path: Path
    strict: bool
    skip_mismatched: bool
    where: str
    load_dict: tuple[str, ...] = ("model",)


@dataclass
class IntervalSave:
    """CheckpointSaver's ``save_interval``: a checkpoint every N epochs (or iterations)."""

    every: int
    epoch_level: bool = True
    n_saved: int | None = None  # keep the last N; None keeps all


@dataclass
class HandlerPlan:
    """What the engine does for the MMAR's handlers (read by the training recipe, ``tasks.train_recipe``)."""

    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler_interval: str = "epoch"
    print_lr: bool = False
    tensorboard_dir: Path | None = None
    stats_tag: str | None = None  # StatsHandler's tag_name; None: no StatsHandler, no lines
    smart_cache: list[Any] = field(default_factory=list)
    ckpt_dir: Path | None = None
    best_filename: str = "model.pt"
    final_filename: str = "final_model.pt"
    save_best: bool = True  # validate CheckpointSaver's save_key_metric
    save_final: bool = True  # train CheckpointSaver's save_final
    save_dict: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {s: ("model", "train_conf") for s in ("train", "validate")}
    )  # per section: train's for final / interval checkpoints, validate's for the best one
    interval: IntervalSave | None = None
    load: list[CheckpointLoad] = field(default_factory=list)
    metrics_saver: dict[str, Any] | None = None  # validate MetricsSaver: eval CSVs per validation
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """The lines to print: unmapped handlers, ignored switches, notes."""
        return [*self.unmapped, *self.ignored, *self.notes]


def _flag(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    try:
        return parse_bool(value, key="handler switch")
    except MMARError:
        return bool(value)


# -- one mapper per handler: reads its args into the plan, returns the args it honoured --
def _validation(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    interval = int(h.args.get("interval", 1))
    if _flag(h.args.get("epoch_level"), True):
        plan.trainer_kwargs["check_val_every_n_epoch"] = interval
    else:
        plan.trainer_kwargs["check_val_every_n_epoch"] = None
        plan.trainer_kwargs["val_check_interval"] = interval
    return {"interval", "epoch_level"}


def _lr_schedule(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    plan.scheduler_interval = "epoch" if _flag(h.args.get("epoch_level"), True) else "step"
    plan.print_lr = _flag(h.args.get("print_lr"), False)
    if "step_transform" in h.args:
        plan.notes.append(
            f"{h.json_path}.args.step_transform: ReduceLROnPlateau is stepped on the "
            "validate key metric"
        )
    return {"epoch_level", "print_lr", "step_transform"}


def _loader(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    load_dict = h.args.get("load_dict") or {"model": None}
    plan.load.append(
        CheckpointLoad(
            path=Path(str(h.args["load_path"])),
            strict=_flag(h.args.get("strict"), True),
            skip_mismatched=finetune or not _flag(h.args.get("strict_shape"), True),
            where=h.json_path,
            load_dict=tuple(load_dict),
        )
    )
    return {"load_path", "load_dict", "strict", "strict_shape", "map_location"}


def _saver(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    args = h.args
    if "save_dir" in args:
        plan.ckpt_dir = Path(str(args["save_dir"]))
    if isinstance(args.get("save_dict"), dict):
        plan.save_dict[section] = tuple(dict.fromkeys(("model", *args["save_dict"])))
    honoured = {"save_dir", "save_dict"}
    if section == "validate":
        plan.save_best = _flag(args.get("save_key_metric"), False)
        plan.best_filename = str(args.get("key_metric_filename") or plan.best_filename)
        honoured |= {"save_key_metric", "key_metric_filename", "key_metric_name"}
        if int(args.get("key_metric_n_saved", 1) or 1) != 1:
            plan.ignored.append(
                f"{h.json_path}.args.key_metric_n_saved={args['key_metric_n_saved']}: only the "
                f"best model is kept, as {plan.best_filename}"
            )
            honoured.add("key_metric_n_saved")
    else:
        plan.save_final = _flag(args.get("save_final"), False)
        plan.final_filename = str(args.get("final_filename") or plan.final_filename)
        honoured |= {"save_final", "final_filename"}
    if int(args.get("save_interval", 0) or 0) > 0:
        n_saved = args.get("n_saved")
        plan.interval = IntervalSave(
            every=int(args["save_interval"]),
            epoch_level=_flag(args.get("epoch_level"), True),
            n_saved=int(n_saved) if n_saved not in (None, -1) else None,
        )
    honoured |= {"save_interval", "n_saved", "epoch_level"}
    return honoured


def _stats(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    if section == "train":
        plan.stats_tag = str(h.args.get("tag_name") or "train_loss")
    return {"tag_name"}


def _tensorboard(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    if "log_dir" in h.args:
        plan.tensorboard_dir = Path(str(h.args["log_dir"]))
    elif plan.tensorboard_dir is None:
        plan.tensorboard_dir = Path()  # the engine's default: MMAR_CKPT_DIR
    return {"log_dir"}


def _smart_cache(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    plan.smart_cache.append(h.args.get("smartcacher"))
    return {"smartcacher"}


def _metrics_saver(h: HandlerPart, plan: HandlerPlan, section: str, finetune: bool) -> set[str]:
    if section == "validate":
        plan.metrics_saver = {**h.args, "json_path": h.json_path}
    return {"save_dir", "metrics", "metric_details", "summary_ops", "delimiter", "save_rank"}


_Mapper = Callable[[HandlerPart, HandlerPlan, str, bool], set[str]]
_MAPPERS: dict[str, _Mapper] = {
    "ValidationHandler": _validation,
    "LrScheduleHandler": _lr_schedule,
    "CheckpointLoader": _loader,
    "CheckpointSaver": _saver,
    "StatsHandler": _stats,
    "TensorBoardStatsHandler": _tensorboard,
    "SmartCacheHandler": _smart_cache,
    "MetricsSaver": _metrics_saver,
}
# args whose meaning the engine covers itself (wiring, which value to log, ignite plumbing)
_IMPLICIT: dict[str, set[str]] = {
    "ValidationHandler": {"validator"},
    "LrScheduleHandler": {"lr_scheduler"},
    "StatsHandler": {"output_transform", "name"},
    "TensorBoardStatsHandler": {"output_transform", "tag_name"},
    "MetricsSaver": {"batch_transform", "output_type"},
    "CheckpointSaver": {"name"},
}
HANDLER_ARGS = {name: sorted(_IMPLICIT.get(name, set())) for name in _MAPPERS}


def _map(h: HandlerPart, plan: HandlerPlan, *, section: str, finetune: bool) -> None:
    name = h.name.rsplit(".", 1)[-1]
    mapper = _MAPPERS.get(name)
    if mapper is None and h.obj is not None:
        return  # an ignite handler the evaluation loop runs itself (engine.ignite_bridge)
    if mapper is None:
        plan.unmapped.append(
            f"{h.json_path}: {h.name} has no Lightning counterpart in mmar_hydra and is not run"
        )
        return
    known = mapper(h, plan, section, finetune) | _IMPLICIT.get(name, set())
    for key in sorted(set(h.args) - known):
        plan.ignored.append(f"{h.json_path}.args.{key}={h.args[key]!r} has no effect here")


def plan_handlers(parts: TrainParts, *, default_dir: Path, finetune: bool = False) -> HandlerPlan:
    """Map the train and validate handlers of ``parts`` to a plan.

    Args:
        parts: the built training parts (handler args already resolved, paths absolute).
        default_dir: ``MMAR_CKPT_DIR``, for handlers that name no folder.
        finetune: layers of another shape are skipped when loading (transfer learning).
    """
    plan = HandlerPlan()
    for handler in parts.handlers:
        _map(handler, plan, section="train", finetune=finetune)
    for handler in parts.validate.handlers if parts.validate else []:
        _map(handler, plan, section="validate", finetune=finetune)
    if plan.tensorboard_dir == Path():
        plan.tensorboard_dir = Path(default_dir)
    dataset = getattr(parts.dataloader, "dataset", None)
    if type(dataset).__name__ == "SmartCacheDataset" and dataset not in plan.smart_cache:
        plan.smart_cache = [dataset]
    plan.smart_cache = [d for d in plan.smart_cache if d is not None] or (
        [dataset] if plan.smart_cache and dataset is not None else []
    )
    return plan
