"""One training run per checkpoint folder: a lock file in MMAR_CKPT_DIR.

The lock holds the pid, host, start time and command of the run. A second ``task=train`` on
the same folder is refused with a message naming the first; a stale lock (its pid is dead on
this host) is taken over with a warning. Sweep jobs train in their own MMAR clones, so they
never meet each other's locks.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmar_hydra.errors import RunLockedError

__all__ = ["LOCK_FILENAME", "run_lock", "pid_alive"]

LOCK_FILENAME = ".mmar_hydra_train.lock"

log = logging.getLogger("mmar_hydra")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"started {holder.get('started', '?')}"
    )


def _create(path: Path, record: dict[str, Any]) -> bool:
    """Create the lock file exclusively; False when it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    return True


def _acquire(path: Path, record: dict[str, Any]) -> None:
    for _ in range(3):  # a takeover races another takeover at most a couple of times
        if _create(path, record):
            return
        holder = _holder(path)
        pid = holder.get("pid")
        stale = holder.get("host") == record["host"] and isinstance(pid, int) and not pid_alive(pid)
        if not holder and path.exists():  # half-written by a run killed while locking
            stale = True
        if not stale:
            raise RunLockedError(
                f"another training run is using this checkpoint folder ({_describe(holder)})",
                file=path,
                expected="one training run per MMAR_CKPT_DIR",
                fix="wait for it to finish, stop it, or train into another folder with "
                "MMAR_CKPT_DIR=models/run2; if that run is gone (another host), delete the lock",
            )
        log.warning("taking over the stale lock %s of a dead run (%s)", path, _describe(holder))
        print(f"warning: taking over the stale lock of a dead run ({_describe(holder)})")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    raise RunLockedError(  # pragma: no cover - three lost races in a row
        "could not take the lock of this checkpoint folder", file=path, fix="try again"
    )


@contextlib.contextmanager
def run_lock(ckpt_dir: str | Path) -> Iterator[Path]:
    """Hold ``ckpt_dir``'s training lock for the duration of the block.

    Args:
        ckpt_dir: the run's MMAR_CKPT_DIR (created if missing).

    Raises:
        RunLockedError: a live run (on this host, or any run on another host) holds it.
    """
    path = Path(ckpt_dir) / LOCK_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }
    _acquire(path, record)
    try:
        yield path
    finally:
        if _holder(path).get("pid") == record["pid"]:
            try:
                path.unlink()
            except OSError as exc:  # pragma: no cover - the folder vanished
                if exc.errno != errno.ENOENT:
                    log.warning("could not remove the lock %s: %s", path, exc)
