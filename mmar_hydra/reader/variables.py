"""Clara variables (``{NAME}``) as OmegaConf interpolations (``${NAME}``).

Clara substituted ``{NAME}`` with a global or environment variable; a string that is exactly
one variable kept the variable's type. OmegaConf interpolation has the same semantics, and
once the MMAR is a Hydra config, command-line overrides of a global reach every use of it.
That gives Clara's precedence for free: config globals < environment.json < command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mmar_hydra.errors import json_path

__all__ = [
    "VARIABLE",
    "to_interpolations",
    "escape_literal",
    "find_variables",
    "undefined_variables",
]

VARIABLE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def escape_literal(text: str) -> str:
    """Escape ``${`` so a literal in an MMAR string is not taken for an OmegaConf interpolation."""
    return text.replace("${", "\\${")


def _convert(text: str) -> str:
    return VARIABLE.sub(lambda m: "${" + m.group(1) + "}", escape_literal(text))


def to_interpolations(obj: Any) -> Any:
    """A copy of ``obj`` with every ``{NAME}`` turned into ``${NAME}`` (keys are left alone)."""
    if isinstance(obj, str):
        return _convert(obj)
    if isinstance(obj, Mapping):
        return {k: to_interpolations(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_interpolations(v) for v in obj]
    return obj


def _walk(obj: Any, path: str):  # noqa: ANN202 - generator of (path, str)
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _walk(v, json_path(path, str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, json_path(path, i))


_INTERPOLATION = re.compile(r"(?<!\\)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def find_variables(obj: Any) -> dict[str, list[str]]:
    """Variables used in an interpolated config: name -> JSON paths of its uses."""
    uses: dict[str, list[str]] = {}
    for path, text in _walk(obj, ""):
        for name in _INTERPOLATION.findall(text):
            uses.setdefault(name, []).append(path)
    return uses


def undefined_variables(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Variables an interpolated config uses but does not define at its top level."""
    return {k: v for k, v in find_variables(config).items() if k not in config}
