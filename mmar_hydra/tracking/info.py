"""What every logger records about one run, gathered once by the task as plain data.

:class:`TrackingInfo` holds the params (the resolved MMAR config flattened, the MMAR's path,
config file names and ``config/`` hash, the datalist's SHA-256, the Hydra overrides), the tags
(task, MMAR name, sweep id, job number) and where the run lives. The engine's loggers
(:mod:`mmar_hydra.tracking.loggers`) only hand it on; they never read the task context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmar_hydra.hydra_config import in_multirun, job_overrides, runs_dir
from mmar_hydra.mmar.keys import flatten
from mmar_hydra.writers.model_record import datalist_record
from mmar_hydra.writers.run_info import mmar_hash

if TYPE_CHECKING:
    from mmar_hydra.context import TaskContext
    from mmar_hydra.run_paths import RunPaths

__all__ = ["TrackingInfo", "tracking_info", "logger_spec", "sweep_of"]


@dataclass(frozen=True)
class TrackingInfo:
    """One run, as the loggers record it.

    Args:
        task: ``train``, ``finetune``, ``validate`` or ``infer``.
        mmar_name: the MMAR's folder name (the default experiment / project name).
        mmar_root: the MMAR as given; its ``runs/`` holds the default local stores.
        write_root: where the run writes (a sweep job's MMAR clone, else ``mmar_root``).
        run_dir: the Hydra run folder (CSV logs, W&B offline files).
        run_name: the run's name: the run folder's, or a sweep job's number.
        params: flat ``{key: text}`` of everything the run was made from.
        tags: task, mmar, sweep_id, job (the last two for sweep jobs only).
        config_yaml: the resolved config, stored as an artifact where loggers take them.
        sweep_id: the sweep folder of a ``-m`` job (None for single runs).
    """

    task: str
    mmar_name: str
    mmar_root: Path
    write_root: Path
    run_dir: Path
    run_name: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    config_yaml: str = ""
    sweep_id: str | None = None

    @property
    def local_store(self) -> Path:
        """``<MMAR>/runs``: where default local stores live, shared by a sweep's jobs (beside
        Hydra's run folders; a sweep job's writes never reach the parent MMAR otherwise)."""
        return Path(runs_dir(self.mmar_root)).resolve()


def sweep_of() -> tuple[str | None, str | None]:
    """(sweep folder, job number) of this Hydra job under ``-m``; (None, None) otherwise."""

    if not in_multirun():
        return None, None
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    return str(Path(str(hydra.sweep.dir)).resolve()), str(hydra.job.num)


def logger_spec(cfg: Any) -> dict[str, dict[str, Any]]:
    """The ``logger`` group as plain data: ``{kind: args}`` ({} for ``logger=null``)."""
    from omegaconf import OmegaConf

    node = cfg.get("logger") if cfg is not None else None
    if not node:
        return {}
    spec = OmegaConf.to_container(node, resolve=True) if hasattr(node, "_content") else node
    if not isinstance(spec, Mapping):
        return {}
    return {str(k): dict(v or {}) for k, v in spec.items()}


def _text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def tracking_info(
    ctx: TaskContext, config: Mapping[str, Any], paths: RunPaths, *, datalist: Any = None
) -> TrackingInfo:
    """The params, tags and places of ``ctx``'s run (``config``: the resolved MMAR config)."""
    from omegaconf import OmegaConf

    read = ctx.read
    assert read is not None  # tracked tasks run on an MMAR
    root = read.layout.root
    task = ctx.settings.task
    sweep, job = sweep_of()
    plain = {k: v for k, v in config.items() if k != "mmar_source"}
    params = {k: _text(v) for k, v in flatten(plain).items()}
    files = sorted(p.name for p in (root / "config").glob("*.json"))
    record = datalist_record(datalist) or {}
    params.update(
        {
            "mmar.path": str(root),
            "mmar.config_file": str(read.config_file.relative_to(root))
            if read.config_file.is_relative_to(root)
            else str(read.config_file),
            "mmar.config_files": ",".join(files),
            "mmar_hash": mmar_hash(root),
            "datalist.file": str(record.get("file", "")),
            "datalist.sha256": str(record.get("sha256", "")),
            "hydra.overrides": " ".join(job_overrides()),
        }
    )
    tags = {"task": task, "mmar": root.name}
    if sweep is not None:
        tags.update(sweep_id=sweep, job=str(job))
    return TrackingInfo(
        task=task,
        mmar_name=root.name,
        mmar_root=root,
        write_root=paths.write_root,
        run_dir=paths.run_dir,
        run_name=str(job) if job is not None else paths.run_dir.name,
        params=params,
        tags=tags,
        config_yaml=OmegaConf.to_yaml(OmegaConf.create(plain)),
        sweep_id=sweep,
    )
