"""Write one trial's sampled values into a training config: a plain MMAR config again; and a
search config read for a plain run (``task=train`` / ``check``), its first alternatives.

The result has no ``search`` / ``apply`` keys, every list of alternatives is reduced to the
one enabled alternative, and every sampled value sits where Clara's ``search`` block put it,
so the trial MMAR checks, trains, validates and exports like any other.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mmar_hydra.errors import ErrorGroup
from mmar_hydra.reader.compat import CompatNote
from mmar_hydra.reader.search_space import Binding, SearchSpace, parse_space

__all__ = ["apply_sample", "bound_values", "default_sample", "resolve_paths", "plain_config"]

_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def resolve_paths(config: Any, path: str) -> Any:
    """The object at a JSON path like ``train.loss[1]``."""
    node = config
    for key, index in _STEP.findall(path):
        node = node[int(index)] if index else node[key]
    return node


def default_sample(space: SearchSpace) -> dict[str, Any]:
    """What a plain ``task=train`` uses: enum row 0 and the config's own values for floats."""
    return {p.name: 0 for p in space.params if p.type == "enum"}


def bound_values(space: SearchSpace, sample: Mapping[str, Any]) -> Iterator[tuple[Binding, Any]]:
    """(binding, value) of every sampled parameter: a float, or each value of the enum row."""
    for p in space.params:
        if p.name in sample:
            row = [sample[p.name]] if p.type == "float" else list(p.choices[int(sample[p.name])])
            yield from zip(p.bindings, row, strict=True)


def apply_sample(config: Mapping[str, Any], space: SearchSpace, sample: Mapping[str, Any]) -> dict:
    """A copy of ``config`` with ``sample`` (parameter name -> float / enum index) written in.

    Args:
        config: the search config as loaded JSON.
        space: its :func:`~mmar_hydra.reader.search_space.parse_space` result (without problems).
        sample: the trial's values; a float missing here keeps the config's value.
    """
    out = copy.deepcopy(dict(config))
    switches: dict[str, bool] = {}
    for b, v in bound_values(space, sample):
        if b.kind == "global":
            out[b.target] = v
        elif b.kind == "switch":
            switches[b.target] = bool(v)
        elif b.kind == "disabled":
            resolve_paths(out, b.target)["disabled"] = bool(v)
        else:
            resolve_paths(out, b.target).setdefault("args", {})[b.arg] = v
            for at, arg in space.tag_users.get(b.tag, []) if b.tag else []:
                resolve_paths(out, at).setdefault("args", {})[arg] = v
    for switch, users in space.switch_users.items():
        for at in users:
            resolve_paths(out, at)["disabled"] = switches.get(switch, _later_alternative(space, at))
    for lst in sorted(space.alternatives, key=len, reverse=True):
        parent_path, _, key = lst.rpartition(".")
        parent = resolve_paths(out, parent_path) if parent_path else out
        enabled = [c for c in parent[key] if not c.get("disabled", False)]
        parent[key] = enabled[0] if enabled else parent[key][0]
        parent[key].pop("disabled", None)
    _strip(out)
    return out


def _later_alternative(space: SearchSpace, at: str) -> bool:
    """A plain run enables the first alternative of each list: is ``at`` a later one?"""
    return any(at.startswith(lst + "[") and at != f"{lst}[0]" for lst in space.alternatives)


def _strip(node: Any) -> None:
    """Drop Clara's ``search`` and ``apply`` keys everywhere."""
    if isinstance(node, dict):
        node.pop("search", None)
        node.pop("apply", None)
        for v in node.values():
            _strip(v)
    elif isinstance(node, list):
        for v in node:
            _strip(v)


def plain_config(raw: dict[str, Any], file: str) -> tuple[dict[str, Any], list[CompatNote]]:
    """``raw`` unchanged when it has no search space, else its plain-run form and a note.

    Args:
        raw: the training config as loaded JSON.
        file: its path relative to the MMAR, for messages.

    Raises:
        ErrorGroup: every problem of the search blocks, alternatives and switches.
    """
    space = parse_space(raw, file=file)
    if space.problems:
        raise ErrorGroup.of(space.problems)
    if not space and not space.alternatives:
        return raw, []
    lists = ", ".join(f"{k} ({n})" for k, n in space.alternatives.items()) or "none"
    note = CompatNote(
        file=file,
        path="search",
        old=f"Clara AutoML search space: {len(space.params)} search block(s), "
        f"lists of alternatives: {lists}",
        new="first alternative of each list, the config's default values",
        reason="a plain run trains one configuration; task=automl runs the search "
        "(Clara's medl.apps.automl; README 'Clara AutoML')",
    )
    return apply_sample(raw, space, {}), [note]
