"""Component ``name`` / ``path`` -> the class (or function) to build.

Clara resolved short names against MONAI, torch and torchvision; MONAI also exports aliases
(``ToTensorD``, ``ToTensorDict``, ``BasicUnet``) as module attributes. A fully qualified name
may point into those libraries, except the few entry points that load or run arbitrary code
(``torch.load``, ``torch.hub``, ``monai.bundle``...). Any other module -- the MMAR's
``custom/`` code above all -- runs code on import, so it needs ``allow_code=true``.

Heavy modules are imported on first use and every lookup is cached: the CLI starts fast and
a config with fifty transforms pays for the search once per name.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mmar_hydra.errors import CodeNotAllowedError, ComponentError, json_path

__all__ = ["resolve_class", "known_names", "SEARCH_MODULES", "TRUSTED_PACKAGES"]

# searched in order for a short name; the order settles clashes (monai Identity before torch's)
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

# inside the trusted packages, these load pickles, download or import code named by a string:
# a config may only reach them with allow_code (matched on the written and the defining name)
_CODE_RUNNERS = (
    "torch.load",
    "torch.serialization",
    "torch.hub",
    "torch.package",
    "torch.ops",
    "torch.utils.cpp_extension",
    "torch.jit.load",
    "torch.jit._serialization",
    "torch.multiprocessing",
    "torch.distributed",
    "monai.bundle",
    "monai.utils.module",
    "monai.utils.instantiate",
    "monai.utils.locate",
    "monai.utils.optional_import",
    "monai.apps.utils",
)


@functools.cache
def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:  # torchvision is optional
        return None


@functools.cache
def _lookup(name: str) -> Any:
    for mod_name in SEARCH_MODULES:
        mod = _module(mod_name)
        obj = getattr(mod, name, None) if mod is not None else None
        if obj is not None and callable(obj) and _trusted(_defined_as(obj)):
            return obj
    return None


@functools.cache
def _known() -> tuple[str, ...]:
    names: set[str] = set()
    for mod_name in SEARCH_MODULES:
        mod = _module(mod_name)
        if mod is not None:
            names.update(n for n in dir(mod) if n[:1].isupper())
    return tuple(sorted(names))


def known_names() -> list[str]:
    """Every short class name a component may use (MONAI aliases included)."""
    return list(_known())


def _did_you_mean(target: str, candidates: tuple[str, ...] | list[str]) -> list[str]:
    """Case-insensitive matches first (``Unet`` -> ``UNet``), then close spellings."""
    lower = [n for n in candidates if n.lower() == target.lower()]
    close = difflib.get_close_matches(target, candidates, n=3, cutoff=0.6)
    return list(dict.fromkeys(lower + close))[:3]


def _runs_code(qualified: str) -> bool:
    return any(qualified == p or qualified.startswith(p + ".") for p in _CODE_RUNNERS)


def _trusted(defined: str) -> bool:
    """Defined inside MONAI / torch / torchvision, and not one of their code runners."""
    return defined.split(".", 1)[0] in TRUSTED_PACKAGES and not _runs_code(defined)


def _defined_as(obj: Any) -> str:
    """Where ``obj`` really comes from: ``torch.load`` is ``torch.serialization.load``."""
    if isinstance(obj, ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _walk(qualified: str, *, key: str, where: str, file: str | None) -> Any:
    """Import the longest module prefix of ``qualified``, then follow attributes (``a.B.C``)."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # only "this prefix is not a module" may fall back to a shorter prefix
            if exc.name and (module_name + ".").startswith(exc.name + "."):
                continue
            raise _import_failed(qualified, module_name, exc, key, where, file) from None
        except Exception as exc:  # user code can fail on import in any way
            raise _import_failed(qualified, module_name, exc, key, where, file) from None
        for i, attr in enumerate(parts[cut:], cut):
            nxt = getattr(obj, attr, None)
            if nxt is None:
                names = [n for n in dir(obj) if not n.startswith("_")]
                hints = _did_you_mean(attr, names)
                raise ComponentError(
                    f"'{'.'.join(parts[:i])}' has no '{attr}' (component '{qualified}')",
                    file=file,
                    path=json_path(where, key),
                    expected=f"a class defined in {'.'.join(parts[:i])}",
                    fix=f"did you mean {' or '.join(repr(h) for h in hints)}?"
                    if hints
                    else "check the class name",
                )
            obj = nxt
        return obj
    raise ComponentError(
        f"cannot import '{qualified}': no module '{parts[0]}'",
        file=file,
        path=json_path(where, key),
        expected="an importable module.Class path",
        fix="check the spelling; user modules belong in the MMAR's custom/ folder",
    )


