"""MLflow tracking stores on this machine: a SQLite file or a folder, no server process.

- :func:`store_location`: the tracking URI and the artifact folder. ``tracking_uri=`` as given
  (``sqlite:///path.db``, ``file:/path/mlruns`` or a plain folder path), else
  ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<MMAR>/runs/mlflow.db``. A SQLite store keeps
  its artifacts in ``mlartifacts/`` beside the database file (MLflow's own default would be
  the current directory).
- :func:`experiment_id`: the experiment, created with that artifact folder when it is new.
- :func:`parent_run`: the one parent run of a sweep, found by its ``sweep_id`` tag or created,
  so every job of a ``-m`` sweep becomes its child.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = [
    "store_location",
    "experiment_id",
    "parent_run",
    "client",
    "PARENT_ROLE",
    "require_mlflow",
    "tracking_env_kept",
]

PARENT_ROLE = "sweep"  # the mmar_hydra.role tag of a sweep's parent run


def require_mlflow() -> Any:
    """The ``mlflow`` module, or a ConfigError saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "logger=mlflow needs the mlflow package",
            path="logger",
            expected="mlflow installed in this environment",
            fix='pip install -e ".[mlflow]" (or pip install mlflow), or choose another logger',
        ) from None
    return mlflow


def store_location(value: str | None, default_root: Path | None) -> tuple[str, str | None]:
    """(tracking URI, artifact folder URI or None for the store's own default).

    Args:
        value: ``tracking_uri`` as given (None: the environment, else the default).
        default_root: where the default SQLite store lives (``<MMAR>/runs``).
    """
    uri = value or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        if default_root is None:
            raise ConfigError(
                "no MLflow tracking store given",
                path="tracking_uri",
                expected="tracking_uri=sqlite:///path/mlflow.db or a folder, or "
                "$MLFLOW_TRACKING_URI",
                fix="add tracking_uri=sqlite:///<MMAR>/runs/mlflow.db (the training default)",
            )
        uri = f"sqlite:///{Path(default_root).resolve() / 'mlflow.db'}"
    if "://" not in uri and not uri.startswith("file:"):  # a plain folder: a file store
        return Path(uri).expanduser().resolve().as_uri(), None
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        database = database if database.is_absolute() else database.resolve()
        database.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{database}", (database.parent / "mlartifacts").as_uri()
    if uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"tracking_uri={uri} is a tracking server",
            path="tracking_uri",
            expected="a store on this machine: sqlite:///path/mlflow.db or a folder",
            fix="mmar_hydra writes to local stores only; point tracking_uri at a SQLite file "
            "and serve it with `mlflow ui --backend-store-uri sqlite:///...` if you like",
        )
    return uri, None


def client(uri: str) -> Any:
    """An ``MlflowClient`` of the store ``uri``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in logs
    mlflow = require_mlflow()
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def experiment_id(mlflow_client: Any, name: str, artifact_root: str | None) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifact_root``) if new."""
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return str(mlflow_client.create_experiment(name, artifact_location=location))


def parent_run(mlflow_client: Any, experiment: str, sweep_id: str, *, create: bool = True) -> str:
    """The run id of the sweep's parent run (created, named after the sweep folder, if none)."""
    runs = mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`mmar_hydra.sweep_id` = '{sweep_id}' "
        f"and tags.`mmar_hydra.role` = '{PARENT_ROLE}'",
        max_results=1,
    )
    if runs:
        return str(runs[0].info.run_id)
    if not create:
        return ""
    run = mlflow_client.create_run(
        experiment,
        run_name=Path(sweep_id).name,
        tags={"mmar_hydra.sweep_id": sweep_id, "mmar_hydra.role": PARENT_ROLE},
    )
    return str(run.info.run_id)


@contextmanager
def tracking_env_kept() -> Iterator[None]:
    """Undo what Lightning's MLFlowLogger does to the process: ``mlflow.set_tracking_uri``
    sets ``$MLFLOW_TRACKING_URI``, which would become the default store of every later run of
    this process (notebooks, tests, in-process callers)."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        yield
    finally:
        if "mlflow" in sys.modules:
            sys.modules["mlflow"].set_tracking_uri(saved)
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
