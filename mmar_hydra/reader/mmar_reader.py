"""The reader's single entry point: one MMAR config file in, one normalized config out.

MMAR files -> strict JSON -> dialect (4.0 rewritten into 4.1 wiring) -> compat translations
-> globals merged with environment.json -> ``{VAR}`` as ``${VAR}`` interpolations. The result
is plain data that Hydra composes; nothing here imports torch unless a compat rule needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.mmar.layout import ENV_DEFAULTS, MMARLayout
from mmar_hydra.reader.compat import CompatNote, apply_compat
from mmar_hydra.reader.dialect import SECTION_KEYS, normalize_dialect
from mmar_hydra.reader.jsonfile import load_json
from mmar_hydra.reader.variables import to_interpolations

__all__ = ["ReadResult", "read_mmar", "CompatNote", "split_globals"]


@dataclass
class ReadResult:
    """The normalized config of one MMAR config file, and how it was obtained."""

    config: dict[str, Any]
    notes: list[CompatNote]
    dialect: str
    kind: str  # "train" | "flat"
    config_file: Path
    env_file: Path | None
    layout: MMARLayout
    env: dict[str, Any] = field(default_factory=dict)


def split_globals(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(globals, sections) of a config: sections are train/validate or the flat component keys."""
    section_keys = {"train", "validate"} if "train" in config else set(SECTION_KEYS)
    globals_ = {k: v for k, v in config.items() if k not in section_keys}
    sections = {k: v for k, v in config.items() if k in section_keys}
    return globals_, sections


def read_mmar(
    root: str | Path,
    task: str = "train",
    config_file: str | None = None,
    env_file: str | None = None,
) -> ReadResult:
    """Read the config file ``task`` uses (or ``config_file``) and environment.json."""
    layout = MMARLayout(root)
    cfg_path = layout.config_file_for(task, config_file)
    env_path = layout.env_file(env_file)
    raw = load_json(cfg_path)
    env = load_json(env_path, what="environment file") if env_path else {}
    rel = (
        str(cfg_path.relative_to(layout.root))
        if cfg_path.is_relative_to(layout.root)
        else str(cfg_path)
    )

    normalized, dialect = normalize_dialect(raw)
    normalized, notes = apply_compat(normalized, file=rel)
    globals_, sections = split_globals(normalized)
    merged: dict[str, Any] = {**ENV_DEFAULTS, **globals_, **env}
    merged.update(sections)
    config = to_interpolations(merged)
    kind = "train" if "train" in sections else "flat"
    config["mmar_source"] = {
        "root": str(layout.root),
        "config_file": rel,
        "env_file": str(env_path) if env_path else None,
        "dialect": dialect,
        "kind": kind,
    }
    return ReadResult(
        config=config,
        notes=notes,
        dialect=dialect,
        kind=kind,
        config_file=cfg_path,
        env_file=env_path,
        layout=layout,
        env=env,
    )
