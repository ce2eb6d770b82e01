"""Check a component's args against its constructor before anything is built.

Building a CacheDataset or a network can take minutes; a typo in the last transform must
not wait that long. Every component is checked first (as torchtune's ``config.validate``
does), and the error names the component, the JSON path, the bad key and what the class
accepts.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from mmar_hydra.errors import ComponentError, json_path

__all__ = ["check_args", "signature_of", "check_int", "MAX_ARG_INT"]

# no argument of a component an MMAR builds needs a number beyond 32 bits (epochs, sizes,
# counts, channels, seeds); a larger one is a corrupt or hostile file, and MONAI would spend
# hours on it (RandCropByPosNegLabeld with num_samples=2**31 loops that many times)
MAX_ARG_INT = 2**31 - 1

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def signature_of(target: Any) -> inspect.Signature | None:
    """The constructor signature of a class, or a function's own; None when unknowable.

    ``inspect.signature`` follows ``__wrapped__``, so MONAI's decorated ``__init__`` methods
    (``deprecated_arg``...) report the real parameters. For a class, the class signature and
    ``__init__``'s can disagree: MONAI's ``MapTransform.__new__(*args, **kwargs)`` hides
    ``keys``, while ``object.__init__`` hides that a class takes no arguments; the more
    specific of the two is used.
    """
    candidates = [target, target.__init__] if inspect.isclass(target) else [target]
    found: list[inspect.Signature] = []
    for candidate in candidates:
        try:
            sig = inspect.signature(candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        params = [p for n, p in sig.parameters.items() if n not in ("self", "cls")]
        found.append(sig.replace(parameters=params))
    specific = [s for s in found if not _variadic_only(s)]
    chosen = specific or found
    return chosen[0] if chosen else None


def _variadic_only(sig: inspect.Signature) -> bool:
    """``(*args, **kwargs)``: says nothing about what is accepted."""
    kinds = {p.kind for p in sig.parameters.values()}
    return bool(kinds) and kinds <= {
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.VAR_KEYWORD,
    }


def check_args(
    target: Any,
    args: Mapping[str, Any],
    *,
    component: str,
    where: str = "",
    file: str | None = None,
    provided: Iterable[str] = (),
) -> None:
    """Raise ComponentError for unknown arguments or a missing required one.

    Args:
        target: the class (its ``__init__`` is checked) or function.
        args: the component's ``args`` as written (values are not checked, only names).
        component: the name users know it by, e.g. ``UNet``.
        where: the component's JSON path (``train.model``); errors point at ``where.args.key``.
        provided: names the builder fills in itself (``params``, ``optimizer``, ``data``...).
    """
    sig = signature_of(target)
    if sig is None:
        return
    params = sig.parameters
    named = [n for n, p in params.items() if p.kind in _NAMED]
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in args if k not in named]
        if unknown:
            raise _unknown_args(unknown, named, component, where, file)
    given = set(args) | set(provided)
    missing = [
        n for n, p in params.items() if p.kind in _NAMED and p.default is p.empty and n not in given
    ]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ComponentError(
            f"{component} is missing required argument{plural} "
            + ", ".join(f"'{m}'" for m in missing),
            file=file,
            path=json_path(where, "args"),
            expected=f"{component} requires: {', '.join(missing)}",
            fix="add " + ", ".join(f'"{m}": ...' for m in missing) + " to its args",
        )


def _unknown_args(
    unknown: list[str], named: list[str], component: str, where: str, file: str | None
) -> ComponentError:
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), named, n=1)
        hints.append(f"did you mean '{close[0]}' for '{key}'?" if close else f"remove '{key}'")
    if len(unknown) == 1:
        what = f"{component} has no argument '{unknown[0]}'"
        fix = hints[0].replace(f" for '{unknown[0]}'", "")
    else:
        what = f"{component} has no arguments " + ", ".join(f"'{k}'" for k in unknown)
        fix = "; ".join(hints)
    return ComponentError(
        what,
        file=file,
        path=json_path(where, "args", str(unknown[0])),
        expected=f"{component} accepts: {', '.join(named) or '(no arguments)'}",
        fix=fix,
    )


def check_int(value: int, *, where: str, file: str | None) -> None:
    """Refuse an integer argument beyond :data:`MAX_ARG_INT` in size."""
    if abs(value) > MAX_ARG_INT:
        digits = len(str(abs(value)))
        raise ComponentError(
            f"the number at {where} has {digits} digits: larger than any argument needs",
            file=file,
            path=where,
            expected=f"an integer between -{MAX_ARG_INT} and {MAX_ARG_INT}",
            fix="use a realistic value; the file may be corrupt or not meant for this MMAR",
        )
