"""What a task receives: the composed Hydra config, its resolved plain form and the MMAR."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmar_hydra.errors import ConfigError, first_line
from mmar_hydra.settings import SETTINGS_KEYS, Settings, parse_settings

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from mmar_hydra.reader.mmar_reader import ReadResult

__all__ = ["TaskContext", "resolve_config", "process_rank", "FRAMEWORK_KEYS"]

# keys that steer mmar_hydra itself and are not part of the MMAR's config: the typed
# settings, and the config groups of conf/ that are not MMAR parts
FRAMEWORK_KEYS: tuple[str, ...] = (*SETTINGS_KEYS, "trainer", "logger")


def process_rank() -> int:
    """The global rank of this process as the launcher set it (0 when not distributed)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def resolve_config(cfg: DictConfig, config_file: str | None = None) -> dict[str, Any]:
    """Resolve every ``${VAR}`` into a plain dict; an unresolved variable is a ConfigError."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationKeyError, InterpolationResolutionError

    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except InterpolationKeyError as exc:
        var = str(exc.msg).split("'")[1] if "'" in str(exc.msg) else str(exc.msg)
        raise ConfigError(
            f"unresolved variable {{{var}}}",
            file=config_file,
            path=exc.full_key,
            expected=f"'{var}' defined in the config's globals, environment.json or the command line",
            fix=f"set it on the command line ({var}=...) or add it to config/environment.json",
        ) from None
    except InterpolationResolutionError as exc:
        raise ConfigError(
            f"cannot resolve a value: {first_line(exc, 300)}",
            file=config_file,
            path=exc.full_key,
            expected="{NAME} variables that end in a value (no cycle such as A = '{B}', B = '{A}')",
            fix="check the variable names in that value",
        ) from None


@dataclass
class TaskContext:
    """Everything a task needs; built once per job by the CLI."""

    cfg: DictConfig
    read: ReadResult | None
    run_dir: Path
    _resolved: dict[str, Any] | None = field(default=None, repr=False)
    command: list[str] = field(default_factory=list)  # the command line as the user typed it
    settings: Settings = field(init=False)  # mmar_hydra's own keys, typed

    def __post_init__(self) -> None:
        # a key of the wrong type (allow_code=maybe) is a ConfigError here, before any work
        self.settings = parse_settings(self.cfg)

    @property
    def resolved(self) -> dict[str, Any]:
        if self._resolved is None:
            cfg_file = str(self.read.config_file) if self.read else None
            self._resolved = resolve_config(self.cfg, cfg_file)
        return self._resolved

    @property
    def mmar_config(self) -> dict[str, Any]:
        """The resolved MMAR config without mmar_hydra's own keys."""
        return {k: v for k, v in self.resolved.items() if k not in FRAMEWORK_KEYS}

    @property
    def mmar_root(self) -> Path:
        if self.read is None:
            raise ConfigError("this task needs an MMAR", path="mmar", fix="add mmar=PATH")
        return self.read.layout.root

    @property
    def allow_code(self) -> bool:
        return self.settings.allow_code

    @property
    def rank(self) -> int:
        return process_rank()
