"""``task=train`` and ``task=finetune``: train what the MMAR's training config describes.

check (after ``fast=true`` rewrote the config; nothing is built before it passes) -> the run's
plan, decided once -> the run lock -> the training recipe (:mod:`.train_recipe`: build, model,
data, callbacks, loggers, Trainer, fit). The artifacts (model.pt, final_model.pt, TensorBoard
events, train_stats.json) are written by the engine's callbacks through ``writers``; this
module adds the resolved config and run_info.json beside them and a closing summary.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmar_hydra.components.fast import FastPlan, apply_fast, settle_cache
from mmar_hydra.context import TaskContext
from mmar_hydra.engine.trainer import seed_from_globals, trainer_kwargs
from mmar_hydra.faults.bad_cases import BadCasePolicy
from mmar_hydra.faults.lock import run_lock
from mmar_hydra.tasks.preflight import checked_config
from mmar_hydra.tasks.records import datalist_of, record_run
from mmar_hydra.tasks.train_recipe import TrainPlan, TrainRecipe
from mmar_hydra.tracking.info import logger_spec, tracking_info
from mmar_hydra.tracking.mlflow_store import tracking_env_kept
from mmar_hydra.writers.atomic import atomic_write_text, ensure_writable_dir

__all__ = ["run"]


def run(ctx: TaskContext) -> float | None:
    """Train; returns the best validation key metric (for Hydra sweepers), or None."""
    config, fast = _checked(ctx)
    paths, settings = ctx.paths, ctx.settings
    plan = TrainPlan.of(
        config,
        ctx.trainer_overrides,
        run_dir=paths.run_dir,
        fast=fast,
        ddp_timeout=settings.ddp_timeout,
    )
    if not plan.dev_run:  # a smoke test leaves models/ untouched
        ensure_writable_dir(paths.ckpt_dir)
    seed_from_globals(config)  # before building: random transforms take their seeds at init
    # rank 0 holds the folder's lock (DDP children re-run this task inside its run);
    # debug=fast_dev_run writes nothing there, so it takes no lock either
    locked = plan.rank == 0 and not plan.dev_run
    with run_lock(paths.ckpt_dir) if locked else contextlib.nullcontext():
        recipe = TrainRecipe(
            config,
            paths,
            plan,
            allow_code=ctx.allow_code,
            finetune=settings.task == "finetune",
            resume=settings.resume,
            fast=fast,
            bad_cases=BadCasePolicy(settings.skip_bad_cases, settings.max_bad_fraction),
            logger_spec=logger_spec(ctx.cfg),
            tracking=tracking_info(ctx, config, paths, datalist=datalist_of(config, ctx.mmar_root)),
            records=lambda: _records(ctx, config, plan),
            progress=settings.progress,
        )
        with tracking_env_kept():
            result = recipe.train()
    if plan.rank == 0 and not plan.dev_run:
        _print_summary(Path(result["ckpt_dir"]), result)
    elif plan.rank == 0:
        print(
            f"debug=fast_dev_run: {result['global_step']} training step(s), {paths.ckpt_dir} "
            f"untouched; run_info.json in {paths.run_dir}"
        )
    return result.get("best_key_metric")


def _checked(ctx: TaskContext) -> tuple[dict[str, Any], FastPlan | None]:
    """The checked config: ``fast=true`` rewrites it first (nothing built), the one check walk
    runs on the result, and only then are the new caches sized (which builds one case)."""
    plans: list[FastPlan] = []

    def speed_up(resolved: dict[str, Any]) -> dict[str, Any]:
        gpu = trainer_kwargs(resolved, ctx.trainer_overrides)[0].get("accelerator") == "gpu"
        config, plan = apply_fast(resolved, gpu=gpu)
        plans.append(plan)
        return config

    config = checked_config(ctx, "train", adjust=speed_up if ctx.settings.fast else None)
    if not plans:
        return config, None
    plan = plans[0]
    plan.notes += settle_cache(config, plan, paths=ctx.paths, allow_code=ctx.allow_code)
    if ctx.rank == 0:
        for note in plan.notes:
            print(f"fast: {note}")
    return config, plan


def _records(ctx: TaskContext, config: dict[str, Any], plan: TrainPlan) -> list[Path]:
    """Rank 0 writes run_info.json and the resolved config; the loggers store both.

    debug=fast_dev_run leaves ``models/`` untouched: run_info.json goes to the run folder.
    """
    if plan.rank != 0:
        return []
    paths = ctx.paths
    files = [record_run(ctx, paths.run_dir if plan.dev_run else paths.ckpt_dir, config)]
    if not plan.dev_run:  # the run's resolved config beside the artifacts
        resolved = paths.ckpt_dir / "mmar_hydra_config.yaml"
        atomic_write_text(resolved, OmegaConf.to_yaml(OmegaConf.create(ctx.resolved)))
        files.insert(0, resolved)
    return files


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
