"""Families 3 and 4: broken ``ref`` / ``@name`` / ``#`` expressions and reference cycles;
``{VAR}`` cycles, long chains, undefined names and odd variable syntax.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from fuzz import jsonmut
from fuzz.cases import (
    Case,
    Ctx,
    component_paths,
    draw_target,
    named_slots,
    string_paths,
    where_of,
)

__all__ = ["refs", "variables"]

# -- 3. references: broken ref / @name / # expressions, cycles --------------------------------
_BROKEN_AT = [
    "@",
    "@@{name}",
    "@{name}.",
    "@{name} x",
    "@ {name}",
    "@nonexistent",
    "@{name}[0]",
    "@{name}.__class__",
    "@__class__",
    "@{name}@{name}",
    "@{name}\x00",
    "@1{name}",
    "@conf",
    "@evaluator",
]
_BROKEN_HASH = [
    "#",
    "#@",
    "#@{name}.",
    "#@{name}.parameters(",
    "#@nonexistent.parameters()",
    "#@{name}.parameters()()",
    "#@{name}.__class__.__mro__",
    "# @{name} . parameters ( )",
    "#monai.handlers.from_engine(",
    "#monai.handlers.from_engine(['pred'], first=@{name})",
    "#from_engine()",
    "#monai.handlers.from_engine([1, 2])",
    "#@{name}.parameters",
    "#@{name}.named_parameters()",
]
_BROKEN_REF: list[Any] = [
    "nonexistent",
    "",
    None,
    5,
    ["LoadImaged"],
    {"ref": "LoadImaged"},
    "loadimaged",
    "{name}",
]


def refs(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "refs", configs_only=True)
    seed, target, doc = pick.seed, pick.target, pick.doc
    slots = named_slots(doc)
    names = [p[-1] for p in slots] or ["model"]
    name = data.draw(st.sampled_from(names), label="name")
    op = data.draw(
        st.sampled_from(["@", "#", "ref", "cycle", "self", "ref cycle", "dangling"]), label="op"
    )
    if op in ("@", "#"):
        where = (
            string_paths(doc, ctx, seed, target.file, op)
            or string_paths(doc, ctx, seed, target.file)
            or [()]
        )
        path = data.draw(st.sampled_from(where), label="path")
        text = data.draw(
            st.sampled_from(_BROKEN_AT if op == "@" else _BROKEN_HASH), label="text"
        ).replace("{name}", name)
        return pick.case(
            jsonmut.set_at(doc, path, text),
            f"{where_of(path)} = {text!r}",
        )
    if op == "ref":
        where = (
            [p for p in ctx.paths(seed, target.file) if p and p[-1] == "ref"]
            or [(*p, "ref") for p in component_paths(doc) if p]
            or [("ref",)]
        )
        path = data.draw(st.sampled_from(where), label="path")
        value = data.draw(st.sampled_from(_BROKEN_REF), label="ref")
        value = value.replace("{name}", name) if isinstance(value, str) else value
        return pick.case(
            jsonmut.set_at(doc, path, value),
            f"{where_of(path)} = {jsonmut.show(value)}",
        )
    if op == "ref cycle":
        lists = [p for p in component_paths(doc) if p and isinstance(p[-1], int)]
        if lists:
            path = data.draw(st.sampled_from(lists), label="path")
            item = jsonmut.get_at(doc, path)
            own = item.get("name") or item.get("path") or "x"
            mutated = jsonmut.set_at(doc, path, {"ref": own})
            return pick.case(
                mutated,
                f"{where_of(path)} = {{'ref': {own!r}}} (itself)",
            )
    if not slots:
        return pick.case(jsonmut.set_at(doc, ("fuzz",), "@fuzz"), "fuzz = '@fuzz'")
    a = data.draw(st.sampled_from(slots), label="a")
    b = a if op == "self" else data.draw(st.sampled_from(slots), label="b")
    form = data.draw(st.sampled_from(["@{}", "#@{}", "#@{}.parameters()"]), label="form")
    mutated = jsonmut.set_at(doc, (*a, "args", "fuzz_ref"), form.format(b[-1]))
    mutated = (
        jsonmut.set_at(mutated, (*b, "args", "fuzz_back"), form.format(a[-1]))
        if op == "cycle"
        else mutated
    )
    if op == "dangling":
        mutated = jsonmut.set_at(doc, (*a, "args", "fuzz_ref"), "@no_such_component")
    step = f"{op}: {where_of(a)} <-> {where_of(b)} ({form})"
    return pick.case(mutated, step)


# -- 4. variables: {VAR} cycles and undefined names -------------------------------------------
_ODD_VARIABLES = [
    "{}",
    "{ epochs }",
    "{1x}",
    "{epochs",
    "epochs}",
    "{{epochs}}",
    "${epochs}",
    "\\{epochs}",
    "\\${epochs}",
    "$${epochs}",
    "${oc.env:HOME}",
    "${oc.decode:'[1,2]'}",
    "${oc.create:{a: 1}}",
    "${hydra:runtime.cwd}",
    "${mmar_hydra_runs:/x}",
    "${..epochs}",
    "${train.model}",
    "{mmar_source}",
    "{train}",
    "{validate}",
    "{DATA_ROOT}/../../..",
    "{__class__}",
    "{epochs}{epochs}",
    "{" + "a" * 100_000 + "}",
    "{NOPE}",
    "x {NOPE} y",
    "{MMAR_CKPT}",
    "{hydra}",
    "{task}",
    "{mmar}",
    "{allow_code}",
]


def variables(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "variables")
    seed, target, doc = pick.seed, pick.target, pick.doc
    if not isinstance(doc, dict):
        doc = {}
    used = sorted(set(re.findall(r"\{([A-Za-z_]\w*)\}", jsonmut.dumps(doc)))) or ["epochs"]
    op = data.draw(st.sampled_from(["self", "pair", "chain", "undefined", "odd"]), label="op")
    if op in ("self", "pair", "chain"):
        var = data.draw(st.sampled_from(used), label="var")
        if op == "self":
            mutated, step = jsonmut.set_at(doc, (var,), f"{{{var}}}"), f"{var} = '{{{var}}}'"
        elif op == "pair":
            mutated = jsonmut.set_at(
                jsonmut.set_at(doc, (var,), "{FUZZ_B}"), ("FUZZ_B",), f"x{{{var}}}"
            )
            step = f"{var} = '{{FUZZ_B}}', FUZZ_B = 'x{{{var}}}'"
        else:
            n = data.draw(st.integers(2, 400), label="length")
            closed = data.draw(st.booleans(), label="closed")
            mutated = jsonmut.set_at(doc, (var,), "{FUZZ_0}")
            for i in range(n):
                nxt = f"{{FUZZ_{i + 1}}}" if i + 1 < n else (f"{{{var}}}" if closed else "1")
                mutated = jsonmut.set_at(mutated, (f"FUZZ_{i}",), nxt)
            step = f"{var} -> a chain of {n} variables ({'a cycle' if closed else 'ends in 1'})"
        return pick.case(mutated, step)
    where = string_paths(doc, ctx, seed, target.file) or [("fuzz",)]
    path = data.draw(st.sampled_from(where), label="path")
    if op == "undefined":
        old = jsonmut.get_at(doc, path) if path != ("fuzz",) else ""
        text = data.draw(
            st.sampled_from(["{NOPE}", f"{old}{{NOPE}}", "{nope_" + "x" * 50 + "}"]), label="text"
        )
    else:
        text = data.draw(st.sampled_from(_ODD_VARIABLES), label="text")
    return pick.case(
        jsonmut.set_at(doc, path, text),
        f"{where_of(path)} = {jsonmut.show(text)}",
    )
