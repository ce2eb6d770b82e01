"""The built pieces of an MMAR, handed from the component builder to the engine.

The builder (``components.builder``) turns one resolved config into these dataclasses; the
Lightning module, data module and tasks only ever see these, never raw JSON. That keeps the
data path one-way: reader -> Hydra -> builder -> engine -> writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricPart", "HandlerPart", "EvalParts", "TrainParts", "ModelSource"]


@dataclass
class MetricPart:
    """One metric, as Clara named it, computed with a cumulative ``monai.metrics`` object.

    ``metric`` follows MONAI's Cumulative API: ``metric(y_pred=..., y=...)`` per batch,
    ``aggregate()`` at the end, ``reset()`` between runs, ``get_buffer()`` for per-case values.
    """

    clara_name: str  # "MeanDice", "Accuracy", ...
    log_label: str  # "val_mean_dice"
    metric: Any
    is_key: bool
    json_path: str
    # its output_transform (a callable): (y_pred, y) of one case's dict; None: pred, label
    output: Any | None = None


@dataclass
class HandlerPart:
    """A Clara handler (ignite-based in Clara) that the engine maps to a Lightning piece.

    ``args`` has every ``@ref`` resolved to the built object and every ``{VAR}`` substituted.
    """

    name: str  # "CheckpointSaver", "ValidationHandler", ...
    args: dict[str, Any]
    json_path: str
    rank: int | None = None
    obj: Any = None  # the built handler, for those the evaluation loop runs as ignite handlers
    file: str | None = None  # the config file it was read from (for errors)


@dataclass
class ModelSource:
    """Where an evaluation model comes from (validation / inference configs)."""

    kind: str  # "network" | "ckpt" | "ts"
    path: str | None = None  # absolute path of the checkpoint or TorchScript file
    network: Any = None  # the nn.Module built from a spec, when there is one


@dataclass
class EvalParts:
    """Everything a validation/inference pass needs."""

    dataloader: Any
    inferer: Any
    post_transforms: Any | None  # a monai Compose or None
    pre_transforms: Any | None
    metrics: list[MetricPart] = field(default_factory=list)
    handlers: list[HandlerPart] = field(default_factory=list)
    model: ModelSource | None = None  # flat configs only; train's validate uses the train model
    amp: bool = False
    iteration: Any | None = None  # Clara's iteration_update (deepgrow's Interaction), or None
    origins: Any = None  # components.origins.Origins: what was built, from where (for errors)


@dataclass
class TrainParts:
    """Everything the training engine needs, built from config_train.json's ``train`` section."""

    network: Any
    loss: Any
    optimizer: Any
    lr_scheduler: Any | None
    dataloader: Any
    inferer: Any
    post_transforms: Any | None
    pre_transforms: Any | None
    metrics: list[MetricPart] = field(default_factory=list)
    handlers: list[HandlerPart] = field(default_factory=list)
    max_epochs: int = 1
    amp: bool = False
    validate: EvalParts | None = None
    train_conf: dict[str, Any] = field(default_factory=dict)  # plain data, stored in checkpoints
    iteration: Any | None = None  # Clara's iteration_update (deepgrow's Interaction), or None
    origins: Any = None  # components.origins.Origins: what was built, from where (for errors)
