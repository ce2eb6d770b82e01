"""Defer heavy optional packages that ``import monai`` pulls in but an MMAR run never uses.

``monai/__init__.py`` imports every MONAI subpackage, and several of them ``optional_import``
packages for features MMARs do not use: ``matplotlib.pyplot`` (plots in
``monai.visualize``, the LR finder) and ``optuna`` (``monai.apps.auto3dseg``'s search). They
cost about 1 s of every start-up on this machine, and optuna's alembic logs INFO lines.

:func:`defer` installs an import finder that answers an ``import`` of those packages with a
:class:`DeferredModule`: a module object that knows where the package lives but runs none of
its code until an attribute it does not have is asked for. Then the real package is imported
and the stand-in delegates to it, so a caller that does use them (``task=compare``'s plots,
the Optuna sweeper) sees no difference. Only the process entry point (``cli.entry``) calls it;
in-process callers keep Python's import behaviour.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

__all__ = ["DEFERRED", "DeferredModule", "defer", "is_deferred", "loaded"]

DEFERRED: tuple[str, ...] = ("matplotlib", "optuna")


def _root(name: str) -> str:
    return name.split(".", 1)[0]


class DeferredModule(types.ModuleType):
    """A module whose code runs on first use (see the module docstring)."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__file__ = spec.origin
        self.__loader__ = spec.loader
        if spec.submodule_search_locations is not None:
            self.__path__ = list(spec.submodule_search_locations)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            if attr in ("__version__", "__all__", "__dict__"):
                return getattr(_real(self.__name__), attr)
            raise AttributeError(attr)
        child = f"{self.__name__}.{attr}"
        if hasattr(self, "__path__") and _FINDER.covers(child) and _spec(child) is not None:
            return importlib.import_module(child)  # a submodule: deferred as well
        return getattr(_real(self.__name__), attr)

    def __dir__(self) -> list[str]:
        return dir(_real(self.__name__))


def _spec(name: str) -> importlib.machinery.ModuleSpec | None:
    parent = sys.modules.get(name.rpartition(".")[0]) if "." in name else None
    path = getattr(parent, "__path__", None) if parent is not None else None
    return importlib.machinery.PathFinder.find_spec(name, path)


def _real(name: str) -> types.ModuleType:
    """Import ``name`` for real: the whole package tree stops being deferred first."""
    root = _root(name)
    _FINDER.roots.discard(root)
    for key in [k for k in sys.modules if _root(k) == root]:
        if isinstance(sys.modules[key], DeferredModule):
            del sys.modules[key]
    return importlib.import_module(name)


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.machinery.ModuleSpec) -> None:
        self.real = real  # where the package really is

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return DeferredModule(self.real)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing runs now: that is the point."""


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.roots: set[str] = set()

    def covers(self, name: str) -> bool:
        return _root(name) in self.roots

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        real = _spec(name) if self.covers(name) else None
        if real is None:
            return None  # not deferred, or not installed: the normal import (and its error)
        package = real.submodule_search_locations is not None
        return importlib.util.spec_from_loader(name, _Loader(real), is_package=package)


_FINDER = _Finder()


def defer(packages: tuple[str, ...] = DEFERRED) -> None:
    """Defer ``packages`` for the rest of the process (those not imported yet)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _FINDER.roots.update(p for p in packages if p not in sys.modules)


def is_deferred(name: str) -> bool:
    """``name`` is in ``sys.modules`` only as a stand-in whose code has not run."""
    return isinstance(sys.modules.get(name), DeferredModule)


def loaded(name: str) -> bool:
    """``name``'s own code has run in this process."""
    return name in sys.modules and not is_deferred(name)
