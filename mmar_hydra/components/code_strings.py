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

from mmar_hydra.components.origins import code_filename
from mmar_hydra.errors import CodeNotAllowedError, ConfigError

__all__ = ["is_code_string", "CodeString", "parse_code_string", "from_engine"]

_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_LAMBDA = re.compile(r"\s*lambda\b")
_REF_PREFIX = "__ref_"


def is_code_string(value: object) -> bool:
    """True for ``"#..."`` expressions and ``"lambda ..."`` strings."""
    return isinstance(value, str) and (value.startswith("#") or _LAMBDA.match(value) is not None)


def from_engine(keys: str | Sequence[str], first: bool = False) -> Callable[[Any], Any]:
    """MONAI's ``from_engine``: pick ``keys`` from a dict or a list of dicts (a decollated batch).

    Same results as ``monai.handlers.from_engine`` without importing MONAI: a dict gives a
    tuple of values; a list gives one list per key (or the first item's value with
    ``first=True``), unwrapped when there is a single key.
    """
    keys = (keys,) if isinstance(keys, str) else tuple(keys)

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
    """A parsed code string: ``evaluate(scope)`` gives its value, ``refs`` the @names it uses.

    ``refs`` lets the builder build those components first and detect reference cycles;
    ``scope`` maps each ref name to its built object.
    """

    text: str
    refs: tuple[str, ...] = ()
    _make: Callable[[Mapping[str, Any]], Any] = field(default=lambda scope: None, repr=False)
    where: str = ""
    file: str | None = None

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        missing = [r for r in self.refs if r not in scope]
        if missing:
            raise ConfigError(
                f"{self.text!r} refers to unknown component "
                + ", ".join(f"'@{m}'" for m in missing),
                file=self.file,
                path=self.where or None,
                expected="@names of components defined in the same section",
                fix="check the spelling of the reference",
            )
        try:
            return self._make(scope)
        except _NoParameters as exc:
            raise ConfigError(
                f"{self.text!r}: '@{exc.name}' is a {type(exc.target).__name__}, not a network",
                file=self.file,
                path=self.where or None,
                expected="@ + the key of a network component (a torch module with parameters())",
                fix=f"make '{exc.name}' a network component, or refer to the one that is",
            ) from None


class _NoParameters(Exception):
    """``#@name.parameters()`` on something that has no ``parameters()``."""

    def __init__(self, name: str, target: Any) -> None:
        super().__init__(name)
        self.name, self.target = name, target


def _parameters(scope: Mapping[str, Any], name: str) -> Any:
    target = scope[name]
    if not callable(getattr(target, "parameters", None)):
        raise _NoParameters(name, target)
    return target.parameters()


# --- safe lambdas ------------------------------------------------------------------
def _accessor(node: ast.AST, arg: str) -> Callable[[Any], Any] | None:
    """``x``, ``x['k']``, ``x['k'][0]``... as a function of x; None when not of that form."""
    if isinstance(node, ast.Name) and node.id == arg:
        return lambda x: x
    if isinstance(node, ast.Subscript):
        inner = _accessor(node.value, arg)
        try:  # constants only: x['k'], x[0], x[-1]
            key = ast.literal_eval(node.slice)
        except (ValueError, SyntaxError):
            return None
        if inner is not None and isinstance(key, str | int) and not isinstance(key, bool):
            return lambda x: inner(x)[key]
    return None


def _safe_lambda(tree: ast.Lambda) -> Callable[[Any], Any] | None:
    args = tree.args
    if len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.defaults:
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
_SAFE_REF = re.compile(r"#\s*@([A-Za-z_][A-Za-z0-9_]*)\s*(\.\s*parameters\s*\(\s*\))?\s*")
_FROM_ENGINE = ("monai.handlers.from_engine", "monai.handlers.utils.from_engine", "from_engine")

Maker = Callable[[Mapping[str, Any]], Any]


