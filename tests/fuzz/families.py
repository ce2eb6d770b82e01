"""Every family by name (the order of the report): the JSON families, then the files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzz.cases import Case, Ctx
from fuzz.code_families import code_strings, components
from fuzz.file_families import checkpoints, datalists, environment, nifti, symlinks
from fuzz.json_families import json_keys, values
from fuzz.wiring_families import refs, variables

__all__ = ["FAMILIES"]

FAMILIES: dict[str, Callable[[Any, Ctx], Case]] = {
    "keys": json_keys,
    "values": values,
    "refs": refs,
    "variables": variables,
    "components": components,
    "code strings": code_strings,
    "checkpoints": checkpoints,
    "nifti": nifti,
    "datalists": datalists,
    "symlinks": symlinks,
    "environment": environment,
}
