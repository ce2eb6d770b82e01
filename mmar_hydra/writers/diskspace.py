"""Free space against a checkpoint's size, checked before it is written.

A checkpoint is serialized in memory first, so its exact size is known before a byte reaches
the disk. Less than twice that size free: a warning (the next save may not fit); less than
once: the save stops with a clear error and the previous file stays as it was.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from mmar_hydra.errors import CheckpointError

__all__ = ["check_free_space", "free_bytes", "WARN_FACTOR"]

#: warn when less than this many times the checkpoint's size is free
WARN_FACTOR = 2.0

log = logging.getLogger("mmar_hydra")


def free_bytes(folder: Path) -> int:
    """Bytes free for this user on the filesystem of ``folder`` (or its nearest parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def check_free_space(path: Path, size: int) -> None:
    """Stop before writing ``size`` bytes to ``path`` when they do not fit; warn when tight.

    Args:
        path: the file about to be written.
        size: its size in bytes.

    Raises:
        CheckpointError: less than ``size`` bytes are free.
    """
    free = free_bytes(path.parent)
    if free < size:
        raise CheckpointError(
            f"cannot write {path.name}: the disk is full ({_mb(free)} free, "
            f"the file needs {_mb(size)})",
            file=path,
            expected=f"at least {_mb(size)} free (warned below {_mb(WARN_FACTOR * size)})",
            fix="free disk space, or point MMAR_CKPT_DIR at another disk, then resume with "
            "resume=auto (the previous file, if any, is unchanged)",
        )
    if free < WARN_FACTOR * size:
        message = f"low disk space for {path.name}: {_mb(free)} free, each save needs {_mb(size)}"
        log.warning(message)
        print(f"warning: {message}")
