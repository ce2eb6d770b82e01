"""The MMAR's custom/ code, imported as the MONAI of its day spelled its imports.

Custom code was written against the MONAI that Clara shipped (0.4 to 0.8). Since then MONAI
moved or removed names it imports: ``from monai.transforms.compose import MapTransform``
(now in ``monai.transforms.transform``), ``from monai.metrics import compute_meandice`` (now
``compute_dice``). While the registry imports an MMAR's ``custom/`` modules,
:func:`custom_imports` puts a finder in front of ``sys.meta_path`` that claims only the
modules whose files lie in that ``custom/`` folder. It compiles them from source with the
``from X import Y`` statements of :data:`IMPORT_ALIASES` rewritten to today's location, and
prints one ``compat:`` note per alias used. Nothing else changes: library modules are not
touched, no bytecode is written into the MMAR, and the finder is gone when the import is done.

Custom modules of another MMAR (the same package name, ``deepgrow``, in four MMARs) are
dropped from ``sys.modules`` before this MMAR's are imported, so one process can run several.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.distributed import process_rank

__all__ = [
    "ImportAlias",
    "IMPORT_ALIASES",
    "MODULE_ALIASES",
    "custom_imports",
    "rewrite_imports",
    "is_custom",
    "is_custom_class",
]

_SHIMS = "mmar_hydra.components.custom_shims"


@dataclass(frozen=True)
class ImportAlias:
    """``from module import name`` -> ``from new_module import new_name as name``."""

    module: str
    name: str
    new_module: str
    new_name: str
    why: str

    def imported(self) -> str:
        """What the rewritten statement imports: ``compute_dice as compute_meandice``."""
        return self.new_name if self.new_name == self.name else f"{self.new_name} as {self.name}"


def _moved(module: str, names: str, new_module: str, why: str) -> list[ImportAlias]:
    return [ImportAlias(module, n, new_module, n, why) for n in names.split()]


# the moves real MMARs' custom/ code hits (README "Compat translations" lists them)
IMPORT_ALIASES: tuple[ImportAlias, ...] = (
    *_moved(
        "monai.transforms.compose",
        "MapTransform Randomizable Transform",
        "monai.transforms",
        "moved to monai.transforms.transform in MONAI 0.5",
    ),
    ImportAlias(
        "monai.metrics",
        "compute_meandice",
        "monai.metrics",
        "compute_dice",
        "renamed compute_dice in MONAI 1.0, the old name since removed",
    ),
    ImportAlias(
        "monai.transforms.spatial.dictionary",
        "InterpolateModeSequence",
        _SHIMS,
        "InterpolateModeSequence",
        "type alias removed from MONAI",
    ),
    *_moved(
        "monai.transforms",
        "AddChannel AddChanneld AsChannelFirst AsChannelFirstd",
        _SHIMS,
        "removed in MONAI 1.3: EnsureChannelFirst(d) with the old signature",
    ),
    ImportAlias(
        "monai.transforms",
        "SpatialCrop",
        _SHIMS,
        "SpatialCrop",
        "its roi_start / roi_end became slices in MONAI 0.8: the shim has both",
    ),
    ImportAlias(
        "monai.data.image_reader",
        "WSIReader",
        "monai.data",
        "WSIReader",
        "moved to monai.data.wsi_reader in MONAI 0.9",
    ),
    ImportAlias(
        "monai.visualize",
        "plot_2d_or_3d_image",
        _SHIMS,
        "plot_2d_or_3d_image",
        "MONAI 0.7 put frame_dim before max_frames: an old positional call passes the frame "
        "count as an axis",
    ),
    ImportAlias(
        "monai.utils",
        "exact_version",
        "monai.utils",
        "min_version",
        "Clara pinned ignite 0.4.2 exactly; today's MONAI needs a newer one",
    ),
)
# `import numpy as np` in custom/ code: numpy's rule for ragged lists of the Clara era
NUMPY_ALIAS = ImportAlias(
    "",
    "numpy",
    _SHIMS,
    "legacy_numpy",
    "numpy 1's ragged lists as object arrays and float32 probabilities in random.choice",
)
# whole modules custom/ code imports that were never on PyPI: served by a module of ours
# (only to custom/ code, only while it imports), when no real one is installed
MODULE_ALIASES: dict[str, tuple[str, str]] = {
    "cuimage": (
        "mmar_hydra.pathology.cuimage_compat",
        "cuCIM's early-access predecessor, never on PyPI: MONAI's WSIReader reads the slides",
    ),
}
_BY_KEY = {(a.module, a.name): a for a in IMPORT_ALIASES}
_MODULES = {a.module for a in IMPORT_ALIASES}


def rewrite_imports(tree: ast.Module) -> list[tuple[int, ImportAlias]]:
    """Rewrite ``tree``'s ``from X import Y`` of moved names in place; (line, alias) used."""
    used: list[tuple[int, ImportAlias]] = []

    class _Rewriter(ast.NodeTransformer):
        def visit_Import(self, node: ast.Import) -> Any:
            kept = [n for n in node.names if n.name != NUMPY_ALIAS.name]
            if len(kept) == len(node.names):
                return node
            used.append((node.lineno, NUMPY_ALIAS))
            names = [n.asname or n.name for n in node.names if n.name == NUMPY_ALIAS.name]
            out: list[ast.stmt] = [ast.Import(kept)] if kept else []
            out += [ast.ImportFrom(_SHIMS, [ast.alias(NUMPY_ALIAS.new_name, n)], 0) for n in names]
            return [ast.copy_location(n, node) for n in out]

        def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
            if node.level or node.module not in _MODULES:
                return node
            kept, added = [], []
            for name in node.names:
                alias = _BY_KEY.get((node.module, name.name))
                if alias is None:
                    kept.append(name)
                    continue
                used.append((node.lineno, alias))
                new = ast.alias(alias.new_name, name.asname or name.name)
                added.append(ast.ImportFrom(alias.new_module, [new], 0))
            if not added:
                return node
            out = [ast.ImportFrom(node.module, kept, 0)] if kept else []
            return [ast.copy_location(n, node) for n in (*out, *added)]

    _Rewriter().visit(tree)
    ast.fix_missing_locations(tree)
    return used


