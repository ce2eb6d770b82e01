"""A search config read for a plain run (``task=train`` / ``check``): validated, then defaulted.

Every search target and alternative is checked at once (an :class:`ErrorGroup`); a valid
space becomes the first alternative of each list with the config's own values, and a note
says the file holds a search space.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.automl.apply import apply_sample
from mmar_hydra.automl.space import parse_space
from mmar_hydra.errors import ErrorGroup
from mmar_hydra.reader.compat import CompatNote

__all__ = ["plain_config"]


def plain_config(raw: dict[str, Any], file: str) -> tuple[dict[str, Any], list[CompatNote]]:
    """``raw`` unchanged when it has no search space, else its plain-run form and a note.

    Args:
        raw: the training config as loaded JSON.
        file: its path relative to the MMAR, for messages.

    Raises:
        ErrorGroup: every problem of the search blocks, alternatives and switches.
    """
    space = parse_space(raw, file=file)
    if space.problems:
        raise ErrorGroup.of(space.problems)
    if not space and not space.alternatives:
        return raw, []
    lists = ", ".join(f"{k} ({n})" for k, n in space.alternatives.items()) or "none"
    note = CompatNote(
        file=file,
        path="search",
        old=f"Clara AutoML search space: {len(space.params)} search block(s), "
        f"lists of alternatives: {lists}",
        new="first alternative of each list, the config's default values",
        reason="a plain run trains one configuration; task=automl runs the search "
        "(Clara's medl.apps.automl; README 'Clara AutoML')",
    )
    return apply_sample(raw, space, {}), [note]