def _safe_expr(text: str) -> tuple[Maker, tuple[str, ...]] | None:
    """``#@name``, ``#@name.parameters()`` or ``#monai.handlers.from_engine(keys, first=...)``."""
    ref = _SAFE_REF.fullmatch(text)
    if ref is not None:
        name, params = ref.group(1), ref.group(2)
        if params:
            return (lambda scope: _parameters(scope, name)), (name,)
        return (lambda scope: scope[name]), (name,)
    try:
        node = ast.parse(text[1:].strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or ast.unparse(node.func) not in _FROM_ENGINE:
        return None
    try:
        values = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except (ValueError, SyntaxError, TypeError):  # not literals: computed at run time
        return None
    params = dict(zip(("keys", "first"), values, strict=False))
    if len(values) > 2 or set(params) & set(kwargs) or not set(kwargs) <= {"keys", "first"}:
        return None
    params.update(kwargs)
    keys = params.get("keys")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
        return None
    fn = from_engine(list(keys), first=bool(params.get("first", False)))
    return (lambda scope: fn), ()


def _unsafe(text: str, where: str = "") -> tuple[Maker, tuple[str, ...]]:
    """Compile with Python (run only with allow_code=true); its frames name its JSON path."""
    refs = tuple(dict.fromkeys(_REF.findall(text)))
    src = text[1:] if text.startswith("#") else text
    src = _REF.sub(_REF_PREFIX + r"\1", src)
    code = compile(src, code_filename(where), "eval")

    def make(scope: Mapping[str, Any]) -> Any:
        import monai
        import numpy
        import torch

        namespace = {"monai": monai, "torch": torch, "numpy": numpy, "np": numpy}
        namespace.update({_REF_PREFIX + k: scope[k] for k in refs})
        return eval(code, namespace)  # noqa: S307 - the user allowed code explicitly

    return make, refs


def parse_code_string(
    text: str, *, allow_code: bool, where: str = "", file: str | None = None
) -> CodeString:
    """Parse a code string; safe forms never reach ``eval``, others need ``allow_code``.

    Args:
        text: the config string, ``"#..."`` or ``"lambda ..."``.
        allow_code: run forms other than the safe ones with Python's ``eval``.
        where, file: the JSON path and config file, for error messages.

    Raises:
        ConfigError: the string is not valid Python, or nested too deeply for Python's parser.
        CodeNotAllowedError: the string is not a safe form and ``allow_code`` is off; the
            message quotes the exact code that would have run.
    """
    try:
        return _parse(text, allow_code=allow_code, where=where, file=file)
    except RecursionError:  # ast and compile recurse per level: x[0][0]...[0], a.b.c...
        raise ConfigError(
            f"the code string is nested too deeply for Python to read: {text[:80]!r}...",
            file=file,
            path=where or None,
            expected="a Python expression of ordinary depth (MMARs use a few levels)",
            fix="simplify the expression; the file may be corrupt",
        ) from None


def _parse(text: str, *, allow_code: bool, where: str, file: str | None) -> CodeString:
    """:func:`parse_code_string` without the depth guard."""
    stripped = text.strip()
    safe: tuple[Maker, tuple[str, ...]] | None = None
    if _LAMBDA.match(stripped):
        try:
            tree = ast.parse(stripped, mode="eval").body
        except SyntaxError:
            tree = None  # reported below with the compile error
        fn = _safe_lambda(tree) if isinstance(tree, ast.Lambda) else None
        if fn is not None:
            safe = (lambda scope: fn), ()
    elif stripped.startswith("#"):
        safe = _safe_expr(stripped)
    if safe is not None:
        make, refs = safe
        return CodeString(text=text, refs=refs, _make=make, where=where, file=file)
    try:  # compiling runs nothing; it finds syntax errors whether or not code is allowed
        make, refs = _unsafe(stripped, where)
    except SyntaxError as exc:
        raise ConfigError(
            f"invalid code string {text!r}: {exc.msg}",
            file=file,
            path=where or None,
            expected="a Python expression after '#', or a lambda such as \"lambda x: x['loss']\"",
            fix="fix the Python syntax",
        ) from None
    if not allow_code:
        code = stripped[1:].strip() if stripped.startswith("#") else stripped
        raise CodeNotAllowedError(
            f"this config string would run as Python code: {code!r}",
            file=file,
            path=where or None,
            expected="one of the safe forms: #@name, #@model.parameters(), "
            "#monai.handlers.from_engine([...], first=...), lambda x: x['key'], "
            "lambda x: (x['a'], x['b']), lambda x: x['k'][0], lambda x: None",
            fix="if you trust this MMAR, set allow_code=true to run it",
        )
    return CodeString(text=text, refs=refs, _make=make, where=where, file=file)
