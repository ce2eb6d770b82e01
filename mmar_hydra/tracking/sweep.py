"""A Hydra callback: one MLflow parent run per ``-m`` sweep, made before any job starts.

With ``logger=mlflow`` (or a list holding it), the parent is created in the launching
process, so parallel launchers' jobs all find the same one (:func:`.mlflow_store.parent_run`);
a job that finds none makes it. When the sweep ends the parent is marked finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from mmar_hydra.hydra_config import runs_dir
from mmar_hydra.tracking.info import logger_spec
from mmar_hydra.tracking.mlflow_store import client, experiment_id, parent_run, store_location

__all__ = ["SweepTracking"]


def _mlflow_target(config: Any) -> tuple[str, str | None, str, str] | None:
    """(uri, artifact root, experiment name, sweep id) when the sweep logs to MLflow."""

    try:
        spec = logger_spec(config)
    except Exception:  # noqa: BLE001 - unresolvable here (e.g. a swept value): the jobs decide
        return None
    if "mlflow" not in spec or not config.get("mmar"):
        return None
    args = spec["mlflow"]
    mmar = Path(str(config.mmar)).resolve()
    uri, artifacts = store_location(args.get("tracking_uri"), Path(runs_dir(mmar)))
    name = args.get("experiment_name") or mmar.name
    return uri, artifacts, name, str(Path(str(config.hydra.sweep.dir)).resolve())


class SweepTracking(Callback):
    """Makes the sweep's parent run at the start; marks it finished at the end."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _parent(config, create=True)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        found = _parent(config, create=False)
        if found is not None and found[1]:
            found[0].set_terminated(found[1], "FINISHED")


def _parent(config: Any, *, create: bool) -> tuple[Any, str | None] | None:
    """(the store's client, the sweep's parent run id) when the sweep logs to MLflow."""

    target = _mlflow_target(config)
    if target is None:
        return None
    uri, artifacts, name, sweep = target
    store = client(uri)
    return store, parent_run(store, experiment_id(store, name, artifacts), sweep, create=create)
