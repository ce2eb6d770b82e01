"""Shapes a component spec's values must have before the resolver uses them.

A config from a stranger can put anything anywhere: ``"args": 7``, ``"@ dataset"``,
``"rank": "x"``. Each check here turns such a value into one clean :class:`ConfigError`
(what, where, expected, fix) instead of a ``TypeError`` deep in the walk or the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmar_hydra.errors import ConfigError, json_path, json_type

__all__ = ["spec_args", "reference_name", "handler_rank"]


def spec_args(spec: Mapping[str, Any], where: str, file: str | None) -> Mapping[str, Any]:
    """A component's ``args`` as written: an object, or ``{}`` when absent."""
    args = spec.get("args")
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise ConfigError(
            f"the component's args are a JSON {json_type(args)}, not an object",
            file=file,
            path=json_path(where, "args"),
            expected='"args": {"name": value, ...}',
            fix="write the arguments as a JSON object keyed by argument name",
        )
    return args


def reference_name(text: str, where: str, file: str | None) -> str:
    """The name of an ``"@name"`` reference; a malformed one (``"@ dataset"``) is an error
    rather than a string handed on to the component."""
    if not text[1:].isidentifier():
        raise ConfigError(
            f"{text[:80]!r} is not a reference",
            file=file,
            path=where,
            expected="@ + the key of a component, e.g. @model, @dataset",
            fix="correct the reference (no spaces, dots or other characters)",
        )
    return text[1:]


def handler_rank(value: Any, where: str, file: str | None) -> int:
    """A handler's ``rank`` (Clara: the one process that runs it)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"rank {str(value)[:40]!r} is not a process number",
            file=file,
            path=json_path(where, "rank"),
            expected="an integer such as 0 (the process that runs this handler)",
            fix='write "rank": 0, or remove it to run the handler on every process',
        ) from None