def _import_failed(
    qualified: str, module_name: str, exc: BaseException, key: str, where: str, file: str | None
) -> ComponentError:
    return ComponentError(
        f"importing module '{module_name}' for component '{qualified}' failed: "
        f"{type(exc).__name__}: {exc}",
        file=file,
        path=json_path(where, key),
        expected="a module that imports without errors",
        fix="fix the error above (in the MMAR's custom/ code, or install the missing package)",
    )


def _not_allowed(target: str, key: str, why: str, where: str, file: str | None) -> Exception:
    return CodeNotAllowedError(
        f"component '{target}' {why}",
        file=file,
        path=json_path(where, key),
        expected="MONAI / torch / torchvision classes, unless code is allowed",
        fix="if you trust this MMAR (its custom/ folder included), set allow_code=true "
        "to allow the import",
    )


def _unknown_short(target: str, where: str, file: str | None) -> ComponentError:
    hints = _did_you_mean(target, _known())
    return ComponentError(
        f"unknown component '{target}'",
        file=file,
        path=json_path(where, "name"),
        expected="a MONAI/torch class name (e.g. UNet, DiceLoss, Adam, LoadImaged) "
        "or a fully qualified path",
        fix=f"did you mean {' or '.join(repr(h) for h in hints)}?"
        if hints
        else "check the spelling, or give a fully qualified 'path' (module.Class)",
    )


def resolve_class(
    name: str | None = None,
    path: str | None = None,
    *,
    allow_code: bool = False,
    custom_dir: Path | None = None,
    where: str = "",
    file: str | None = None,
) -> Any:
    """The class (or function) a component names; ``path`` (Clara's user-code key) wins.

    Args:
        name: a short name (``UNet``, ``ToTensorD``) or a fully qualified one.
        path: a fully qualified ``module.Class``, as Clara's custom components gave it.
        allow_code: allow imports outside MONAI / torch / torchvision (the MMAR's custom code).
        custom_dir: put on ``sys.path`` before such an import (Clara's set_env.sh did so).
        where, file: the component's JSON path and config file, for error messages.

    Raises:
        ComponentError: unknown name (with did-you-mean), failed import, missing attribute.
        CodeNotAllowedError: the import would run code and ``allow_code`` is off.
    """
    key = "path" if path else "name"
    target = path or name
    if not target or not isinstance(target, str):
        raise ComponentError(
            "component has neither 'name' nor 'path'",
            file=file,
            path=where or None,
            expected='{"name": "UNet", "args": {...}} or {"path": "module.Class", "args": {...}}',
            fix="add the class name as 'name'",
        )
    target = target.strip()
    if "." not in target:
        obj = _lookup(target)
        if obj is None:
            raise _unknown_short(target, where, file)
        return obj
    root = target.split(".", 1)[0]
    if root in TRUSTED_PACKAGES:
        obj = _walk(target, key=key, where=where, file=file)
        if allow_code:
            return obj
        defined = _defined_as(obj)
        if defined.split(".", 1)[0] not in TRUSTED_PACKAGES:  # e.g. torch.os.system
            why = f"is '{defined}', from outside MONAI / torch / torchvision"
            raise _not_allowed(target, key, why, where, file)
        if _runs_code(target) or not _trusted(defined):
            raise _not_allowed(target, key, "can load or run arbitrary code", where, file)
        return obj
    if not allow_code:
        module_name = target.rpartition(".")[0]
        hint = difflib.get_close_matches(root, TRUSTED_PACKAGES, n=1)
        why = f"would import and run code from module '{module_name}'"
        if hint:
            why += f" (if you meant '{hint[0]}', fix the spelling)"
        raise _not_allowed(target, key, why, where, file)
    if custom_dir is not None and Path(custom_dir).is_dir():
        custom = str(Path(custom_dir).resolve())
        if custom not in sys.path:
            sys.path.insert(0, custom)
        importlib.invalidate_caches()  # custom/ files may have been written after startup
    return _walk(target, key=key, where=where, file=file)
