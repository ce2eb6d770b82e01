"""What the public-corpus tests share: a writable copy of a public MMAR, and CLI runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run_main

__all__ = ["copy_mmar", "run", "ok"]


def copy_mmar(src: Path, dst: Path) -> Path:
    """``src`` copied to ``dst``, made writable (the shared corpus is read-only)."""
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    return dst


def run(*args: str) -> tuple[int, str]:
    """One in-process CLI run: its exit code and stdout + stderr."""
    result = run_main(*args)
    return result.returncode, result.stdout + result.stderr


def ok(*args: str) -> str:
    """A CLI run that must succeed; its output."""
    code, out = run(*args)
    assert code == 0, out[-4000:]
    return out
