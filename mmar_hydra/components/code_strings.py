"""Config strings that are code: ``"#expr"`` and ``"lambda ..."``.

Clara evaluated them with Python's ``eval``. Configs can come from strangers, so the forms
real MMARs use are recognised with ``ast`` and rebuilt as plain Python objects, without
``eval``: ``#@model.parameters()``, ``#@name``, ``#monai.handlers.from_engine([...], first=...)``,
and lambdas that return ``None``, ``x['k']``, ``x['k'][i]`` or a tuple of those. Anything
else is refused unless ``allow_code=true``, and the refusal quotes what would have run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmar_hydra.errors import CodeNotAllowedError, ConfigError

__all__ = ["is_code_string", "CodeString", "parse_code_string", "from_engine"]

_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


def is_code_string(value: object) -> bool:
    """True for ``"#..."`` expressions and ``"lambda ..."`` strings."""
    return isinstance(value, str) and (value.startswith("#") or value.lstrip().startswith("lambda"))


def from_engine(keys: Sequence[str], first: bool = False) -> Callable[[Any], Any]:
    """MONAI's ``from_engine``: pick ``keys`` from a dict or a list of dicts (a decollated batch)."""

    def _wrapper(data: Any) -> Any:
        if isinstance(data, dict):
            return tuple(data[k] for k in keys)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            ret = [data[0][k] if first else [d[k] for d in data] for k in keys]
            return tuple(ret) if len(ret) > 1 else ret[0]
        raise TypeError(f"from_engine expects a dict or a list of dicts, got {type(data)}")

    return _wrapper


@dataclass
class CodeString:
    """A parsed code string: ``evaluate(scope)`` gives its value, ``refs`` the @names it uses."""

    text: str
    refs: tuple[str, ...] = ()
    _make: Callable[[Mapping[str, Any]], Any] = field(default=lambda scope: None, repr=False)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        return self._make(scope)


# --- safe lambdas ------------------------------------------------------------------
def _accessor(node: ast.AST, arg: str) -> Callable[[Any], Any] | None:
    """``x``, ``x['k']``, ``x['k'][0]``... as a function of x; None when not of that form."""
    if isinstance(node, ast.Name) and node.id == arg:
        return lambda x: x
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        inner = _accessor(node.value, arg)
        key = node.slice.value
        if inner is not None and isinstance(key, str | int):
            return lambda x: inner(x)[key]
    return None


def _safe_lambda(tree: ast.Lambda) -> Callable[[Any], Any] | None:
    args = tree.args
    if len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs:
        return None
    arg, body = args.args[0].arg, tree.body
    if isinstance(body, ast.Constant) and body.value is None:
        return lambda x: None
    if isinstance(body, ast.Tuple):
        parts = [_accessor(e, arg) for e in body.elts]
        if parts and all(p is not None for p in parts):
            return lambda x: tuple(p(x) for p in parts)  # type: ignore[misc]
        return None
    return _accessor(body, arg)


# --- safe "#..." expressions -------------------------------------------------------
def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _safe_expr(text: str) -> tuple[Callable[[Mapping[str, Any]], Any], tuple[str, ...]] | None:
    src = _REF.sub(r"__ref_\1", text[1:].strip())
    try:
        node = ast.parse(src, mode="eval").body
    except SyntaxError:
        return None
    # @name
    if isinstance(node, ast.Name) and node.id.startswith("__ref_"):
        name = node.id[len("__ref_") :]
        return (lambda scope: scope[name]), (name,)
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    # @name.parameters()
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "parameters"
        and isinstance(func.value, ast.Name)
        and func.value.id.startswith("__ref_")
        and not node.args
        and not node.keywords
    ):
        name = func.value.id[len("__ref_") :]
        return (lambda scope: scope[name].parameters()), (name,)
    # monai.handlers.from_engine([...], first=...)
    if ast.unparse(func) in ("monai.handlers.from_engine", "from_engine"):
        try:
            keys = _literal(node.args[0]) if node.args else None
            kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        except (ValueError, SyntaxError):
            return None
        if isinstance(keys, list) and set(kwargs) <= {"first"} and len(node.args) == 1:
            fn = from_engine(keys, first=bool(kwargs.get("first", False)))
            return (lambda scope: fn), ()
    return None


def _unsafe(text: str) -> tuple[Callable[[Mapping[str, Any]], Any], tuple[str, ...]]:
    """Compile with Python: only reached with allow_code=true."""
    refs = tuple(dict.fromkeys(_REF.findall(text)))
    src = text[1:] if text.startswith("#") else text
    src = _REF.sub(r"__ref_\1", src)
    code = compile(src, "<mmar code string>", "eval")

    def make(scope: Mapping[str, Any]) -> Any:
        import monai
        import numpy
        import torch

        namespace = {"monai": monai, "torch": torch, "numpy": numpy, "np": numpy}
        namespace.update({f"__ref_{k}": scope[k] for k in refs})
        return eval(code, namespace)  # noqa: S307 - the user allowed code explicitly

    return make, refs


def parse_code_string(
    text: str, *, allow_code: bool, where: str = "", file: str | None = None
) -> CodeString:
    """Parse a code string; safe forms never reach ``eval``, others need ``allow_code``."""
    stripped = text.strip()
    safe: tuple[Callable[[Mapping[str, Any]], Any], tuple[str, ...]] | None = None
    if stripped.startswith("lambda"):
        try:
            tree = ast.parse(stripped, mode="eval").body
        except SyntaxError as exc:
            raise ConfigError(
                f"invalid lambda string: {exc.msg}",
                file=file,
                path=where,
                expected="a Python lambda such as \"lambda x: x['loss']\"",
            ) from None
        fn = _safe_lambda(tree) if isinstance(tree, ast.Lambda) else None
        if fn is not None:
            safe = (lambda scope: fn), ()
    elif stripped.startswith("#"):
        safe = _safe_expr(stripped)
    if safe is not None:
        make, refs = safe
        return CodeString(text=text, refs=refs, _make=make)
    if not allow_code:
        raise CodeNotAllowedError(
            f"this config string would run as Python code: {text!r}",
            file=file,
            path=where,
            expected="one of the safe forms: #@model.parameters(), #@name, "
            "#monai.handlers.from_engine([...], first=...), lambda x: x['key'], "
            "lambda x: (x['a'], x['b']), lambda x: None",
            fix="if you trust this MMAR, add allow_code=true to run it",
        )
    try:
        make, refs = _unsafe(stripped)
    except SyntaxError as exc:
        raise ConfigError(
            f"invalid code string: {exc.msg}", file=file, path=where, expected="a Python expression"
        ) from None
    return CodeString(text=text, refs=refs, _make=make)
