"""Clara variables (``{NAME}``) as OmegaConf interpolations (``${NAME}``).

Clara substituted ``{NAME}`` with a global or environment variable; a string that is exactly
one variable kept the variable's type. OmegaConf interpolation has the same semantics, and
once the MMAR is a Hydra config, command-line overrides of a global reach every use of it.
That gives Clara's precedence for free: config globals < environment.json < command line.

OmegaConf reads ``${`` as the start of an interpolation, ``\\${`` as a literal ``${`` and
``\\\\${`` as a literal backslash followed by an interpolation, so backslashes right before a
``${`` are doubled and literal ``${`` are escaped; everything else is left byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mmar_hydra.errors import json_path
from mmar_hydra.reader.dialect import COMPONENT_KEYS

__all__ = [
    "SECTION_KEYS",
    "split_globals",
    "merge_variables",
    "to_interpolations",
    "escape_literal",
    "find_variables",
    "variable_uses",
    "undefined_variables",
]

# top-level keys that are sections, not global variables (flat configs have no train/validate)
SECTION_KEYS: tuple[str, ...] = ("train", "validate", *COMPONENT_KEYS)
_TRAIN_SECTIONS = ("train", "validate")

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# backslashes, then either a literal "${" or a Clara "{NAME}" (the "${" branch wins, so a
# "{NAME}" right after "$" is never taken for a Clara variable)
_CLARA = re.compile(r"(\\*)(\$\{|\{(" + _NAME + r")\})")
_LITERAL = re.compile(r"(\\*)\$\{")
# an OmegaConf interpolation of a plain name, not escaped (an even number of backslashes)
_INTERPOLATION = re.compile(r"(?<!\\)((?:\\\\)*)\$\{(" + _NAME + r")\}")


def split_globals(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(globals, sections) of a raw config.

    A training config's sections are ``train`` and ``validate`` (everything else at the top
    level is a global, ``model`` included if someone wrote one there); a flat config's
    sections are its component keys.
    """
    section_keys = _TRAIN_SECTIONS if "train" in config else SECTION_KEYS
    globals_ = {k: v for k, v in config.items() if k not in section_keys}
    sections = {k: v for k, v in config.items() if k in section_keys}
    return globals_, sections


def merge_variables(
    globals_: Mapping[str, Any], env: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Clara's precedence, lowest first: ``defaults`` < config globals < environment.json."""
    return {**defaults, **globals_, **env}


def escape_literal(text: str) -> str:
    """Escape every ``${`` so OmegaConf keeps it as text (``a${b}`` -> ``a\\${b}``)."""
    return _LITERAL.sub(lambda m: m.group(1) * 2 + "\\${", text)


def _convert(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        slashes = m.group(1) * 2  # keep them literal in front of what follows
        if m.group(3) is None:
            return slashes + "\\${"
        return slashes + "${" + m.group(3) + "}"

    return _CLARA.sub(repl, text)


def to_interpolations(obj: Any) -> Any:
    """A copy of ``obj`` with every ``{NAME}`` turned into ``${NAME}`` and literal ``${`` escaped.

    Keys are left alone: OmegaConf does not interpolate keys.
    """
    if isinstance(obj, str):
        return _convert(obj)
    if isinstance(obj, Mapping):
        return {k: to_interpolations(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_interpolations(v) for v in obj]
    return obj


def _strings(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(v, json_path(path, str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, json_path(path, i))


def variable_uses(obj: Any) -> dict[str, list[str]]:
    """Variables used in an interpolated config: name -> JSON paths of its uses, in order."""
    uses: dict[str, list[str]] = {}
    for path, text in _strings(obj, ""):
        for _, name in _INTERPOLATION.findall(text):
            uses.setdefault(name, []).append(path)
    return uses


def find_variables(obj: Any) -> set[str]:
    """Names of the variables an interpolated config (``to_interpolations`` output) uses."""
    return set(variable_uses(obj))


def undefined_variables(
    config: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """Variables used but defined neither at the config's top level nor in ``extra``.

    ``read_mmar`` does not raise for these (the command line may still set them); the CLI
    reports them with the JSON paths of their uses.
    """
    defined = set(config) | set(extra or {})
    return {k: v for k, v in variable_uses(config).items() if k not in defined}
