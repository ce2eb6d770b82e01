"""``task=validate`` and ``task=infer``: run a flat evaluation config on a trained model.

validate: metrics over every case, and MetricsSaver's files (metrics.csv, <label>_raw.csv,
<label>_summary.csv) in MMAR_EVAL_OUTPUT_PATH. infer: predictions only, written by the post
transforms (Invertd back to each input's space, SaveImaged) into the same folder.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.tasks.preflight import checked_config

__all__ = ["run"]


def _metrics_saver(handlers: list[Any]) -> dict[str, Any]:
    return next((dict(h.args) for h in handlers if h.name == "MetricsSaver"), {})


def _write_eval_files(
    ctx: TaskContext, config: dict[str, Any], handlers: list[Any], result: dict
) -> list:
    from mmar_hydra.mmar.layout import resolve_inside
    from mmar_hydra.writers.eval_csv import write_metric_files

    saver = _metrics_saver(handlers)
    save_dir = resolve_inside(
        ctx.mmar_root,
        saver.get("save_dir", config.get("MMAR_EVAL_OUTPUT_PATH", "eval")),
        where="MetricsSaver.args.save_dir",
    )
    wanted = saver.get("metrics", "*")
    detail = saver.get("metric_details", "*")

    def pick(names: Any, mapping: dict) -> dict:
        if names in ("*", None) or names == ["*"]:
            return dict(mapping)
        names = [names] if isinstance(names, str) else list(names)
        return {k: v for k, v in mapping.items() if k in names}

    return write_metric_files(
        save_dir,
        pick(wanted, result["metrics"]),
        pick(detail, result["details"]),
        summary_ops=saver.get("summary_ops", "*"),
    )


def run(ctx: TaskContext) -> float | None:
    from mmar_hydra.components.builder import build_eval
    from mmar_hydra.engine.evaluation import evaluate
    from mmar_hydra.engine.trainer import distributed_layout, trainer_kwargs
    from mmar_hydra.tasks.ensemble import ensemble_network, wants_ensemble
    from mmar_hydra.tasks.model_loading import load_eval_network
    from mmar_hydra.tasks.train import trainer_overrides

    read = ctx.read
    assert read is not None
    config = checked_config(ctx, "flat")
    kwargs, notes = trainer_kwargs(config, trainer_overrides(ctx))
    rank, world_size = distributed_layout(kwargs)
    say = print if rank == 0 else (lambda *_: None)
    for note in notes:
        say(f"trainer: {note}")
    parts = build_eval(
        config, mmar_root=ctx.mmar_root, allow_code=ctx.allow_code, rank=rank, world_size=world_size
    )
    if wants_ensemble(ctx):  # models=[...], cv_dir=..., tta=flip or task=ensemble
        network = ensemble_network(ctx, parts, say)
    else:
        network = load_eval_network(
            parts.model, parts.handlers, mmar_root=ctx.mmar_root, allow_code=ctx.allow_code, say=say
        )
    result = evaluate(network, parts, kwargs)
    is_validate = ctx.cfg.task in ("validate", "ensemble") and bool(result["metrics"])
    if rank == 0:
        if is_validate:
            for path in _write_eval_files(ctx, config, parts.handlers, result):
                print(f"wrote {path}")
        for label, value in result["metrics"].items():
            print(f"{label}: {value:.4f}")
        print(f"{result['cases']} case(s) {'validated' if is_validate else 'inferred'}")
    key = next((m.log_label for m in parts.metrics if m.is_key), None)
    return result["metrics"].get(key) if key else None
