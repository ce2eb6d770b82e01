"""``task=train`` and ``task=finetune``: train what the MMAR's training config describes.

check -> build -> plan the Clara handlers -> Lightning fit. The artifacts (model.pt,
final_model.pt, TensorBoard events, train_stats.json) are written by the engine's callbacks
through ``writers``; this module adds the resolved config beside them and a closing summary.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.tasks.preflight import checked_config
from mmar_hydra.tasks.records import datalist_of, record_run
from mmar_hydra.tracking.info import logger_spec, tracking_info
from mmar_hydra.tracking.mlflow_store import tracking_env_kept

__all__ = ["run", "trainer_overrides"]


def trainer_overrides(ctx: TaskContext) -> dict[str, Any]:
    from omegaconf import OmegaConf

    node = ctx.cfg.get("trainer") or {}
    container = OmegaConf.to_container(node, resolve=True) if node else {}
    overrides: dict[str, Any] = (
        {str(k): v for k, v in container.items()} if isinstance(container, dict) else {}
    )
    overrides.pop("_target_", None)
    return overrides


def _save_resolved_config(ctx: TaskContext, ckpt_dir: Path) -> Path:
    """The run's resolved config beside the artifacts, so models/ says how it was made."""
    from omegaconf import OmegaConf

    from mmar_hydra.writers.atomic import atomic_write_text

    path = ckpt_dir / "mmar_hydra_config.yaml"
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(ctx.resolved)))
    return path


def run(ctx: TaskContext) -> float | None:
    """Train; returns the best validation key metric (for Hydra sweepers), or None."""
    from mmar_hydra.components.builder import build_train
    from mmar_hydra.faults.bad_cases import BadCasePolicy

    # checked before the caches fill: skip_bad_cases / max_bad_fraction
    bad_cases = BadCasePolicy(ctx.settings.skip_bad_cases, ctx.settings.max_bad_fraction)
    fast: list[Any] = []  # the FastPlan, when fast=true rewrote the config

    def speed_up(resolved: dict[str, Any]) -> dict[str, Any]:
        return _fast(ctx, resolved, fast) if ctx.settings.fast else resolved

    config, paths = checked_config(ctx, "train", adjust=speed_up)

    from mmar_hydra.engine.trainer import distributed_layout, seed_from_globals, trainer_kwargs
    from mmar_hydra.faults.lock import run_lock
    from mmar_hydra.writers.atomic import ensure_writable_dir

    ckpt_dir = paths.ckpt_dir
    dev_run = bool(trainer_overrides(ctx).get("fast_dev_run"))  # debug=fast_dev_run
    if not dev_run:  # a smoke test leaves models/ untouched
        ensure_writable_dir(ckpt_dir)
    seed_from_globals(config)  # before building: random transforms take their seeds at init
    rank, world_size = distributed_layout(trainer_kwargs(config, trainer_overrides(ctx))[0])
    # rank 0 holds the folder's lock (DDP children re-run this task inside its run);
    # debug=fast_dev_run writes nothing there, so it takes no lock either
    locked = rank == 0 and not dev_run
    with run_lock(ckpt_dir) if locked else contextlib.nullcontext():
        parts = build_train(
            config, paths=paths, allow_code=ctx.allow_code, rank=rank, world_size=world_size
        )
        config_files = _records(ctx, config, paths, rank, dev_run)
        with tracking_env_kept():
            result = _fit(ctx, config, parts, paths, rank, fast, config_files, bad_cases)
    if rank == 0 and not dev_run:
        _print_summary(Path(result["ckpt_dir"]), result)
    elif rank == 0:
        print(
            f"debug=fast_dev_run: {result['global_step']} training step(s), {ckpt_dir} untouched; "
            f"run_info.json in {paths.run_dir}"
        )
    return result.get("best_key_metric")


def _fit(
    ctx: TaskContext,
    config: Any,
    parts: Any,
    paths: Any,
    rank: int,
    fast: list[Any],
    config_files: list[Path],
    bad_cases: Any = None,
) -> dict[str, Any]:
    """The engine's ``fit`` with the task's loggers, records and progress display."""
    from mmar_hydra.engine.run import fit

    return fit(
        parts,
        globals_=config,
        paths=paths,
        trainer_overrides=trainer_overrides(ctx),
        finetune=ctx.settings.task == "finetune",
        resume=ctx.settings.resume,
        say=print if rank == 0 else _silent,
        fast=fast[0] if fast else None,
        ddp_timeout=ctx.settings.ddp_timeout,
        logger_spec=logger_spec(ctx.cfg),
        tracking=tracking_info(ctx, config, paths, datalist=datalist_of(config, ctx.mmar_root)),
        config_files=config_files,
        progress=ctx.settings.progress,
        rank=rank,
        bad_cases=bad_cases,
    )


def _records(
    ctx: TaskContext, config: dict[str, Any], paths: Any, rank: int, dev_run: bool
) -> list[Path]:
    """Rank 0 writes run_info.json and the resolved config; the loggers store both.

    debug=fast_dev_run leaves ``models/`` untouched: run_info.json goes to the run folder.
    """
    if rank != 0:
        return []
    files = [record_run(ctx, paths.run_dir if dev_run else paths.ckpt_dir, config)]
    if not dev_run:
        files.insert(0, _save_resolved_config(ctx, paths.ckpt_dir))
    return files


def _fast(ctx: TaskContext, resolved: dict[str, Any], out: list[Any]) -> dict[str, Any]:
    """``fast=true``: the rewritten config; the plan for the engine goes into ``out``."""
    from mmar_hydra.components.fast import apply_fast
    from mmar_hydra.engine.trainer import trainer_kwargs
    from mmar_hydra.run_paths import RunPaths

    kwargs = trainer_kwargs(resolved, trainer_overrides(ctx))[0]
    config, plan = apply_fast(
        resolved,
        paths=RunPaths.for_task(ctx, resolved),
        allow_code=ctx.allow_code,
        gpu=kwargs.get("accelerator") == "gpu",
    )
    if ctx.rank == 0:
        for note in plan.notes:
            print(f"fast: {note}")
    out.append(plan)
    return config


def _silent(*_: Any) -> None:
    """Ranks other than 0 keep quiet: one console, one set of messages."""


def _print_summary(ckpt_dir: Path, result: dict[str, Any]) -> None:
    stats_path = ckpt_dir / "train_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else result
    best = stats.get("best_key_metric")
    label = stats.get("key_metric_name", "key metric")
    print()
    for name in (result.get("best_filename", "model.pt"), result.get("final_filename", "")):
        if name and (ckpt_dir / name).is_file():
            print(f"{name + ':':<17}{ckpt_dir / name}")
    if best is None and result.get("best_filename"):
        print(f"no validation ran, so no {result['best_filename']} (see ValidationHandler)")
    if best is not None:
        print(f"best {label}: {best:.4f} (epoch {stats.get('best_key_metric_epoch')})")
    print(f"total time:      {stats.get('total_time', 0.0):.1f} s")
