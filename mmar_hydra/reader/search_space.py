"""Clara AutoML search space: the ``search`` blocks of a ``trn_autoML_*.json``, as parameters.

Clara's syntax (medl.apps.automl), one block = one parameter:

- ``{"type": "float", "args": [a], "targets": [lo, hi]}``: a float range;
- ``{"type": "enum", "args": [a, b], "targets": [[va, vb], [va2, vb2]]}``: a choice of rows.

Where a block sits says what each arg binds to: at the top level a plain name is a global
variable (``learning_rate``) or, when some component says ``"apply": {"@disabled": name}``,
a switch; ``@name`` is always a switch. On a component, ``arg`` is one of its ``args``,
``arg#tag`` also shares the value with components that say ``"apply": {arg: tag}``, and
``@disabled`` switches the component itself.

:func:`parse_space` returns every parameter and every problem at once (``task=check``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, json_path
from mmar_hydra.mmar.keys import SINGLE_KEYS

__all__ = ["Binding", "SearchParam", "SearchSpace", "parse_space", "walk_components"]


@dataclass(frozen=True)
class Binding:
    """Where one value of a parameter goes.

    Args:
        kind: ``global`` (a top-level variable), ``switch`` (an ``apply`` ``@disabled`` name),
            ``arg`` (a component argument) or ``disabled`` (a component's own switch).
        target: the variable / switch name, or the component's JSON path.
        arg: the argument name for ``arg``; ``tag`` shares it with ``apply`` users.
    """

    kind: str
    target: str
    arg: str = ""
    tag: str = ""


@dataclass(frozen=True)
class SearchParam:
    """One search block.

    Args:
        name: a Hydra-safe parameter name, unique in the space.
        type: ``float`` or ``enum``.
        domain: Clara's domain label (``lr``, ``transform``, ``net``...).
        bindings: one per ``args`` entry.
        low, high: the float range.
        choices: the enum rows (one value per binding).
        where: JSON path of the block.
    """

    name: str
    type: str
    domain: str
    bindings: tuple[Binding, ...]
    low: float = 0.0
    high: float = 0.0
    choices: tuple[tuple[Any, ...], ...] = ()
    where: str = ""

    def hydra_value(self) -> str:
        """The Optuna sweeper's override grammar: ``interval(lo,hi)`` or ``choice(0,1,..)``."""
        if self.type == "float":
            return f"interval({float(self.low)},{float(self.high)})"
        return "choice(" + ",".join(str(i) for i in range(len(self.choices))) + ")"

    def default(self) -> Any:
        """What a plain run uses: the config's value is kept, so the enum row 0 / range low."""
        return 0 if self.type == "enum" else float(self.low)


@dataclass
class SearchSpace:
    """All parameters of a config, the switch users and the problems found."""

    params: list[SearchParam] = field(default_factory=list)
    switch_users: dict[str, list[str]] = field(default_factory=dict)  # switch -> JSON paths
    tag_users: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # tag -> (path, arg)
    alternatives: dict[str, int] = field(default_factory=dict)  # JSON path of a list -> length
    problems: list[ConfigError] = field(default_factory=list)

    def hydra_params(self, prefix: str = "automl") -> dict[str, str]:
        """``hydra.sweeper.params`` entries, one per search block."""
        return {f"+{prefix}.{p.name}": p.hydra_value() for p in self.params}

    def __bool__(self) -> bool:
        return bool(self.params)


def walk_components(config: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON path, dict) of every component-like mapping (``name`` or ``path``), depth first."""
    if isinstance(config, Mapping):
        if where and ("name" in config or "path" in config):
            yield where, config  # type: ignore[misc]
        for key, value in config.items():
            if key not in ("search", "apply", "args"):
                yield from walk_components(value, json_path(where, key))
    elif isinstance(config, list):
        for i, item in enumerate(config):
            yield from walk_components(item, json_path(where, i))


def _alternative_lists(config: Any, where: str = "") -> Iterator[tuple[str, list[Any]]]:
    """Lists under single-component keys (``loss: [...]``): Clara's lists of alternatives."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            at = json_path(where, key)
            if key in (*SINGLE_KEYS, "model") and isinstance(value, list) and where:
                yield at, value
            elif key not in ("search", "apply", "args"):
                yield from _alternative_lists(value, at)


def parse_space(config: Mapping[str, Any], *, file: str | Path | None = None) -> SearchSpace:
    """Read every ``search`` block and ``apply`` reference, validating them together.

    Args:
        config: the training config as loaded JSON.
        file: the config file, for messages.
    """
    space = SearchSpace()
    comps = list(walk_components(config))
    for at, comp in comps:
        apply = comp.get("apply") or {}
        if not isinstance(apply, Mapping):
            space.problems.append(
                _err(
                    "'apply' must be an object",
                    file,
                    at,
                    "apply",
                    expected=_APPLY,
                    fix="write apply as an object",
                )
            )
            continue
        for arg, ref in apply.items():
            if arg == "@disabled":
                space.switch_users.setdefault(str(ref), []).append(at)
            else:
                space.tag_users.setdefault(str(ref), []).append((at, str(arg)))
    for at, items in _alternative_lists(config):
        if not items or not all(isinstance(item, Mapping) for item in items):
            what = f"{at} is a list, but not of components (alternatives)"
            fix = "write one component, or a list of alternative components"
            space.problems.append(_err(what, file, at, expected='[{"name": ...}, ...]', fix=fix))
            continue
        space.alternatives[at] = len(items)
    blocks: list[tuple[str, Mapping[str, Any] | None, Any]] = [("", None, config.get("search"))]
    blocks += [(at, comp, comp.get("search")) for at, comp in comps]
    seen_tags: set[str] = set()
    for at, comp, search in blocks:  # type: ignore[assignment]
        if search is None:
            continue
        if not isinstance(search, list):
            space.problems.append(
                _err(
                    "'search' must be a list of blocks",
                    file,
                    at,
                    "search",
                    expected=_BLOCKS,
                    fix="write search as a list of blocks",
                )
            )
            continue
        for i, block in enumerate(search):
            param = _param(space, block, at, comp, i, file, seen_tags)
            if param is not None:
                space.params.append(param)
    _check_switches(space, file)
    _check_tags(space, seen_tags, file)
    return space


_BLOCK = '{"type": "float" | "enum", "args": [...], "targets": ...}'
_BLOCKS = f"[{_BLOCK}, ...]"
_APPLY = '{"@disabled": "<switch>"} or {"<arg>": "<tag>"}'


def _err(what: str, file: Any, at: str, *tail: str | int, expected: str = "", fix: str = ""):
    return ConfigError(
        what, file=file, path=json_path(at, *tail), expected=expected or None, fix=fix or None
    )


def _param(space, block, at, comp, i, file, seen_tags) -> SearchParam | None:
    where = json_path(at, "search", i)
    problem = _block_problem(block, file, where)
    if problem is not None:
        space.problems.append(problem)
        return None
    bindings = []
    for a in block["args"]:
        b = _binding(space, str(a), at, comp, where, file)
        if b is None:
            return None
        if b.tag:
            seen_tags.add(b.tag)
        bindings.append(b)
    kind = block["type"]
    parsed = _targets(kind, block.get("targets"), len(bindings), file, where)
    if isinstance(parsed, ConfigError):
        space.problems.append(parsed)
        return None
    low, high, choices = parsed
    base = "_".join(b.tag or b.arg or b.target for b in bindings).lstrip("@").replace("#", "_")
    name = f"p{len(space.params)}_{base}".replace(".", "_").replace("[", "_").replace("]", "")
    domain = str(block.get("domain", ""))
    return SearchParam(name, kind, domain, tuple(bindings), low, high, choices, where)


def _block_problem(block: Any, file, where: str) -> ConfigError | None:
    """What makes a search block unusable before its args are bound: not an object, an
    unknown ``type``, no ``args``."""
    if not isinstance(block, Mapping):
        return _err(
            "a search block must be an object",
            file,
            where,
            expected=_BLOCK,
            fix="write the block as an object",
        )
    kind, args = block.get("type"), block.get("args")
    if kind not in ("float", "enum"):
        return _err(
            f"search type {kind!r} is unknown",
            file,
            where,
            "type",
            expected="float | enum",
            fix='use "float" (a range) or "enum" (listed values)',
        )
    if not isinstance(args, list) or not args:
        return _err(
            "'args' must list what is searched",
            file,
            where,
            "args",
            expected=_BLOCK,
            fix="list the searched names in args",
        )
    return None


def _targets(
    kind: str, targets: Any, n_args: int, file, where: str
) -> tuple[float, float, tuple[tuple[Any, ...], ...]] | ConfigError:
    """``(low, high, choices)`` of a float range or an enum's rows, or the error."""
    if kind == "float":
        ok = isinstance(targets, list) and len(targets) == 2 and n_args == 1
        ok = ok and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in targets)
        if not ok or float(targets[0]) > float(targets[1]):
            return _err(
                "a float search needs one arg and targets [low, high]",
                file,
                where,
                "targets",
                expected="[low, high] with low <= high",
                fix="give one arg and targets [low, high]",
            )
        return float(targets[0]), float(targets[1]), ()
    rows = targets if isinstance(targets, list) else []
    if not rows or not all(isinstance(r, list) and len(r) == n_args for r in rows):
        return _err(
            f"enum targets must be rows of {n_args} value(s)",
            file,
            where,
            "targets",
            expected=f"[[v1..v{n_args}], ...]",
            fix="write one row per choice, with one value per arg",
        )
    return 0.0, 0.0, tuple(tuple(r) for r in rows)


