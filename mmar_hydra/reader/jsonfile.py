"""Strict JSON loading for MMAR files.

Clara's files are hand-edited, so syntax errors must say file, line and column; duplicate
keys are refused because Python's json silently keeps the last one, which is rarely what the
author meant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = ["load_json"]


def _no_duplicates(path: Path):  # noqa: ANN202 - json object_pairs_hook
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(
                    f"duplicate key '{key}' in one JSON object",
                    file=path,
                    path=key,
                    expected="each key once per object",
                    fix=f"remove one of the '{key}' entries (JSON keeps only the last one)",
                )
            out[key] = value
        return out

    return hook


def load_json(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """Load a JSON object from ``path`` with clear errors (missing, syntax, duplicates, type)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{what} not found",
            file=path,
            expected=f"an existing {what}",
            fix="check the path (relative paths resolve against the MMAR root)",
        )
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates(path))
    except json.JSONDecodeError as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno <= len(text.splitlines()) else ""
        raise ConfigError(
            f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            file=path,
            expected="valid JSON (no trailing commas, double-quoted keys and strings)",
            fix=f"fix line {exc.lineno}: {line.strip()[:80]!r}",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"the {what} holds a JSON {type(data).__name__}, not an object",
            file=path,
            expected="a JSON object { ... } at the top level",
        )
    return data
