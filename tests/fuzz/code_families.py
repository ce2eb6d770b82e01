"""Families 5 and 6: components outside the allowlist (stdlib functions, dunder walks,
``path`` values with ``..``, a file granting itself ``allow_code``), and code strings
(attribute chains, f-strings, lambdas with defaults, near misses of the safe forms).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from fuzz import jsonmut
from fuzz.cases import (
    Case,
    Ctx,
    Pick,
    component_paths,
    draw_target,
    string_paths,
    where_of,
)
from fuzz.payloads import SHORT_NAMES, code_payloads, component_payloads

__all__ = ["components", "code_strings"]


# -- 5. components: outside the allowlist, stdlib functions, dunders, path with .. ------------
def components(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "components", configs_only=True)
    seed, target, doc = pick.seed, pick.target, pick.doc
    slots = component_paths(doc) or [("model",)]
    path = data.draw(st.sampled_from(slots), label="path")
    ops = [
        "payload",
        "short name",
        "payload path, own args",
        "extra handler",
        "grants itself trust",
    ]
    op = data.draw(st.sampled_from(ops), label="op")
    payloads = component_payloads(ctx.canary / "component", ctx.outside)
    if op == "grants itself trust":
        return _self_trust(data, pick, path, payloads)
    if op == "short name":
        name = data.draw(st.sampled_from(SHORT_NAMES), label="name")
        own = jsonmut.get_at(doc, path) if path in ctx.paths(seed, target.file) else {}
        own = own if isinstance(own, dict) else {}
        mutated = jsonmut.set_at(
            doc, path, {**{k: v for k, v in own.items() if k != "path"}, "name": name}
        )
        return pick.case(
            mutated,
            f"{where_of(path)}.name = {jsonmut.show(name)}",
            False,
        )
    label, payload = data.draw(st.sampled_from(payloads), label="payload")
    if op == "payload path, own args":
        own = jsonmut.get_at(doc, path) if path in ctx.paths(seed, target.file) else {}
        payload = {
            **(own if isinstance(own, dict) else {}),
            "path": payload.get("path") or payload["name"],
        }
        payload.pop("name", None)
    if op == "extra handler":
        handlers = [p for p in ctx.paths(seed, target.file) if p and p[-1] == "handlers"] or [
            ("handlers",)
        ]
        at = data.draw(st.sampled_from(handlers), label="handlers")
        current = jsonmut.get_at(doc, at) if at in ctx.paths(seed, target.file) else []
        mutated = jsonmut.set_at(
            doc, at, [*(current if isinstance(current, list) else []), payload]
        )
        return pick.case(mutated, f"{where_of(at)} += {label}")
    return pick.case(
        jsonmut.set_at(doc, path, payload),
        f"{where_of(path)} = {label} ({op})",
    )


def _hydra_callback(ctx: Ctx) -> dict[str, Any]:
    """Hydra instantiates ``hydra.callbacks.*._target_``: here a copy onto the canary."""
    copy = {"_target_": "shutil.copy", "src": __file__, "dst": str(ctx.canary / "hydra_callback")}
    return {"callbacks": {"fuzz": copy}}


def _self_trust(data: Any, pick: Pick, path: tuple, payloads: list) -> Case:
    """The file sets mmar_hydra's own switches (allow_code, hydra.*) beside a payload."""
    ctx, doc = pick.ctx, pick.doc
    keys = {
        "allow_code": True,
        "allow_write": ["/"],
        "hydra": _hydra_callback(ctx),
        "debug": True,
        "task": "train",
        "mmar": str(ctx.outside),
        "defaults": ["_self_"],
        "trainer": {"_target_": "subprocess.Popen", "args": ["touch", str(ctx.canary / "trainer")]},
    }
    key = data.draw(st.sampled_from(sorted(keys)), label="key")
    label, payload = data.draw(st.sampled_from(payloads), label="payload")
    mutated = jsonmut.set_at(jsonmut.set_at(doc, (key,), keys[key]), path, payload)
    return pick.case(
        mutated,
        f"{key} = {jsonmut.show(keys[key])}; {where_of(path)} = {label}",
    )


# -- 6. code strings: attribute chains, f-strings, lambdas with defaults -----------------------
_CODE_KEYS = (
    "output_transform",
    "params",
    "batch_transform",
    "func",
    "transform",
    "prepare_batch",
    "iteration_update",
)


def code_strings(data: Any, ctx: Ctx) -> Case:
    pick = draw_target(data, ctx, "code strings", configs_only=True)
    seed, target, doc = pick.seed, pick.target, pick.doc
    code_like = [
        p
        for p in ctx.paths(seed, target.file)
        if p
        and (
            p[-1] in _CODE_KEYS
            or (
                isinstance(v := jsonmut.get_at(doc, p), str)
                and (v.startswith("#") or v.startswith("lambda"))
            )
        )
    ]
    anywhere = string_paths(doc, ctx, seed, target.file) or [("fuzz",)]
    pool = code_like if code_like and data.draw(st.booleans(), label="code place") else anywhere
    path = data.draw(st.sampled_from(pool), label="path")
    label, code = data.draw(st.sampled_from(code_payloads(ctx.canary / "code")), label="code")
    return pick.case(
        jsonmut.set_at(doc, path, code),
        f"{where_of(path)} = {label}",
        False,
    )
