"""Families 1 and 2: keys deleted, duplicated, retyped or renamed at every JSON path (and
whole-file damage), and values replaced by None, huge ints, NaN, 1,000 levels of nesting,
1 MB strings and unicode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from fuzz import jsonmut
from fuzz.cases import Case, Ctx, draw_target, where_of
from fuzz.jsonmut import SPECIAL_VALUES, Pairs

__all__ = ["json_keys", "values"]

# -- 1. keys: delete, duplicate, retype at every JSON path ------------------------------------
_FILE_LEVEL: dict[str, Callable[[str, int], str | bytes]] = {
    "truncated": lambda text, n: text[: n % max(len(text), 1)],
    "empty file": lambda text, n: "",
    "byte-order mark": lambda text, n: "\ufeff" + text,
    "invalid UTF-8": lambda text, n: text.encode()[: n % max(len(text), 1)] + b"\xff\xfe\xc3",
    "top level is a list": lambda text, n: "[" + text + "]",
    "top level is a string": lambda text, n: '"config"',
    "trailing comma": lambda text, n: text.rstrip().rstrip("}") + ",}",
    "a comment": lambda text, n: "// comment\n" + text,
    "two documents": lambda text, n: text + text,
}


def json_keys(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "keys")
    seed, target, doc = pick.seed, pick.target, pick.doc
    op = data.draw(st.sampled_from(["delete", "duplicate", "retype", "rename", "file"]), label="op")
    if op == "file":
        how = data.draw(st.sampled_from(sorted(_FILE_LEVEL)), label="how")
        n = data.draw(st.integers(0, 1 << 16), label="n")
        text = _FILE_LEVEL[how](jsonmut.dumps(doc), n)
        return pick.text_case(text, f"whole file: {how} (n={n})")
    paths = ctx.paths(seed, target.file)
    if not paths:
        return pick.case({}, "emptied")
    path = data.draw(st.sampled_from(paths), label="path")
    value = jsonmut.get_at(doc, path)
    if op == "delete":
        return pick.case(jsonmut.delete_at(doc, path), f"delete {where_of(path)}")
    if op == "retype":
        new = jsonmut.retyped(value, data.draw(st.integers(0, 20), label="type"))
        mutated = jsonmut.set_at(doc, path, new)
        return pick.case(mutated, f"retype {where_of(path)} -> {jsonmut.show(new)}")
    if op == "duplicate":
        second = data.draw(st.sampled_from([value, None, "dup", 0, [value]]), label="second")
        mutated = jsonmut.duplicate_at(doc, path, second)
        return pick.case(
            mutated,
            f"duplicate {where_of(path)} ({jsonmut.show(second)})",
        )
    parent = jsonmut.get_at(doc, path[:-1])
    if not isinstance(parent, dict):
        return pick.case(jsonmut.delete_at(doc, path), f"delete {where_of(path)}")
    new_key = data.draw(st.sampled_from(_ODD_KEYS), label="key")
    items = [(new_key if k == path[-1] else k, v) for k, v in parent.items()]
    mutated = jsonmut.set_at(doc, path[:-1], Pairs(items))
    return pick.case(
        mutated,
        f"rename key {where_of(path)} -> {new_key!r}",
        ascii_only=False,
    )


_ODD_KEYS = [
    "",
    " ",
    "__class__",
    "__init__",
    "_target_",
    "_args_",
    "${x}",
    "{epochs}",
    "a.b",
    "0",
    "ü",
    "\x00",
    "k" * 10000,
    "train",
    "validate",
    "hydra",
    "defaults",
]


# -- 2. values: None, huge ints, NaN, 1,000 levels, 1 MB strings, unicode ---------------------
def values(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "values")
    seed, target, doc = pick.seed, pick.target, pick.doc
    paths = ctx.paths(seed, target.file) or [()]
    path = data.draw(st.sampled_from(paths), label="path")
    label = data.draw(st.sampled_from(sorted(SPECIAL_VALUES)), label="value")
    mutated = jsonmut.set_at(doc, path, SPECIAL_VALUES[label])
    ascii_only = data.draw(st.booleans(), label="ascii")
    return pick.case(mutated, f"{where_of(path)} = {label}", ascii_only)
