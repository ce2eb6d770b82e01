"""Open a shared study: Optuna's RDB storage with heartbeats and retries of stale trials.

A worker records a heartbeat for each trial it runs every ``heartbeat_s`` seconds. A RUNNING
trial whose heartbeat is older than ``grace_s`` belongs to a worker that died (SIGKILL, a lost
node): the next claim marks it FAIL and Optuna's ``RetryFailedTrialCallback`` queues a copy with
the same parameters (WAITING), which the next free worker runs. ``max_retry`` bounds how often.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, first_line

__all__ = [
    "StudySpec",
    "masked",
    "sqlite_url",
    "open_storage",
    "open_study",
    "database_error",
    "retry_callback",
    "driver_url",
]

_SCHEMES = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class StudySpec:
    """Where the study lives and how its workers watch each other.

    Args:
        url: the SQLAlchemy URL, ``sqlite:///path.db`` or ``postgresql://user:pw@host/db``.
        name: the study's name in that database.
        direction: ``maximize`` (a key metric such as Dice) or ``minimize``.
        heartbeat_s: seconds between a running trial's heartbeats.
        grace_s: a running trial without a heartbeat for this long is failed and retried.
        max_retry: how often one trial is retried after its worker died.
        poll_s: how often an idle worker looks for re-queued trials while others run.
    """

    url: str
    name: str
    direction: str = "maximize"
    heartbeat_s: int = 10
    grace_s: int = 60
    max_retry: int = 2
    poll_s: float = 2.0

    def __post_init__(self) -> None:
        scheme = self.url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _SCHEMES:
            raise ConfigError(
                f"the study storage {masked(self.url)!r} is no database URL mmar_hydra can share",
                path="storage",
                expected="sqlite:///path/to/study.db or postgresql://user:password@host:5432/db",
            )
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(
                f"direction={self.direction!r}",
                path="direction",
                expected="maximize or minimize",
            )
        if not 0 < self.heartbeat_s < self.grace_s:
            raise ConfigError(
                f"heartbeat {self.heartbeat_s} s, grace period {self.grace_s} s",
                path="grace_s",
                expected="0 < heartbeat_s < grace_s (a live worker must beat within the grace)",
            )

    @property
    def scheme(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql``."""
        return self.url.split(":", 1)[0].split("+", 1)[0]


def masked(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def sqlite_url(path: Path) -> str:
    """``sqlite:///`` and the absolute path of ``path``."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed named (psycopg 3, else psycopg2).

    SQLAlchemy's default driver for a bare ``postgresql://`` changed from psycopg2 (2.0) to
    psycopg 3 (2.1); naming the installed one makes either work with either SQLAlchemy.
    """
    import importlib.util

    if not url.startswith("postgresql://"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://" + url.removeprefix("postgresql://")
    return url


def database_error(spec: StudySpec, exc: BaseException) -> ConfigError:
    """A driver or connection failure as a user error that names the storage."""
    text = first_line(exc, 1000)
    if isinstance(exc, ImportError):  # Optuna re-raises the driver's ModuleNotFoundError
        return ConfigError(
            f"the database driver for {spec.scheme} is not installed",
            path="storage",
            expected=f"a Python driver for {masked(spec.url)}",
            fix="pip install 'mmar-hydra[cluster]' (psycopg for postgresql://)",
        )
    return ConfigError(
        f"cannot use the study storage {masked(spec.url)}: {text[:300]}",
        path="storage",
        expected="a database server that is up and reachable, and a user that may create tables",
        fix="check the host, port, user and password in the URL (psql URL works?), "
        "or use sqlite:///PATH.db on one machine",
    )


def retry_callback() -> Any:
    """Optuna's class that re-queues a stale trial (renamed in Optuna 4.9)."""
    from optuna import storages

    return (
        getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
        or storages.RetryFailedTrialCallback
    )


def _callback_arg() -> str:
    import inspect

    from optuna.storages import RDBStorage

    new = "heartbeat_stale_trial_callback"
    return new if new in inspect.signature(RDBStorage).parameters else "failed_trial_callback"


def open_storage(spec: StudySpec) -> Any:
    """Optuna's ``RDBStorage`` for ``spec``, with heartbeats and the retry callback."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # heartbeats are meant for study.optimize(); workers here record them themselves
    warnings.filterwarnings("ignore", message=".*Heartbeat.*", module="optuna")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if spec.scheme == "sqlite":  # several processes write one file: wait for its lock
        engine["connect_args"] = {"timeout": 60}
    try:
        return RDBStorage(
            driver_url(spec.url),
            engine_kwargs=engine,
            heartbeat_interval=spec.heartbeat_s,
            grace_period=spec.grace_s,
            **{_callback_arg(): retry_callback()(max_retry=spec.max_retry)},
        )
    except Exception as exc:  # noqa: BLE001 - no driver; SQLAlchemy's: unreachable, refused...
        raise database_error(spec, exc) from None


def open_study(spec: StudySpec, storage: Any, sampler: Any = None) -> Any:
    """The study named ``spec.name`` in ``storage``, created by the first worker."""
    import optuna

    direction: dict[str, Any] = {"direction": spec.direction}  # checked; Optuna wants a Literal
    try:
        return optuna.create_study(
            study_name=spec.name,
            storage=storage,
            sampler=sampler,
            **direction,
            load_if_exists=True,
        )
    except ValueError as exc:  # an existing study with another direction
        raise ConfigError(
            f"study {spec.name!r} in {masked(spec.url)}: {exc}",
            path="study_name",
            expected=f"a new study name, or the {spec.direction} study of the same search",
        ) from None
