"""Component ``name`` / ``path`` -> the class (or function) to build.

Clara resolved short names against MONAI, torch and torchvision; MONAI also exports aliases
(``ToTensorD``, ``BasicUnet``) as module attributes. A fully qualified name may point into
those libraries freely. Any other module -- the MMAR's ``custom/`` code above all -- runs
code on import, so it needs ``allow_code=true``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import sys
from pathlib import Path
from typing import Any

from mmar_hydra.errors import CodeNotAllowedError, ComponentError

__all__ = ["resolve_class", "known_names", "SEARCH_MODULES", "TRUSTED_PACKAGES"]

# searched in order for a short name
SEARCH_MODULES: tuple[str, ...] = (
    "monai.transforms",
    "monai.networks.nets",
    "monai.losses",
    "monai.inferers",
    "monai.data",
    "monai.optimizers",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.nn",
    "monai.metrics",
    "torchvision.models",
    "torchvision.transforms",
)
TRUSTED_PACKAGES = ("monai", "torch", "torchvision")


@functools.cache
def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _lookup(name: str) -> Any:
    for mod_name in SEARCH_MODULES:
        mod = _module(mod_name)
        obj = getattr(mod, name, None) if mod is not None else None
        if obj is not None and callable(obj):
            return obj
    return None


@functools.lru_cache(maxsize=1)
def _known() -> tuple[str, ...]:
    names: set[str] = set()
    for mod_name in SEARCH_MODULES:
        mod = _module(mod_name)
        if mod is not None:
            names.update(n for n in dir(mod) if n[:1].isupper())
    return tuple(sorted(names))


def known_names() -> list[str]:
    """Every short class name a component may use."""
    return list(_known())


def _import_qualified(qualified: str, *, where: str, file: str | None) -> Any:
    module_name, _, attr = qualified.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ComponentError(
            f"cannot import module '{module_name}' for component '{qualified}': {exc}",
            file=file,
            path=where,
            expected="an importable module.Class path",
            fix="check the spelling, or put the module in the MMAR's custom/ folder",
        ) from None
    obj = getattr(module, attr, None)
    if obj is None:
        close = difflib.get_close_matches(attr, [n for n in dir(module) if n[:1].isupper()], n=3)
        raise ComponentError(
            f"module '{module_name}' has no '{attr}'",
            file=file,
            path=where,
            expected=f"a class defined in {module_name}",
            fix=f"did you mean {', '.join(close)}?" if close else "check the class name",
        )
    return obj


def resolve_class(
    name: str | None = None,
    path: str | None = None,
    *,
    allow_code: bool = False,
    custom_dir: Path | None = None,
    where: str = "",
    file: str | None = None,
) -> Any:
    """The class a component names; ``path`` (Clara's user-code key) wins over ``name``."""
    target = path or name
    if not target or not isinstance(target, str):
        raise ComponentError(
            "component has neither 'name' nor 'path'",
            file=file,
            path=where,
            expected='{"name": "UNet", "args": {...}} or {"path": "module.Class", ...}',
        )
    if "." not in target:
        obj = _lookup(target)
        if obj is not None:
            return obj
        close = difflib.get_close_matches(target, _known(), n=3, cutoff=0.6)
        lower = [n for n in _known() if n.lower() == target.lower()]
        hints = list(dict.fromkeys(lower + close))
        raise ComponentError(
            f"unknown component '{target}'",
            file=file,
            path=json_name(where),
            expected="a MONAI / torch class name (e.g. UNet, DiceLoss, Adam, LoadImaged) "
            "or a fully qualified path",
            fix=f"did you mean {' or '.join(repr(h) for h in hints)}?"
            if hints
            else "check the spelling or give a fully qualified name with 'path'",
        )
    if target.split(".", 1)[0] in TRUSTED_PACKAGES:
        return _import_qualified(target, where=where, file=file)
    if not allow_code:
        raise CodeNotAllowedError(
            f"component '{target}' would import and run code from module "
            f"'{target.rpartition('.')[0]}'",
            file=file,
            path=where,
            expected="MONAI / torch / torchvision components only, unless code is allowed",
            fix="if you trust this MMAR (its custom/ folder included), add allow_code=true",
        )
    if custom_dir is not None and custom_dir.is_dir() and str(custom_dir) not in sys.path:
        sys.path.insert(0, str(custom_dir))
    return _import_qualified(target, where=where, file=file)


def json_name(where: str) -> str:
    return f"{where}.name" if where else "name"
