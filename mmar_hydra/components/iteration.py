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
from typing import Any

from mmar_hydra.errors import ConfigError, json_path

__all__ = ["build_iteration", "ITERATION_KEY"]

ITERATION_KEY = "iteration"


def build_iteration(
    spec: Mapping[str, Any],
    where: str,
    *,
    component: Callable[[Mapping[str, Any], str], Any],
    compose: Callable[[list[tuple[str, dict[str, Any]]], str], Any],
    enabled: Callable[[Mapping[str, Any]], bool],
    file: str | None = None,
) -> Any:
    """The Interaction of ``spec``, with its ``args.transforms`` built into a ``Compose``.

    Args:
        spec: the ``iteration`` component as written (name/path/args).
        where: its JSON path, for messages.
        component: the section resolver's ``component(spec, where)`` (builds one, records
            problems).
        compose: the section resolver's transform-list builder, ``(items, where)``.
        enabled: whether a list item is switched on (the resolver's ``disabled`` rule).
        file: the config file, for messages.
    """
    args = spec.get("args") or {}
    transforms = args.get("transforms") if isinstance(args, Mapping) else None
    if not isinstance(transforms, list):
        return component(spec, where)
    at = json_path(where, "args", "transforms")
    items = []
    for i, item in enumerate(transforms):
        if not isinstance(item, Mapping):
            raise ConfigError(
                "an iteration transform is not a component",
                file=file,
                path=json_path(at, i),
                expected='{"name": "Activationsd", "args": {...}} (or with "path")',
                fix="write the transform as an object with its name and args, or remove it",
            )
        if enabled(item):
            items.append((json_path(at, i), dict(item)))
    built = compose(items, at)
    return component({**spec, "args": {**args, "transforms": built}}, where)
