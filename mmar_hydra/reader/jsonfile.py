"""Strict JSON loading for MMAR files.

Clara's files are hand-edited, so syntax errors must say file, line and column; duplicate
keys are refused because Python's json silently keeps the last one (and Hydra's YAML loader
would refuse the file), which is rarely what the author meant. Nesting deeper than
:data:`MAX_DEPTH` is refused too: real MMARs nest at most 8 levels, and everything after the
reader (OmegaConf, Hydra, the resolver) walks configs recursively.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, json_path
from mmar_hydra.mmar.layout import is_file

__all__ = ["load_json", "MAX_DEPTH"]

MAX_DEPTH = 32  # levels of objects / lists; the public Clara MMARs use at most 8


def _objects(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(JSON path, object) of every dict in ``obj``, outermost first."""
    if isinstance(obj, dict):
        yield path, obj
        for key, value in obj.items():
            yield from _objects(value, json_path(path, str(key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _objects(value, json_path(path, i))


def _lines_of(text: str, key: str) -> list[int]:
    pattern = re.compile(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:')
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def _check_duplicates(data: Any, duplicates: dict[int, str], text: str, path: Path) -> None:
    """Raise for the first object (in document order) that had a key twice."""
    for where, obj in _objects(data, ""):
        key = duplicates.get(id(obj))
        if key is None:
            continue
        lines = _lines_of(text, key)
        shown = f" (the key appears on lines {', '.join(map(str, lines[:6]))})" if lines else ""
        raise ConfigError(
            f"duplicate key '{key}' in one JSON object{shown}",
            file=path,
            path=json_path(where, key) or key,
            expected="each key once per object",
            fix=f"remove one of the '{key}' entries (JSON would silently keep only the last one)",
        )


def _too_deep(data: Any) -> str | None:
    """The JSON path of the first value nested deeper than MAX_DEPTH (iteratively), or None."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, where = stack.pop()
        if len(where) > MAX_DEPTH:
            return json_path(*where[: MAX_DEPTH + 1])
        if isinstance(value, dict):
            stack += [(v, (*where, str(k))) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, (*where, i)) for i, v in enumerate(value)]
    return None


def _nesting_error(path: Path, where: str | None) -> ConfigError:
    return ConfigError(
        f"the JSON is nested more than {MAX_DEPTH} levels deep",
        file=path,
        path=where,
        expected=f"at most {MAX_DEPTH} levels of objects and lists (MMARs use fewer than 10)",
        fix="remove the extra levels of nesting; the file may be corrupt or not an MMAR file",
    )


def load_json(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """Load a JSON object from ``path``; ConfigError if missing, malformed, duplicated or not {}."""
    path = Path(path)
    if not is_file(path):
        raise ConfigError(
            f"{what} not found",
            file=path,
            expected=f"an existing {what} (a JSON file)",
            fix="check the path (relative paths resolve against the MMAR root)",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the {what}: {exc}",
            file=path,
            expected="a readable UTF-8 text file",
            fix="check the file's permissions and encoding",
        ) from None
    duplicates: dict[int, str] = {}
    keep: list[dict[str, Any]] = []  # keeps ids unique while parsing

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and id(out) not in duplicates:
                duplicates[id(out)] = key
            out[key] = value
        keep.append(out)
        return out

    try:
        data = json.loads(text, object_pairs_hook=hook)
    except RecursionError:
        raise _nesting_error(path, None) from None
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        line = lines[exc.lineno - 1].strip() if 0 < exc.lineno <= len(lines) else ""
        raise ConfigError(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            file=f"{path}:{exc.lineno}:{exc.colno}",
            expected="valid JSON (no trailing commas or comments, double-quoted keys and strings)",
            fix=f"fix line {exc.lineno}: {line[:80]!r}",
        ) from None
    too_deep = _too_deep(data)
    if too_deep is not None:
        raise _nesting_error(path, too_deep)
    if duplicates:
        _check_duplicates(data, duplicates, text, path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the {what} holds a JSON {type(data).__name__}, not an object",
            file=path,
            expected="a JSON object { ... } at the top level",
            fix='wrap the content in an object, e.g. {"train": {...}}',
        )
    return data
