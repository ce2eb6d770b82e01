"""What a task receives: the composed Hydra config, its resolved plain form, the MMAR, the typed
settings and the task's folders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf
from omegaconf.errors import InterpolationKeyError, InterpolationResolutionError

from mmar_hydra.distributed import process_rank
from mmar_hydra.errors import ConfigError, first_line
from mmar_hydra.hydra_config import in_multirun
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.settings import FRAMEWORK_KEYS, Settings, parse_settings

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from mmar_hydra.reader.mmar_reader import ReadResult

__all__ = ["TaskContext", "resolve_config", "resolve_keys"]

# the two folders RunPaths needs from the MMAR's config (resolved alone: a task that never
# reads the rest of the config does not fail on a variable it does not use)
_PATH_KEYS = ("MMAR_CKPT_DIR", "MMAR_EVAL_OUTPUT_PATH")


@contextmanager
def _resolution_errors(config_file: str | None) -> Iterator[None]:
    """OmegaConf's interpolation errors as ConfigErrors naming the variable and its key."""
    try:
        yield
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


def resolve_config(cfg: DictConfig, config_file: str | None = None) -> dict[str, Any]:
    """Resolve every ``${VAR}`` into a plain dict; an unresolved variable is a ConfigError."""
    with _resolution_errors(config_file):
        resolved = OmegaConf.to_container(cfg, resolve=True)
    return resolved  # type: ignore[return-value]


def resolve_keys(
    cfg: DictConfig, keys: Iterable[str], config_file: str | None = None
) -> dict[str, Any]:
    """Only ``keys`` of ``cfg``, resolved (the rest may hold variables nothing defines yet)."""
    with _resolution_errors(config_file):
        values = {k: cfg[k] for k in keys if k in cfg}
    return values


@dataclass
class TaskContext:
    """Everything a task needs; built once per job by :class:`mmar_hydra.job.TaskJob`.

    Args:
        cfg: the composed Hydra config.
        read: the MMAR as the reader read it (``None`` for tasks without an MMAR).
        run_dir: Hydra's folder for this job.
        command: the command line as the user typed it (``run_info.json``).
        job_paths: the task's folders, made by the job (``None`` without an MMAR).
    """

    cfg: DictConfig
    read: ReadResult | None
    run_dir: Path
    _resolved: dict[str, Any] | None = field(default=None, repr=False)
    command: list[str] = field(default_factory=list)
    job_paths: RunPaths | None = None
    settings: Settings = field(init=False)  # mmar_hydra's own keys, typed

    def __post_init__(self) -> None:
        # a key of the wrong type (allow_code=maybe) is a ConfigError here, before any work
        self.settings = parse_settings(self.cfg)

    @classmethod
    def for_job(
        cls,
        cfg: DictConfig,
        read: ReadResult | None,
        run_dir: Path,
        *,
        command: list[str] | None = None,
        sweep_clone: bool = False,
    ) -> TaskContext:
        """The context of one job, with the task's one :class:`RunPaths` (the only place one
        is made: :class:`mmar_hydra.job.TaskJob`, and AutoML for each trial's training).

        Args:
            cfg: the composed config.
            read: the MMAR (``None``: a task without one, and no paths).
            run_dir: Hydra's folder for this job.
            command: the command line as typed.
            sweep_clone: the task writes into its own MMAR clone when it is a ``-m`` sweep job.
        """
        settings = parse_settings(cfg)
        paths = None
        if read is not None:
            paths = RunPaths.for_task(
                read.layout.root,
                run_dir,
                resolve_keys(cfg, _PATH_KEYS, str(read.config_file)),
                allow_write=settings.allow_write,
                allow_code=settings.allow_code,
                job_clone=sweep_clone and in_multirun(),
            )
        return cls(
            cfg=cfg, read=read, run_dir=run_dir, command=list(command or []), job_paths=paths
        )

    @property
    def config_file(self) -> str | None:
        return str(self.read.config_file) if self.read else None

    @property
    def resolved(self) -> dict[str, Any]:
        if self._resolved is None:
            self._resolved = resolve_config(self.cfg, self.config_file)
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
    def paths(self) -> RunPaths:
        """Where this task reads and writes (one :class:`RunPaths` per task, made by the job)."""
        if self.job_paths is None:
            raise ConfigError("this task needs an MMAR", path="mmar", fix="add mmar=PATH")
        return self.job_paths

    @cached_property
    def trainer_overrides(self) -> dict[str, Any]:
        """The ``trainer`` group (a preset, ``trainer.x=`` overrides and a debug preset's
        switches) as plain data: Trainer arguments over what the MMAR's globals ask for."""
        node = self.cfg.get("trainer") or {}
        container = OmegaConf.to_container(node, resolve=True) if node else {}
        overrides = {str(k): v for k, v in container.items()} if isinstance(container, dict) else {}
        overrides.pop("_target_", None)
        return overrides

    @property
    def allow_code(self) -> bool:
        return self.settings.allow_code

    @property
    def rank(self) -> int:
        return process_rank()
