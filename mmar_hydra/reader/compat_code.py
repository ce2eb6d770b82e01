"""The compat rules inside code strings: the same calls, rewritten with ``ast``.

Clara 4.0 MMARs build MONAI objects inside code strings, run under ``allow_code=true``:
``lambda x: __import__('monai').transforms.AsDiscrete(argmax=True, to_onehot=True,
n_classes=2)(x['pred'])``. The component rules of :mod:`.compat` (renamed transforms, old
arguments) apply to such a call as they apply to a component: each call whose class a rule
names is turned into a component dict (``{"name": ..., "args": ...}``), translated by the same
function, and written back into the expression. Calls through ``__import__('monai')...``,
``monai.transforms.X`` and a bare ``X`` are all found. Arguments that are not literals are
carried through unchanged.

Nothing here runs the code: it is parsed, rewritten and unparsed. A string that does not parse
is left as written (the check reports its syntax error).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["rewrite_code_calls", "CodeRewrite"]

_LAMBDA = re.compile(r"\s*lambda\b")
_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_PLACEHOLDER = "__mmar_ref_"
# Clara 4.0's positional order of the arguments MONAI has changed since
_OLD_POSITIONAL: dict[str, tuple[str, ...]] = {
    "AsDiscrete": ("argmax", "to_onehot", "n_classes", "threshold_values", "logit_thresh"),
    "AsDiscreted": ("keys", "argmax", "to_onehot", "n_classes", "threshold_values"),
}

# translate(component) -> the reasons of what it changed (empty: nothing to change)
Translate = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class CodeRewrite:
    """One call rewritten inside a code string."""

    old: str
    new: str
    reasons: tuple[str, ...]


class _Opaque:
    """An argument that is not a literal: kept as the expression it was."""

    def __init__(self, node: ast.expr) -> None:
        self.node = node

    def __repr__(self) -> str:
        return ast.unparse(self.node)


def _short(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _Opaque(node)


def _node(value: Any) -> ast.expr:
    if isinstance(value, _Opaque):
        return value.node
    return ast.parse(repr(value), mode="eval").body


class _Calls(ast.NodeTransformer):
    def __init__(self, names: frozenset[str], translate: Translate) -> None:
        self.names = names
        self.translate = translate
        self.rewrites: list[CodeRewrite] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)  # inner calls first: AsDiscrete(...)(x) has one inside
        short = _short(node.func)
        if short not in self.names or any(k.arg is None for k in node.keywords):
            return node
        positional = _OLD_POSITIONAL.get(short)
        kept: list[ast.expr] = []  # positionals whose meaning did not change (keys, ...)
        if positional is None:
            kept = list(node.args)
        elif len(node.args) > len(positional):
            return node  # more positionals than Clara's signature had: leave the call alone
        named = zip(positional or (), [] if kept else node.args, strict=False)
        args = {name: _value(a) for name, a in named}
        args.update({str(k.arg): _value(k.value) for k in node.keywords})
        comp: dict[str, Any] = {"name": short, "args": args}
        reasons = self.translate(comp)
        if not reasons:
            return node
        old = ast.unparse(node)
        new_name = str(comp["name"])
        if isinstance(node.func, ast.Name):
            node.func.id = new_name
        elif isinstance(node.func, ast.Attribute):
            node.func.attr = new_name
        node.args = kept
        node.keywords = [ast.keyword(arg=k, value=_node(v)) for k, v in comp["args"].items()]
        self.rewrites.append(CodeRewrite(old, ast.unparse(node), tuple(reasons)))
        return node


def rewrite_code_calls(
    text: str, names: Iterable[str], translate: Translate
) -> tuple[str, list[CodeRewrite]]:
    """``text`` with every call of a class in ``names`` translated by ``translate``.

    Args:
        text: a code string, ``"#..."`` or ``"lambda ..."``.
        names: the class names a compat rule applies to (``AsDiscrete``, ``LoadNiftid``...).
        translate: the component rule: changes a ``{"name", "args"}`` dict in place and
            returns why (nothing: no change).

    Returns:
        The rewritten string (``text`` itself when nothing changed) and one
        :class:`CodeRewrite` per call changed.
    """
    names = frozenset(names)
    hash_form = text.lstrip().startswith("#")
    if not hash_form and _LAMBDA.match(text) is None:
        return text, []
    if not any(name in text for name in names):
        return text, []  # the common case: no rule applies, nothing parsed
    source = text.lstrip()[1:] if hash_form else text.strip()
    source = _REF.sub(_PLACEHOLDER + r"\1", source)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return text, []
    calls = _Calls(names, translate)
    tree = calls.visit(tree)
    if not calls.rewrites:
        return text, []
    out = ast.unparse(tree).replace(_PLACEHOLDER, "@")
    return ("#" + out if hash_form else out), calls.rewrites