def _notes(used: list[tuple[int, ImportAlias]]) -> list[str]:
    """One note per statement and target: ``22: from a import X, Y -> from b import X, Y (why)``."""
    groups: dict[tuple[int, str, str, str], list[ImportAlias]] = {}
    for line, alias in used:
        groups.setdefault((line, alias.module, alias.new_module, alias.why), []).append(alias)
    out = []
    for (line, module, new_module, why), aliases in groups.items():
        old = ", ".join(a.name for a in aliases)
        new = ", ".join(a.imported() for a in aliases)
        old = f"from {module} import {old}" if module else f"import {old}"
        out.append(f"{line}: {old} -> from {new_module} import {new} ({why})")
    return out


def _stderr(text: str) -> None:

    if process_rank() == 0:
        print(text, file=sys.stderr)


class _Loader(importlib.machinery.SourceFileLoader):
    """A custom/ source file compiled with its imports rewritten (never from bytecode)."""

    def __init__(self, fullname: str, path: str, finder: _CustomFinder) -> None:
        super().__init__(fullname, path)
        self.finder = finder

    def get_code(self, fullname: str) -> Any:
        source = self.get_data(self.path)
        tree = ast.parse(source, self.path)
        rel = self.finder.relative(self.path)
        for text in _notes(rewrite_imports(tree)):
            self.finder.say(f"compat: {rel}:{text}")
        _LOADED[fullname] = self.finder.root
        return compile(tree, self.path, "exec", dont_inherit=True)


class _ServedModule(importlib.abc.Loader):
    """Serves one of our modules under the name custom/ code imports (:data:`MODULE_ALIASES`)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return importlib.import_module(self.target)

    def exec_module(self, module: Any) -> None:  # already executed under its own name
        return None


class _CustomFinder(importlib.abc.MetaPathFinder):
    """Claims the modules whose files are inside one MMAR's custom/ folder, and the module
    aliases of :data:`MODULE_ALIASES` that are not installed."""

    def __init__(self, root: Path, say: Callable[[str], None]) -> None:
        self.root = root
        self.say = say
        self.served: list[str] = []  # module aliases put in sys.modules, removed at the end

    def _served_spec(self, fullname: str) -> Any:
        target, why = MODULE_ALIASES[fullname]
        if any(
            f is not self and f.find_spec(fullname, None) is not None
            for f in sys.meta_path
            if hasattr(f, "find_spec")
        ):
            return None  # the real package is installed: it is used
        self.served.append(fullname)
        self.say(f"compat: import {fullname} -> {target} ({why})")
        return importlib.machinery.ModuleSpec(fullname, _ServedModule(target))

    def relative(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.root.parent))
        except ValueError:
            return path

    def _inside(self, path: str | None) -> bool:
        return path is not None and Path(path).resolve().is_relative_to(self.root)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is None and fullname in MODULE_ALIASES:
            return self._served_spec(fullname)
        search = [str(self.root)] if path is None else [p for p in path if self._inside(p)]
        if not search:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None  # not here, a namespace package or a compiled module: the usual path
        if not self._inside(spec.origin):
            return None
        spec.loader = _Loader(fullname, str(spec.origin), self)
        return spec


_LOADED: dict[str, Path] = {}  # module name -> the custom/ folder it was loaded from


def is_custom_class(cls: Any) -> bool:
    """``cls`` is a class defined by a module of an MMAR's custom/ folder."""
    return isinstance(cls, type) and cls.__module__ in _LOADED


def is_custom(obj: Any) -> bool:
    """``obj`` (or its class) was defined by a module of an MMAR's custom/ folder."""
    module = getattr(type(obj), "__module__", None)
    return module in _LOADED and not isinstance(obj, type)


def _forget_other_mmars(root: Path) -> None:
    """Drop modules loaded from another MMAR's custom/ (``deepgrow`` is in four of them)."""
    for name, origin in list(_LOADED.items()):
        if origin != root:
            sys.modules.pop(name, None)
            del _LOADED[name]


@contextlib.contextmanager
def custom_imports(custom_dir: Path, say: Callable[[str], None] = _stderr) -> Iterator[None]:
    """While active, modules from ``custom_dir`` import with :data:`IMPORT_ALIASES` applied.

    Args:
        custom_dir: the MMAR's ``custom/`` folder.
        say: where the ``compat:`` notes go (stderr, rank 0 only, by default).
    """
    root = Path(custom_dir).resolve()
    _forget_other_mmars(root)
    finder = _CustomFinder(root, say)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
        for name in finder.served:  # custom/ modules keep their reference; nothing else sees it
            sys.modules.pop(name, None)
