"""Evaluation handlers that run as ignite handlers (see ``engine.ignite_bridge``).

Most Clara handlers are mapped by the engine to Lightning pieces and never built. Two kinds
have no Lightning counterpart and are run as they are, as ignite handlers inside the loop of
their section (``task=validate`` / ``task=infer``, the validation during training, and a
training config's ``train`` handlers in the training loop):

- the library handlers named in :data:`RUN_AS_IGNITE` (MONAI's ``ProbMapProducer``);
- a trusted MMAR's own ``custom/`` handlers (deepgrow's ``DeepgrowStatsHandler`` and
  ``SegmentationSaver``, the whole-slide ``ProbMapSaver``): code the MMAR ships, imported
  only with ``allow_code=true``.

The resolver builds them -- class, signature check, prepared args, constructor -- in both
check and build walks (check stops before the constructor).
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.components.custom_compat import is_custom_class
from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import ComponentError, MMARError

__all__ = ["RUN_AS_IGNITE", "runs_as_ignite", "build_ignite_handler"]

# short class names of library handlers run as ignite handlers inside the evaluation loop
RUN_AS_IGNITE = ("ProbMapProducer",)


def runs_as_ignite(name: str, cls: Any = None) -> bool:
    """``name`` (short or qualified) / ``cls`` is a handler the evaluation loop runs itself."""
    return name.rsplit(".", 1)[-1] in RUN_AS_IGNITE or is_custom_class(cls)


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
    if cls is None or not runs_as_ignite(label, cls):
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