def _binding(space, arg: str, at: str, comp, where: str, file) -> Binding | None:
    if comp is None:  # top level
        name = arg.lstrip("@")
        if arg.startswith("@") or name in space.switch_users:
            return Binding("switch", name)
        return Binding("global", arg)
    if arg == "@disabled":
        return Binding("disabled", at)
    name, _, tag = arg.partition("#")
    if name not in (comp.get("args") or {}):
        space.problems.append(
            _err(
                f"'{name}' is not an argument of {comp.get('name') or comp.get('path')}",
                file,
                where,
                "args",
                expected=f"one of {sorted(comp.get('args') or {})}",
                fix="search an argument the component has, or add it to its args",
            )  # fmt: skip
        )
        return None
    return Binding("arg", at, name, tag)


def _check_switches(space: SearchSpace, file) -> None:
    searched = {b.target for p in space.params for b in p.bindings if b.kind == "switch"}
    for switch, users in space.switch_users.items():
        if switch not in searched:
            space.problems.append(
                _err(
                    f"'@disabled' switch '{switch}' is set by no search block",
                    file,
                    users[0],
                    "apply",
                    expected=f"a top-level enum search over '@{switch}'",
                    fix=f"add '{switch}' to a top-level enum search",
                )  # fmt: skip
            )
    for switch in searched - set(space.switch_users):
        space.problems.append(
            _err(
                f"search switch '{switch}' is used by no component",
                file,
                "search",
                expected="each searched switch named by an alternative's apply.@disabled",
                fix=f'give one alternative "apply": {{"@disabled": "{switch}"}}',
            )  # fmt: skip
        )
    for lst, n in space.alternatives.items():
        by_switch = {
            s: [u for u in us if u.startswith(lst + "[")] for s, us in space.switch_users.items()
        }
        for switch, paths in by_switch.items():
            if len(paths) > 1:
                space.problems.append(
                    _err(
                        f"switch '{switch}' is used by {len(paths)} alternatives of {lst}",
                        file,
                        paths[1],
                        "apply",
                        expected="each @disabled switch on exactly one alternative",
                        fix="give each alternative its own switch",
                    )  # fmt: skip
                )
        switched = sum(1 for p in by_switch.values() if p)
        if switched != n:
            space.problems.append(
                _err(
                    f"{n - switched} of the {n} alternatives have no '@disabled' switch",
                    file,
                    lst,
                    expected="every alternative switched by a search enum",
                    fix='give each alternative "apply": {"@disabled": "<switch>"}',
                )  # fmt: skip
            )
    _check_exactly_one(space, file)


