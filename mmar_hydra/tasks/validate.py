"""``task=validate`` and ``task=infer``: run a flat evaluation config on a trained model.

validate: metrics over every case, and MetricsSaver's files (metrics.csv, <label>_raw.csv,
<label>_summary.csv) in MMAR_EVAL_OUTPUT_PATH. infer: predictions only, written by the post
transforms (Invertd back to each input's space, SaveImaged) into the same folder. Clara's
``do_validation`` / ``output_infer_result`` turn either into the other (:mod:`.eval_flags`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmar_hydra.components.builder import build_eval
from mmar_hydra.context import TaskContext
from mmar_hydra.cv.ensemble_setup import ensemble_network, wants_ensemble
from mmar_hydra.engine.evaluation import evaluate
from mmar_hydra.engine.model_loading import load_eval_network
from mmar_hydra.engine.progress import plan_progress
from mmar_hydra.engine.trainer import distributed_layout, trainer_kwargs
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.tasks.eval_flags import EvalFlags, apply_eval_flags
from mmar_hydra.tasks.preflight import checked_config
from mmar_hydra.tasks.records import datalist_of, record_run
from mmar_hydra.tracking.info import logger_spec, tracking_info
from mmar_hydra.tracking.loggers import build_loggers, record_evaluation
from mmar_hydra.tracking.mlflow_store import tracking_env_kept
from mmar_hydra.writers.eval_csv import write_metrics_saver

__all__ = ["run"]


def _write_eval_files(paths: RunPaths, handlers: list[Any], result: dict) -> list:
    """MetricsSaver's files (its save_dir, already resolved; else MMAR_EVAL_OUTPUT_PATH)."""

    saver = next((dict(h.args) for h in handlers if h.name == "MetricsSaver"), {})
    save_dir = saver.get("save_dir") or paths.eval_dir
    return write_metrics_saver(save_dir, saver, result["metrics"], result["details"])


def run(ctx: TaskContext) -> float | None:

    read = ctx.read
    assert read is not None

    def clara_flags(resolved: dict[str, Any]) -> dict[str, Any]:
        return apply_eval_flags(
            resolved,
            EvalFlags.of(resolved),
            mmar_root=ctx.mmar_root,
            infer_key=ctx.settings.infer_data_list_key,
            file=str(read.config_file),
            say=print if ctx.rank == 0 else (lambda *_: None),
        )

    config = checked_config(ctx, "flat", adjust=clara_flags)
    paths = ctx.paths
    kwargs, notes = trainer_kwargs(config, ctx.trainer_overrides, run_dir=paths.run_dir)
    dev_run = bool(kwargs.get("fast_dev_run"))  # debug=fast_dev_run: one batch, nothing written
    shown = plan_progress(ctx.settings.progress)
    kwargs.update(enable_progress_bar=shown.enable_progress_bar, callbacks=shown.callbacks)
    rank, world_size = distributed_layout(kwargs)
    say = print if rank == 0 else (lambda *_: None)
    for note in notes:
        say(f"trainer: {note}")
    parts = build_eval(
        config, paths=paths, allow_code=ctx.allow_code, rank=rank, world_size=world_size
    )
    if wants_ensemble(ctx):  # models=[...], cv_dir=..., tta=flip or task=ensemble
        network = ensemble_network(ctx, parts, say)
    else:
        network = load_eval_network(
            parts.model,
            parts.handlers,
            paths=paths,
            allow_code=ctx.allow_code,
            say=say,
            file=(config.get("mmar_source") or {}).get("config_file"),
        )
    info = tracking_info(ctx, config, paths, datalist=datalist_of(config, ctx.mmar_root))
    built = (
        []
        if dev_run
        else build_loggers(logger_spec(ctx.cfg), info, paths=paths, rank=rank, for_eval=True)
    )
    if not dev_run:  # Clara made MMAR_EVAL_OUTPUT_PATH first; custom/ handlers write there
        paths.eval_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate(network, parts, kwargs)
    is_validate = ctx.settings.task in ("validate", "ensemble") and bool(result["metrics"])
    if rank == 0:
        written = []
        if is_validate and not dev_run:
            written = _write_eval_files(paths, parts.handlers, result)
            for path in written:
                print(f"wrote {path}")
        for label, value in result["metrics"].items():
            print(f"{label}: {value:.4f}")
        print(f"{result['cases']} case(s) {'validated' if is_validate else 'inferred'}")
        folder = paths.run_dir if dev_run else paths.eval_dir
        record = record_run(ctx, folder, config, extra={"metrics": result["metrics"]})
        with tracking_env_kept():
            files = [*map(Path, written), record]
            record_evaluation(built, info, result["metrics"], files, network)
    key = next((m.log_label for m in parts.metrics if m.is_key), None)
    return result["metrics"].get(key) if key else None
