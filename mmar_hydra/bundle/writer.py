"""The bundle folder, written all or nothing.

Everything is written into a temporary sibling folder and renamed into place at the end, so
a failure leaves no half-written bundle (and ``force=true`` replaces an old one only once the
new one is complete). Weights are saved as a bare state dict, as the model zoo ships them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError
from mmar_hydra.writers.atomic import atomic_torch_save, atomic_write_text

__all__ = ["BundleWriter", "SCRIPTS_INIT"]

SCRIPTS_INIT = '''"""The MMAR's custom/ code (copied by mmar_hydra).

Clara put custom/ on the Python path, so its modules import each other by their top-level
names; this folder is put on the path the same way.
"""

import os as _os
import sys as _sys

_HERE = _os.path.dirname(_os.path.abspath(__file__))
if _HERE not in _sys.path:
    _sys.path.insert(0, _HERE)
'''


class BundleWriter:
    """Collects the bundle's files in a temporary folder; ``commit()`` moves it to ``out``.

    Args:
        out: the bundle folder to create.
        force: replace an existing, non-empty ``out``.
    """

    def __init__(self, out: Path, *, force: bool = False) -> None:
        self.out = out.expanduser().resolve()
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())) and not force:
            raise ConfigError(
                "the bundle folder exists and is not empty",
                file=self.out,
                path="out",
                expected="a new or empty folder",
                fix="pick another out= or add force=true to replace it",
            )
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        self.files: list[str] = []

    def path(self, rel: str) -> Path:
        return self.tmp / rel

    def json(self, rel: str, data: Mapping[str, Any]) -> None:
        self.text(rel, json.dumps(data, indent=4) + "\n")

    def text(self, rel: str, text: str) -> None:
        atomic_write_text(self.path(rel), text)
        self.files.append(rel)

    def weights(self, rel: str, state_dict: Mapping[str, Any]) -> None:
        atomic_torch_save(dict(state_dict), self.path(rel))
        self.files.append(rel)

    def copy(self, src: Path, rel: str) -> None:
        dst = self.path(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        self.files.append(rel)

    def scripts(self, custom: Path) -> list[str]:
        """custom/ -> scripts/ (caches left out), with the path-setting ``__init__.py``."""
        target = self.path("scripts")
        shutil.copytree(custom, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        init = target / "__init__.py"
        original = init.read_text() if init.is_file() else ""
        init.write_text(SCRIPTS_INIT + ("\n" + original if original.strip() else ""))
        copied = sorted(str(p.relative_to(self.tmp)) for p in target.rglob("*") if p.is_file())
        self.files += copied
        return copied

    def commit(self) -> Path:
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{self.tmp.name[-8:]}")
            self.out.rename(old)
        self.tmp.rename(self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
