"""Component ``name`` / ``path`` -> the class to build.

Clara resolved short names against MONAI, torch and torchvision; MONAI also exports aliases
(``ToTensorD``, ``ToTensorDict``, ``BasicUnet``) as module attributes. A fully qualified name
may point anywhere inside those libraries. What may be *built* is decided by the allowlist of
:mod:`components.trust`: without ``allow_code=true`` only classes from the packages Clara
MMARs use. A module outside MONAI / torch / torchvision / ignite -- the MMAR's ``custom/``
code above all -- runs code on import, so it is not even imported without ``allow_code``.

Heavy modules are imported on first use and every lookup is cached: the CLI starts fast and
a config with fifty transforms pays for the search once per name.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from mmar_hydra.components.custom_compat import custom_imports
from mmar_hydra.components.trust import TRUSTED_ROOTS, allowed_package, check_trusted, refusal
from mmar_hydra.errors import ComponentError, json_path

__all__ = ["resolve_class", "known_names", "SEARCH_MODULES"]

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


@functools.cache
def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - torchvision is optional, and its CUDA wheel raises
        return None  # RuntimeError beside a CPU-only torch


@functools.cache
def _lookup(name: str) -> Any:
    """The first allowlisted class called ``name`` in the search modules, else None."""
    for mod_name in SEARCH_MODULES:
        mod = _module(mod_name)
        obj = getattr(mod, name, None) if mod is not None else None
        if inspect.isclass(obj) and allowed_package(obj.__module__) is not None:
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
    """The class a component names; ``path`` (Clara's user-code key) wins.

    Args:
        name: a short name (``UNet``, ``ToTensorD``) or a fully qualified one.
        path: a fully qualified ``module.Class``, as Clara's custom components gave it.
        allow_code: trust the MMAR: any importable object, custom/ code included.
        custom_dir: put on ``sys.path`` before such an import (Clara's set_env.sh did so).
        where, file: the component's JSON path and config file, for error messages.

    Raises:
        ComponentError: unknown name (with did-you-mean), failed import, missing attribute.
        CodeNotAllowedError: without ``allow_code``, the target is not an allowlisted class
            (a function, a class from another package) or would import outside the libraries.
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
    if root in TRUSTED_ROOTS:  # library code: importing it runs nothing the config chose
        obj = _walk(target, key=key, where=where, file=file)
        if not allow_code:
            check_trusted(obj, target, key=key, where=where, file=file)
        return obj
    if not allow_code:
        module_name = target.rpartition(".")[0]
        hint = difflib.get_close_matches(root, TRUSTED_ROOTS, n=1)
        why = f"would import and run code from module '{module_name}'"
        if hint:
            why += f" (if you meant '{hint[0]}', fix the spelling)"
        raise refusal(target, why, key=key, where=where, file=file)
    if custom_dir is not None and Path(custom_dir).is_dir():
        custom = str(Path(custom_dir).resolve())
        if custom not in sys.path:
            sys.path.insert(0, custom)
        importlib.invalidate_caches()  # custom/ files may have been written after startup
        # custom/ code was written for the MONAI of its day: its moved imports are rewritten
        # while it loads (components.custom_compat), with one compat note per alias used
        with custom_imports(Path(custom_dir)):
            return _walk(target, key=key, where=where, file=file)
    return _walk(target, key=key, where=where, file=file)
