"""One case's folders: a fresh copy of the seed MMAR beside folders it must not touch.

::

    <work>/canary/            payloads create files here if they ever run (must stay empty)
    <work>/case/              the watched tree, made afresh for every case
        mmar/                 the seed MMAR, copied (symlinks kept as symlinks; data/ files
                              hard-linked: a case replaces a file, never writes into it)
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

__all__ = ["Ex", "prepare", "wipe", "replace_file"]


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


def replace_file(path: Path, content: str | bytes) -> None:
    """Write ``path`` as a new file (a hard link to the seed's is unlinked, never written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")


def _copy_or_link(src: str, dst: str) -> str:
    """Images are hard-linked (a copy of 1.3 MB per case cost 0.15 s), the rest is copied."""
    if f"{os.sep}data{os.sep}" in src:
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)
    return dst


def prepare(work: Path, seed_root: Path) -> Ex:
    """A fresh case folder under ``work`` holding a copy of ``seed_root``."""
    root = work / "case"
    if root.exists() or root.is_symlink():
        wipe(root)
    canary = work / "canary"
    canary.mkdir(parents=True, exist_ok=True)
    ex = Ex(root, root / "mmar", root / "outside", root / "cwd", canary)
    shutil.copytree(seed_root, ex.mmar, symlinks=True, copy_function=_copy_or_link)
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
