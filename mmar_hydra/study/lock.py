"""The one cross-process lock of a shared study: held while a worker claims a trial.

A claim reads how many trials the study has and creates one more; two workers doing that at
once would both see room for "the last one". The lock lives where the study lives, so it
works across machines exactly as far as the storage does, and a killed worker never leaves it
held:

- SQLite: ``flock`` on ``<database>.lock`` beside the file (released by the kernel when the
  process dies);
- PostgreSQL: a session advisory lock (``pg_advisory_lock``), released when the connection
  closes;
- MySQL: ``GET_LOCK``, released the same way.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from mmar_hydra.study.storage import StudySpec, database_error, driver_url

__all__ = ["StudyLock", "lock_key"]


def lock_key(name: str) -> int:
    """A stable signed 63-bit key for ``name`` (PostgreSQL's advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def _sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for an in-memory database)."""
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest)


class StudyLock:
    """A reusable, blocking, cross-process lock for one study.

    Args:
        spec: the study (its URL says which kind of lock).
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self._thread_lock = threading.Lock()
        self._file: Any = None
        self._engine: Any = None
        self._conn: Any = None

    def __enter__(self) -> StudyLock:
        self._thread_lock.acquire()
        try:
            if self.spec.scheme == "sqlite":
                self._lock_file()
            else:
                self._lock_database()
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._file is not None:
                import fcntl

                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
                self._file = None
            if self._conn is not None:
                self._unlock_database()
        finally:
            self._thread_lock.release()

    def _lock_file(self) -> None:
        import fcntl

        path = _sqlite_path(self.spec.url)
        if path is None:
            return  # an in-memory database lives in this process: the thread lock is enough
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 - held
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def _statements(self) -> tuple[str, str]:
        if self.spec.scheme == "postgresql":
            return "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
        return "SELECT GET_LOCK(:n, -1)", "SELECT RELEASE_LOCK(:n)"

    def _lock_database(self) -> None:
        from sqlalchemy import create_engine, text

        try:
            if self._engine is None:
                self._engine = create_engine(driver_url(self.spec.url), pool_pre_ping=True)
            self._conn = self._engine.connect()
            key = {"k": lock_key(f"mmar_hydra:{self.spec.name}"), "n": self.spec.name[:64]}
            self._conn.execute(text(self._statements()[0]), key)
            self._conn.commit()
        except Exception as exc:  # noqa: BLE001 - no driver, unreachable server, refused login...
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise database_error(self.spec, exc) from None

    def _unlock_database(self) -> None:
        from sqlalchemy import text

        key = {"k": lock_key(f"mmar_hydra:{self.spec.name}"), "n": self.spec.name[:64]}
        try:
            self._conn.execute(text(self._statements()[1]), key)
            self._conn.commit()
        finally:
            self._conn.close()  # closing the session releases the lock in any case
            self._conn = None
