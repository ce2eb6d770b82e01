"""The ``iteration`` section: Clara's ``iteration_update``, deepgrow's click simulation.

Deepgrow MMARs give the engine an ``iteration`` component, an Interaction (MONAI's
``monai.apps.deepgrow.interaction.Interaction`` or the MMAR's custom ``ClickInteraction``)
whose ``transforms`` arg is a list of component specs. Clara's Interaction imported those
by name itself (``importlib.import_module`` of whatever the JSON said); here the list is
built by the resolver like any transform list -- registry, allowlist, signature check --
and the Interaction gets the ready ``Compose``, which every version of it accepts as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mmar_hydra.errors import ConfigError, json_path

if TYPE_CHECKING:
    from mmar_hydra.components.resolver import Resolver

__all__ = ["build_iteration", "ITERATION_KEY"]

ITERATION_KEY = "iteration"


def build_iteration(
    resolver: Resolver,
    spec: Mapping[str, Any],
    where: str,
    enabled: Callable[[Mapping[str, Any]], bool],
) -> Any:
    """The Interaction of ``spec``, with its ``args.transforms`` built into a ``Compose``.

    Args:
        resolver: the section's resolver (builds each transform, records problems).
        spec: the ``iteration`` component as written (name/path/args).
        where: its JSON path, for messages.
        enabled: whether a list item is switched on (the resolver's ``disabled`` rule).
    """
    args = spec.get("args") or {}
    transforms = args.get("transforms") if isinstance(args, Mapping) else None
    if not isinstance(transforms, list):
        return resolver.component(spec, where)
    at = json_path(where, "args", "transforms")
    items = []
    for i, item in enumerate(transforms):
        if not isinstance(item, Mapping):
            raise ConfigError(
                "an iteration transform is not a component",
                file=resolver.file,
                path=json_path(at, i),
                expected='{"name": "Activationsd", "args": {...}} (or with "path")',
                fix="write the transform as an object with its name and args, or remove it",
            )
        if enabled(item):
            items.append((json_path(at, i), dict(item)))
    compose = resolver._compose(items, at)
    return resolver.component({**spec, "args": {**args, "transforms": compose}}, where)
