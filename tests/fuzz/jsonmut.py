"""JSON documents as mutation targets: every path, edits at a path, and a writer for JSON text
that ``json.dumps`` cannot make (a key twice in one object, 1,000 levels of nesting, lone
surrogates, NaN, raw bytes).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mmar_hydra.errors import json_path

__all__ = [
    "Raw",
    "Pairs",
    "all_paths",
    "get_at",
    "set_at",
    "delete_at",
    "duplicate_at",
    "dumps",
    "show",
    "retyped",
    "SPECIAL_VALUES",
    "DEEP",
    "ONE_MB",
    "json_path_text",
]

Path_ = tuple[str | int, ...]


class Raw(str):
    """JSON text written as it is (deep nesting, lone surrogates, ...)."""


@dataclass
class Pairs:
    """A JSON object given as its (key, value) pairs: the same key may appear twice."""

    items: list[tuple[str, Any]]


def all_paths(doc: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every JSON path of ``doc`` (keys and list items, at every depth), outermost first."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from all_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield (*prefix, i)
            yield from all_paths(value, (*prefix, i))


def json_path_text(path: Path_) -> str:
    """``train.pre_transforms[2].args`` (``<top>`` for the whole document)."""
    return json_path(*path) or "<top>"


def get_at(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def set_at(doc: Any, path: Path_, value: Any) -> Any:
    """A copy of ``doc`` with ``value`` at ``path`` (``path=()`` replaces the whole document)."""
    if not path:
        return value
    out = copy.deepcopy(doc)
    get_at(out, path[:-1])[path[-1]] = value
    return out


def delete_at(doc: Any, path: Path_) -> Any:
    out = copy.deepcopy(doc)
    del get_at(out, path[:-1])[path[-1]]
    return out


def duplicate_at(doc: Any, path: Path_, second: Any) -> Any:
    """A copy of ``doc`` in which ``path``'s key appears twice (its second value ``second``);
    a list item is repeated instead."""
    out = copy.deepcopy(doc)
    parent = get_at(out, path[:-1])
    key = path[-1]
    if isinstance(parent, list):
        parent.insert(int(key), second)
        return out
    items: list[tuple[str, Any]] = []
    for k, v in parent.items():
        items.append((k, v))
        if k == key:
            items.append((k, second))
    return set_at(out, path[:-1], Pairs(items)) if path[:-1] else Pairs(items)


def dumps(obj: Any, *, ascii_only: bool = True) -> str:
    """JSON text of ``obj``; :class:`Raw` is written verbatim, :class:`Pairs` keeps its pairs."""
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, Pairs):
        body = ", ".join(
            f"{dumps(k, ascii_only=ascii_only)}: {dumps(v, ascii_only=ascii_only)}"
            for k, v in obj.items
        )
        return "{" + body + "}"
    if isinstance(obj, dict):
        return dumps(Pairs(list(obj.items())), ascii_only=ascii_only)
    if isinstance(obj, list | tuple):
        return "[" + ", ".join(dumps(v, ascii_only=ascii_only) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=ascii_only)


def show(value: Any, limit: int = 90) -> str:
    """A short description of a (possibly huge) value for the failure report."""
    text = str(value) if isinstance(value, Raw) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...{text[-limit // 4 :]} ({len(text)} chars)"


ONE_MB = 1 << 20
DEEP = 1000
# the values the issue names: None, huge ints, NaN, 1,000 levels, 1 MB strings, unicode
SPECIAL_VALUES: dict[str, Any] = {
    "null": None,
    "int 2**63": 2**63,
    "int -2**63-1": -(2**63) - 1,
    "int 10**100": 10**100,
    "int 2**31": 2**31,
    "int -1": -1,
    "int 0": 0,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "float 1e308": 1e308,
    "float 5e-324": 5e-324,
    "nested list x1000": Raw("[" * DEEP + "]" * DEEP),
    "nested object x1000": Raw('{"a": ' * DEEP + "1" + "}" * DEEP),
    "nested list x300 around a ref": Raw("[" * 300 + '"@model"' + "]" * 300),
    "1 MB string": "A" * ONE_MB,
    "1 MB of braces": "{" * ONE_MB,
    "1 MB ref": "@" + "m" * ONE_MB,
    "1 MB code string": "#" + "x" * ONE_MB,
    "empty string": "",
    "unicode": "ünïcødé ✓ 中文 \U0001f600",
    "right-to-left override": "\u202emodel.pt",
    "NUL in string": "model\x00.pt",
    "lone surrogate": Raw('"\\ud800"'),
    "newlines": "line1\nline2\r\n",
    "empty list": [],
    "empty object": {},
    "bool true": True,
}


def retyped(value: Any, choice: int) -> Any:
    """``value`` as another JSON type (``choice`` picks which)."""
    options: list[Any] = [
        None,
        True,
        7,
        0.5,
        "text",
        json.dumps(value) if not isinstance(value, Raw) else "raw",
        [],
        {},
        [value],
        {"value": value},
    ]
    differ = [o for o in options if type(o) is not type(value) or o != value]
    return differ[choice % len(differ)]
