"""The ``logger`` config group, built: one Lightning logger per entry of ``conf/logger/``.

``cfg.logger`` is ``{kind: args}``; each kind has one builder here, with the arguments of its
YAML file (``conf/logger/<kind>.yaml``), and ``logger=many`` is several entries at once:

- ``tensorboard``: Clara's TensorBoardStatsHandler, events in its ``log_dir`` (``MMAR_CKPT_DIR``);
  none when the MMAR has no such handler, unless ``save_dir`` is given;
- ``csv``: Lightning's CSVLogger in the Hydra run folder (``csv/metrics.csv``);
- ``mlflow``: a local MLflow store (:mod:`mmar_hydra.tracking.mlflow_store`); a sweep job is a
  child run of its sweep's parent run;
- ``wandb``: Weights & Biases, offline mode only; ``aim``: a local Aim repository.

Every logger gets the run's :class:`~mmar_hydra.tracking.info.TrackingInfo` (params, tags)
and the parameter count; the per-step loss, per-epoch metrics and learning rate come from
the module's ``self.log``. :class:`TrackingCallback` adds, at the end of training, model.pt,
final_model.pt, train_stats.json, the resolved config and run_info.json as artifacts of the
loggers that store files (mlflow, wandb, aim). Nothing here reaches the network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from mmar_hydra.errors import ConfigError
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.tracking import mlflow_store as store
from mmar_hydra.tracking.info import TrackingInfo

__all__ = [
    "KINDS",
    "BuiltLogger",
    "build_loggers",
    "TrackingCallback",
    "record_evaluation",
    "model_sizes",
]


@dataclass
class BuiltLogger:
    """A Lightning logger and what mmar_hydra does with it beyond Lightning's calls."""

    kind: str
    logger: Any
    log_artifacts: bool = False


def _dir(args: Mapping[str, Any], key: str, default: Path, paths: RunPaths) -> Path:
    """``args[key]`` through the write roots (a folder inside the MMAR or the run folder)."""
    value = args.get(key)
    return paths.write(value, where=f"logger.{key}") if value else Path(default)


def _tensorboard(args, info, paths, tensorboard_dir, rank):  # noqa: ANN001, ANN202
    from pytorch_lightning.loggers import TensorBoardLogger

    target = (
        paths.write(args["save_dir"], where="logger.tensorboard.save_dir")
        if args.get("save_dir")
        else tensorboard_dir
    )
    if target is None:  # no TensorBoardStatsHandler: Clara wrote no events either
        return None
    return TensorBoardLogger(save_dir=str(target), name="", version="", default_hp_metric=False)


def _csv(args, info, paths, tensorboard_dir, rank):  # noqa: ANN001, ANN202
    from pytorch_lightning.loggers import CSVLogger

    return CSVLogger(
        save_dir=str(_dir(args, "save_dir", info.run_dir, paths)), name="csv", version=""
    )


def _mlflow(args, info, paths, tensorboard_dir, rank):  # noqa: ANN001, ANN202
    from pytorch_lightning.loggers import MLFlowLogger

    store.require_mlflow()
    uri, artifacts = store.store_location(args.get("tracking_uri"), info.local_store)
    name = str(args.get("experiment_name") or info.mmar_name)
    tags = {**info.tags, "mmar_hydra.write_root": str(info.write_root)}
    if rank == 0:
        client = store.client(uri)
        experiment = store.experiment_id(client, name, artifacts)
        if info.sweep_id is not None:
            tags["mlflow.parentRunId"] = store.parent_run(client, experiment, info.sweep_id)
    return MLFlowLogger(
        experiment_name=name,
        run_name=str(args.get("run_name") or info.run_name),
        tracking_uri=uri,
        tags=tags,
        log_model=False,
    )


def _wandb(args, info, paths, tensorboard_dir, rank):  # noqa: ANN001, ANN202
    _require("wandb", "wandb")
    os.environ["WANDB_MODE"] = "offline"  # never online: nothing leaves this machine
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    from pytorch_lightning.loggers import WandbLogger

    return WandbLogger(
        name=str(args.get("run_name") or info.run_name),
        save_dir=str(_dir(args, "save_dir", info.run_dir, paths)),
        project=str(args.get("project") or info.mmar_name),
        offline=True,
        tags=[f"{k}={v}" for k, v in info.tags.items()],
        log_model=False,
    )


def _aim(args, info, paths, tensorboard_dir, rank):  # noqa: ANN001, ANN202
    _require("aim", "aim")
    from aim.sdk.adapters.pytorch_lightning import AimLogger

    return AimLogger(
        repo=str(_dir(args, "repo", info.local_store, paths)),
        experiment=str(args.get("experiment") or info.mmar_name),
        run_name=str(args.get("run_name") or info.run_name),
        capture_terminal_logs=False,
        system_tracking_interval=None,
        log_system_params=False,
    )


def _require(module: str, kind: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"logger={kind} needs the {module} package",
            path="logger",
            expected=f"{module} installed in this environment",
            fix=f'pip install -e ".[tracking]" (or pip install {module}), or choose another logger',
        )


KINDS: dict[str, Callable[..., Any]] = {
    "tensorboard": _tensorboard,
    "csv": _csv,
    "mlflow": _mlflow,
    "wandb": _wandb,
    "aim": _aim,
}
_STORES_FILES = ("mlflow", "wandb", "aim")


