"""How one sweep job ended: ``<job folder>/job.json``, written by the job, read by the summary.

Under ``-m`` a job that fails does not stop the sweep (see :mod:`mmar_hydra.job`); this small
record is how the sweep summary learns that it failed and why, whichever launcher ran it
(in-process, joblib, submitit): ``{"status": "finished" | "failed", "error": one line,
"exit_code": N, "overrides": [...]}`` (the overrides too, since tasks that write no run folder
have no ``.hydra/overrides.yaml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ErrorGroup, MMARError
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["OUTCOME_FILE", "write_outcome", "read_outcome", "one_line"]

OUTCOME_FILE = "job.json"


def one_line(error: BaseException) -> str:
    """The error in one line: ``kind: what (where)`` for user errors, ``Type: message`` else.

    A group of problems (``task=check``) is its first problem, and how many more there are.
    """
    if isinstance(error, ErrorGroup) and error.errors:
        more = len(error.errors) - 1
        return one_line(error.errors[0]) + (f" (and {more} more)" if more else "")
    if isinstance(error, MMARError):
        where = error.where()
        return f"{error.kind}: {error.what}" + (f" ({where})" if where else "")
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def write_outcome(
    job_dir: Path,
    *,
    status: str,
    error: str | None = None,
    exit_code: int = 0,
    overrides: list[str] | None = None,
) -> Path:
    """Record how the job in ``job_dir`` ended.

    Args:
        job_dir: the job's Hydra output folder (``<sweep dir>/<job number>``).
        status: ``finished`` or ``failed``.
        error: the one-line message of a failure.
        exit_code: the exit code a single run would have had.
        overrides: the job's own overrides.
    """
    path = Path(job_dir) / OUTCOME_FILE
    record = {
        "status": status,
        "error": error,
        "exit_code": exit_code,
        "overrides": list(overrides or []),
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def read_outcome(job_dir: Path) -> dict[str, Any] | None:
    """The record of ``job_dir``, or ``None`` when the job wrote none (or it is unreadable)."""
    path = Path(job_dir) / OUTCOME_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
