"""Evaluation handlers that run as ignite handlers (see ``engine.ignite_bridge``).

Most Clara handlers are mapped by the engine to Lightning pieces and never built. The ones
named in :data:`RUN_AS_IGNITE` have no Lightning counterpart and are run as they are: in
a flat (validation / inference) config, the resolver builds them -- class, signature
check, prepared args, constructor -- in both check and build walks (check stops before
the constructor), and the evaluation loop drives them through an ignite engine.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import ComponentError, MMARError

__all__ = ["RUN_AS_IGNITE", "runs_as_ignite", "build_ignite_handler"]

# short class names of handlers run as ignite handlers inside the evaluation loop
RUN_AS_IGNITE = ("ProbMapProducer",)


def runs_as_ignite(name: str) -> bool:
    """``name`` (short or qualified) is a handler the evaluation loop runs itself."""
    return name.rsplit(".", 1)[-1] in RUN_AS_IGNITE


def build_ignite_handler(
    cls: Any,
    args: dict[str, Any],
    *,
    label: str,
    where: str,
    file: str | None,
    instantiate: bool,
) -> Any:
    """The handler object (build), None (check, or a handler the engine maps instead)."""
    if cls is None or not runs_as_ignite(label):
        return None
    check_args(cls, args, component=label, where=where, file=file)
    if not instantiate:
        return None
    try:
        return cls(**args)
    except MMARError:
        raise
    except Exception as exc:  # noqa: BLE001 - any constructor failure is the config's
        raise ComponentError(
            f"building {label} failed: {type(exc).__name__}: {exc}",
            file=file,
            path=where,
            expected="arguments this handler accepts",
            fix="check the handler's args",
        ) from exc