def build_loggers(
    spec: Mapping[str, Mapping[str, Any]],
    info: TrackingInfo | None,
    *,
    paths: RunPaths,
    tensorboard_dir: Path | None = None,
    rank: int = 0,
    for_eval: bool = False,
) -> list[BuiltLogger]:
    """The loggers ``spec`` (``cfg.logger``) names.

    Args:
        spec: ``{kind: args}`` from the ``logger`` group.
        info: what every logger records (None, for library callers of ``fit``: TensorBoard
            only, the other kinds are left out).
        paths: the task's write roots (``save_dir`` / ``repo`` arguments go through them).
        tensorboard_dir: the TensorBoardStatsHandler's folder (None: the MMAR has none).
        rank: the process's global rank; only rank 0 talks to a store before training.
        for_eval: validate / infer: TensorBoard (a training handler in Clara) is left out.
    """
    built = []
    for kind, args in spec.items():
        if kind not in KINDS:
            raise ConfigError(
                f"unknown logger '{kind}'",
                path=f"logger.{kind}",
                expected="one of: " + ", ".join(KINDS),
                fix="pick a preset: logger=tensorboard|csv|mlflow|wandb|aim|many|null",
            )
        if (for_eval and kind == "tensorboard") or (info is None and kind != "tensorboard"):
            continue
        logger = KINDS[kind](dict(args or {}), info, paths, tensorboard_dir, rank)
        if logger is not None:
            keep = kind in _STORES_FILES and bool((args or {}).get("log_artifacts", True))
            built.append(BuiltLogger(kind, logger, keep))
    return built


def model_sizes(network: Any) -> dict[str, str]:
    """``model_params`` (parameters) and ``model_state_numel`` (state-dict entries, buffers
    included, as ``task=compare`` counts a checkpoint)."""
    module = getattr(network, "module", network)
    params = sum(p.numel() for p in module.parameters())
    state = sum(v.numel() for v in module.state_dict().values() if hasattr(v, "numel"))
    return {"model_params": str(params), "model_state_numel": str(state)}


def _safe_key(key: str) -> str:
    """A param name every store accepts (MLflow: letters, digits, ``_-. :/``, 250 chars)."""
    return re.sub(r"[^\w\-. :/]", "_", key)[:250]


def _log_params(built: list[BuiltLogger], info: TrackingInfo, extra: Mapping[str, str]) -> None:
    params = {_safe_key(k): v for k, v in {**info.params, **extra}.items()}
    for item in built:
        if item.kind in ("tensorboard", "csv"):  # no tags there: they travel as params
            item.logger.log_hyperparams({**params, **{f"tag.{k}": v for k, v in info.tags.items()}})
            continue
        item.logger.log_hyperparams(params)
        if item.kind == "aim":
            for key, value in info.tags.items():
                item.logger.experiment.add_tag(f"{key}={value}")


def _upload(item: BuiltLogger, files: list[Path], folder: str, info: TrackingInfo) -> None:
    """Store ``files`` with the run, under ``folder``, in the logger's own artifact store."""
    files = [f for f in files if Path(f).is_file()]
    if not item.log_artifacts or not files:
        return
    if item.kind == "mlflow":
        for path in files:
            item.logger.experiment.log_artifact(item.logger.run_id, str(path), folder)
    elif item.kind == "wandb":
        import wandb

        artifact = wandb.Artifact(
            _safe_key(f"{info.mmar_name}-{folder}").replace(" ", "_"), type=folder
        )
        for path in files:
            artifact.add_file(str(path))
        item.logger.experiment.log_artifact(artifact)
    elif item.kind == "aim":
        run = item.logger.experiment
        run.set_artifacts_uri((Path(item.logger._repo_path) / "aim_artifacts").as_uri())
        for path in files:
            run.log_artifact(str(path), name=f"{folder}/{Path(path).name}", block=True)


class TrackingCallback(pl.Callback):
    """Params and parameter count at the start of training, artifacts at its end.

    Args:
        built: the loggers (the Trainer has them too).
        info: what every logger records.
        artifacts: files to store when training ends (those that exist then).
        config_files: files to store with the config (the resolved config, run_info.json).
    """

    def __init__(
        self,
        built: list[BuiltLogger],
        info: TrackingInfo,
        artifacts: list[Path],
        config_files: list[Path],
    ) -> None:
        self.built = built
        self.info = info
        self.artifacts = artifacts
        self.config_files = config_files

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and not _dev_run(trainer):
            _log_params(self.built, self.info, model_sizes(pl_module.network))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or _dev_run(trainer):
            return
        for item in self.built:
            _upload(item, self.config_files, "config", self.info)
            _upload(item, self.artifacts, "models", self.info)


def record_evaluation(
    built: list[BuiltLogger],
    info: TrackingInfo,
    metrics: Mapping[str, float],
    files: list[Path],
    network: Any = None,
) -> None:
    """A validate / infer run as one run of each logger: params, metrics, the eval files."""
    if not built:
        return
    sizes = model_sizes(network) if hasattr(network, "parameters") else {}
    _log_params(built, info, sizes)
    for item in built:
        if metrics:
            item.logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=0)
        _upload(item, files, "eval", info)
        item.logger.finalize("success")


def _dev_run(trainer: pl.Trainer) -> bool:
    """Whether Lightning runs ``fast_dev_run`` (nothing is recorded then)."""
    return bool(getattr(trainer, "fast_dev_run", False))
