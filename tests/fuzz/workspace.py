"""One case's folders: a fresh copy of the seed MMAR beside folders it must not touch.

::

    <work>/canary/            payloads create files here if they ever run (must stay empty)
    <work>/case/              the watched tree, made afresh for every case
        mmar/                 the seed MMAR, copied (symlinks kept as symlinks)
        outside/              a sentinel, modules that create the canary when imported,
                              targets of the hostile symlinks
        cwd/                  the working directory of the run (also holds an evil module)
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from fuzz.payloads import evil_module

__all__ = ["Ex", "prepare", "wipe"]


@dataclass(frozen=True)
class Ex:
    """The folders of one case (see the module docstring)."""

    root: Path
    mmar: Path
    outside: Path
    cwd: Path
    canary: Path

    def canary_file(self, tag: str) -> Path:
        return self.canary / tag


def wipe(path: Path) -> None:
    """Remove ``path`` entirely, symlinks as links (never their targets)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        for p in path.iterdir():
            if p.is_dir() and not p.is_symlink():
                wipe(p)
            else:
                p.unlink()
        # a hostile case may have made folders read-only
        os.chmod(path, 0o700)
        path.rmdir()


def prepare(work: Path, seed_root: Path) -> Ex:
    """A fresh case folder under ``work`` holding a copy of ``seed_root``."""
    root = work / "case"
    if root.exists() or root.is_symlink():
        wipe(root)
    canary = work / "canary"
    canary.mkdir(parents=True, exist_ok=True)
    ex = Ex(root, root / "mmar", root / "outside", root / "cwd", canary)
    shutil.copytree(seed_root, ex.mmar, symlinks=True)
    ex.outside.mkdir()
    ex.cwd.mkdir()
    (ex.outside / "sentinel").mkdir()
    (ex.outside / "sentinel" / "keep.txt").write_text("the oracle watches this file\n")
    module = evil_module(ex.canary_file("imported"))
    for folder in (ex.outside, ex.cwd):
        (folder / "evil_outside.py").write_text(module)
    custom = ex.mmar / "custom"
    custom.mkdir(exist_ok=True)
    (custom / "evil_custom.py").write_text(module)
    return ex