def _check_exactly_one(space: SearchSpace, file) -> None:
    """Every enum row of a list's switches must enable exactly one alternative."""
    for p in space.params:
        idx = {b.target: k for k, b in enumerate(p.bindings) if b.kind == "switch"}
        for lst in space.alternatives:
            mine = {s: k for s, k in idx.items()
                    if any(u.startswith(lst + "[") for u in space.switch_users.get(s, []))}  # fmt: skip
            if not mine:
                continue
            for r, row in enumerate(p.choices):
                enabled = sum(1 for k in mine.values() if not bool(row[k]))
                if enabled != 1:
                    space.problems.append(
                        _err(
                            f"enum row {r} enables {enabled} alternatives of {lst}",
                            file,
                            p.where,
                            "targets",
                            r,
                            expected="exactly one false (enabled) switch",
                            fix="make exactly one of the row's switches false",
                        )  # fmt: skip
                    )


def _check_tags(space: SearchSpace, seen_tags: set[str], file) -> None:
    for tag, users in space.tag_users.items():
        if tag not in seen_tags:
            space.problems.append(
                _err(
                    f"'apply' tag '{tag}' names no 'arg#{tag}' search target",
                    file,
                    users[0][0],
                    "apply",
                    expected=f"a search arg '<arg>#{tag}' on a component",
                    fix=f"search '<arg>#{tag}' on a component",
                )  # fmt: skip
            )
