"""Read training runs back from an MLflow store: ``task=compare runs=mlflow:EXPERIMENT[/SWEEP]``.

Each run becomes the :class:`~mmar_hydra.runs.collect.RunRecord` its folder would give: the
resolved config and train_stats.json from the run's artifacts, the parameter count from its
params, the learning curves from its metric histories. A sweep's jobs are named by their job
number, as the sweep folder names them, so both tables are the same.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmar_hydra.errors import ConfigError
from mmar_hydra.runs.collect import RunRecord
from mmar_hydra.tracking.mlflow_store import PARENT_ROLE, client

__all__ = ["PREFIX", "is_mlflow_spec", "load_mlflow_runs"]

PREFIX = "mlflow:"
_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}
_TRAINING = ("train", "finetune")


def is_mlflow_spec(runs: Any) -> bool:
    return isinstance(runs, str) and runs.startswith(PREFIX)


def _artifact(client: Any, run_id: str, path: str, folder: str) -> Path | None:
    try:
        return Path(client.download_artifacts(run_id, path, folder))
    except Exception:  # noqa: BLE001 - a run that never stored it (crashed early)
        return None


def _series(client: Any, run_id: str, tags: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """(epoch, value) per logged metric, epochs counted from 1 as the TensorBoard curves."""
    epochs = {m.step: int(m.value) for m in client.get_metric_history(run_id, "epoch")}
    out = {}
    for tag in tags:
        history = sorted(client.get_metric_history(run_id, tag), key=lambda m: m.step)
        if history:
            out[tag] = [(epochs.get(m.step, m.step) + 1, float(m.value)) for m in history]
    return out


def _record(client: Any, run: Any, folder: str) -> RunRecord:

    run_id = run.info.run_id
    tags = run.data.tags
    config_file = _artifact(client, run_id, "config/mmar_hydra_config.yaml", folder)
    stats_file = _artifact(client, run_id, "models/train_stats.json", folder)
    stats = json.loads(stats_file.read_text()) if stats_file else {}
    params = run.data.params.get("model_state_numel")
    metric = stats.get("key_metric_name") or "val_mean_dice"
    return RunRecord(
        name=tags.get("job") or run.info.run_name or run_id,
        root=Path(tags.get("mmar_hydra.write_root") or run.data.params.get("mmar.path", ".")),
        config=_config(config_file),
        stats=stats,
        params=int(params) if params and params.isdigit() else None,
        status=_STATUS.get(run.info.status, "running or stopped"),
        series=_series(client, run_id, (metric, "train_loss_epoch")),
    )


def load_mlflow_runs(spec: str, tracking_uri: str) -> list[RunRecord]:
    """The training runs of ``mlflow:EXPERIMENT`` (or one sweep: ``mlflow:EXPERIMENT/SWEEP``),
    oldest first.

    Args:
        spec: ``mlflow:`` and the experiment's name, optionally ``/`` and a sweep folder name.
        tracking_uri: the store (see :func:`mmar_hydra.tracking.mlflow_store.store_location`).
    """

    name, _, sweep = spec.removeprefix(PREFIX).partition("/")
    store = client(tracking_uri)
    experiment = store.get_experiment_by_name(name)
    if experiment is None:
        known = [e.name for e in store.search_experiments()]
        raise ConfigError(
            f"no MLflow experiment '{name}' in {tracking_uri}",
            path="runs",
            expected="runs=mlflow:EXPERIMENT, one of: " + (", ".join(known) or "(none yet)"),
            fix="check the name and tracking_uri= (the store the runs were logged to)",
        )
    runs = store.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("mmar_hydra.role") == PARENT_ROLE}
    if sweep:
        wanted = {i for i, r in parents.items() if r.info.run_name == sweep}
        runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in wanted]
    runs = [
        r for r in runs if r.info.run_id not in parents and r.data.tags.get("task") in _TRAINING
    ]
    with tempfile.TemporaryDirectory(prefix="mmar_hydra_mlflow_") as folder:
        return [_record(store, run, folder) for run in runs]


def _config(path: Path | None) -> dict[str, Any]:
    """The run's stored resolved config (``mmar_hydra_config.yaml``), or {}."""
    if path is None:
        return {}
    data = OmegaConf.to_container(OmegaConf.load(path))
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else {}
