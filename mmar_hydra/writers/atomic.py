"""Atomic file writes: a kill or a full disk leaves the old file or the new one, never half.

Write to a temp file in the same folder, flush, fsync, ``os.replace``, fsync the folder.
On failure the temp file is removed and the old file stays as it was.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CheckpointError
from mmar_hydra.writers.diskspace import check_free_space

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_torch_save", "ensure_writable_dir"]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some filesystems refuse
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _explain(exc: OSError, path: Path) -> CheckpointError:
    if exc.errno == errno.ENOSPC:
        what, fix = "the disk is full", "free disk space, or point MMAR_CKPT_DIR at another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what, fix = (
            "the folder is not writable",
            "fix its permissions, or set MMAR_CKPT_DIR / MMAR_EVAL_OUTPUT_PATH to a writable folder inside the MMAR",
        )
    else:
        what, fix = f"{exc.strerror or exc}", "check the folder and the disk"
    return CheckpointError(
        f"cannot write {path.name}: {what}",
        file=path,
        expected="a writable folder with free space",
        fix=fix + " (the previous file, if any, is unchanged)",
    )


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise _explain(exc, path) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write_bytes`."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    check_free_space(Path(path), buffer.tell())
    atomic_write_bytes(path, buffer.getvalue())


def ensure_writable_dir(path: str | Path, *, what: str = "MMAR_CKPT_DIR") -> Path:
    """Create ``path`` and prove it takes a file, before hours of training depend on it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise CheckpointError(
            f"{what} is not a writable folder: {exc.strerror or exc}",
            file=path,
            path=what,
            expected="a folder inside the MMAR that this user can write",
            fix=f"set {what} to a writable folder (e.g. {what}=models/run2) or fix its permissions",
        ) from None
    return path
