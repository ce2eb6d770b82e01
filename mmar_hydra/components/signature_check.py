"""Check a component's args against its constructor before anything is built.

Building a CacheDataset or a network can take minutes; a typo in the last transform must
not wait that long. Every component is checked first (as torchtune's ``config.validate``
does), and the error names the component, the JSON path and what the class accepts.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from mmar_hydra.errors import ComponentError, json_path

__all__ = ["check_args", "signature_of"]


def signature_of(target: Any) -> inspect.Signature | None:
    """The constructor signature of a class (or a function's own); None if unknowable."""
    try:
        if inspect.isclass(target):
            return inspect.signature(target.__init__)
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def check_args(
    target: Any,
    args: Mapping[str, Any],
    *,
    component: str,
    where: str = "",
    file: str | None = None,
    provided: Iterable[str] = (),
) -> None:
    """Raise ComponentError for an unknown argument or a missing required one."""
    sig = signature_of(target)
    if sig is None:
        return
    params = {n: p for n, p in sig.parameters.items() if n not in ("self", "cls")}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if not accepts_any:
        for key in args:
            if key not in params:
                close = difflib.get_close_matches(key, named, n=1)
                raise ComponentError(
                    f"{component} has no argument '{key}'",
                    file=file,
                    path=json_path(where, "args", key),
                    expected=f"{component} accepts: {', '.join(named) or '(no arguments)'}",
                    fix=f"did you mean '{close[0]}'?" if close else f"remove '{key}'",
                )
    given = set(args) | set(provided)
    missing = [
        n
        for n, p in params.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in given
    ]
    if missing:
        raise ComponentError(
            f"{component} is missing required argument{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"'{m}'" for m in missing),
            file=file,
            path=json_path(where, "args"),
            expected=f"{component} requires: {', '.join(missing)}",
            fix="add " + ", ".join(f'"{m}": ...' for m in missing) + " to its args",
        )
