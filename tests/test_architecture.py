"""Issue #34: the layers hold as a contract, read from the code with the standard library's ast.

What import-linter checks in `make lint` (pyproject.toml) is checked here too, so a plain
`make test` catches a cycle, a second RunPaths, or an over-long function.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmar_hydra"
MAX_FUNCTION_LINES = 80
MAX_INNER_OWN_IMPORTS = 0  # #34 asked for < 40; none is left, so any new one is a regression


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _target(module: str, node: ast.ImportFrom, alias: ast.alias) -> str:
    if node.level:
        base = module.split(".")
        if MODULES[module].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    full = f"{target}.{alias.name}"
    return full if full in MODULES else target


def _own_imports(module: str, tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    """(import statement, imported mmar_hydra module) for every import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            targets = [_target(module, node, a) for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != module and target.startswith("mmar_hydra"):
                found.append((node, target))
    return found


TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_among_our_modules():
    """Every import counts, inside functions and under TYPE_CHECKING too."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, tree in TREES.items():
        for _, target in _own_imports(name, tree):
            edges[name].add(target)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _function_imports(tree: ast.AST) -> list[ast.stmt]:
    inner = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            inner += [n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
    return inner


def test_imports_of_our_modules_inside_functions_are_few():
    count = 0
    for name, tree in TREES.items():
        inner = {id(n) for n in _function_imports(tree)}
        count += len({id(node) for node, _ in _own_imports(name, tree) if id(node) in inner})
    assert count <= MAX_INNER_OWN_IMPORTS


def _constructions(tree: ast.AST) -> list[int]:
    """Lines that make a RunPaths: ``RunPaths(...)``, ``RunPaths.<classmethod>(...)``,
    ``dataclasses.replace(<a RunPaths>...)`` is not used, so these are all the ways."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "RunPaths":
            lines.append(node.lineno)
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "RunPaths"
        ):
            lines.append(node.lineno)
    return lines


def test_run_paths_are_made_in_one_place():
    """The task's RunPaths comes from TaskContext.for_job (TaskJob, AutoML's trial runs)."""
    sites = {name: lines for name, tree in TREES.items() if (lines := _constructions(tree))}
    assert list(sites) == ["mmar_hydra.context"] and len(sites["mmar_hydra.context"]) == 1
    inside = [n for n in ast.walk(TREES["mmar_hydra.run_paths"]) if isinstance(n, ast.Call)]
    made = [n for n in inside if isinstance(n.func, ast.Name) and n.func.id == "cls"]
    assert len(made) == 1  # RunPaths.for_task is its only constructor


def test_no_function_is_longer_than_a_screen():
    long = [
        f"{name}.{fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"  # type: ignore[operator]
        for name, tree in TREES.items()
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        and fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert long == []


def _cited(text: str) -> set[str]:
    """Paths ARCHITECTURE.md cites in backticks: ``engine/run.py``, ``faults/``, ``cli.py``."""
    import re

    cited = set()
    for token in re.findall(r"`([^`\s]+)`", text):
        token = token.rstrip(".,:;")
        if re.fullmatch(r"[a-z_]+(/[a-z_0-9]+)*(\.py|/)", token):
            cited.add(token)
    return cited


# folders of an MMAR (and of a run) that the document names; they are not in this repository
MMAR_FOLDERS = {"config/", "commands/", "custom/", "docs/", "resources/", "models/", "eval/"}
MMAR_FOLDERS |= {"runs/", "best/", "outside/"}


def test_the_architecture_document_cites_modules_that_exist_and_maps_every_package():
    repo = PACKAGE.parent
    text = (repo / "ARCHITECTURE.md").read_text()
    files = ["mmar_hydra/", "conf/", "tests/", "benchmarks/"]
    files += [
        p.relative_to(repo).as_posix() + ("/" if p.is_dir() else "")
        for top in ("mmar_hydra", "conf", "tests", "benchmarks")
        for p in (repo / top).rglob("*")
        if "__pycache__" not in p.parts
    ]
    missing = sorted(
        c
        for c in _cited(text) - MMAR_FOLDERS
        if not any(f == c or f.endswith("/" + c) for f in files)
    )
    assert missing == []
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert [p for p in packages if f"{p}/" not in text] == []
