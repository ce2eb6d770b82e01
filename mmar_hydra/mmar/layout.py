"""The MMAR on disk: where its configs, models and evaluation outputs live.

An MMAR is a self-contained workspace (``config/``, ``commands/``, ``custom/``, ``models/``,
``eval/``). This module knows the default config file of each task (Clara's ``-c``), resolves
relative paths against the root as Clara did. Where a run writes is decided by
:class:`mmar_hydra.run_paths.RunPaths`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, first_line

__all__ = [
    "MMARLayout",
    "ENV_DEFAULTS",
    "DEFAULT_CONFIGS",
    "MODEL_FILES",
    "undefined_marker",
    "undefined_variable",
    "model_file",
    "absolute_path",
    "is_file",
]

# The model files' usual places. Clara did not default them: a config that reads a model
# through {MMAR_CKPT} / {MMAR_TORCHSCRIPT} while neither the config nor environment.json
# defines it is broken as published (cte_fl_admin_40's validation). The reader fills such a
# variable with a marker, and RunPaths refuses to read or write a path through it; tasks
# with their own default (export's model_path / output_path) fall back to these.
MODEL_FILES: dict[str, str] = {
    "MMAR_CKPT": "models/model.pt",
    "MMAR_TORCHSCRIPT": "models/model.ts",
}


def undefined_marker(name: str) -> str:
    """The value the reader gives a model-file variable that no file defines."""
    return f"<{name} is not defined>"


def undefined_variable(value: object) -> str | None:
    """The variable's name when ``value`` is :func:`undefined_marker`'s, else None."""
    text = str(value)
    if text.startswith("<") and text.endswith(" is not defined>"):
        return text[1 : -len(" is not defined>")]
    return None


def model_file(config: Mapping[str, Any], key: str) -> str:
    """``MMAR_CKPT`` / ``MMAR_TORCHSCRIPT`` as configured, else its usual place."""
    value = config.get(key)
    if value is None or undefined_variable(value):
        return MODEL_FILES[key]
    return str(value)


ENV_DEFAULTS: dict[str, str] = {
    "MMAR_EVAL_OUTPUT_PATH": "eval",
    "MMAR_CKPT_DIR": "models",
    **{name: undefined_marker(name) for name in MODEL_FILES},
    "PROCESSING_TASK": "segmentation",
}

# task -> config files tried in order (relative to config/)
DEFAULT_CONFIGS: dict[str, tuple[str, ...]] = {
    "train": ("config_train.json",),
    "check": ("config_train.json",),
    "export": ("config_train.json",),
    "finetune": ("config_finetune.json", "config_train.json"),
    "validate": ("config_validation.json",),
    "validate_ckpt": ("config_validation_ckpt.json", "config_validation.json"),
    "infer": ("config_inference.json",),
}


def absolute_path(
    value: str | Path, base: Path, *, where: str = "", file: str | Path | None = None
) -> Path:
    """``value`` made absolute against ``base``, symlinks resolved.

    Raises:
        ConfigError: the OS cannot look the path up: a symlink loop, a NUL byte, an unknown
            ``~user``, a name too long.
    """
    try:
        p = Path(str(value)).expanduser()
        return (p if p.is_absolute() else base / p).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        shown = repr(str(value)) if len(str(value)) <= 200 else f"{str(value)[:200]!r}..."
        raise ConfigError(
            f"cannot use the path {shown}: {first_line(exc)}",
            file=file,
            path=where or None,
            expected="a path the operating system can look up (no symlink loop, no NUL byte)",
            fix="correct the path, or the symlink it goes through",
        ) from None


def is_file(path: str | Path) -> bool:
    """``Path(path).is_file()``, False where the OS cannot even look the path up (a name too
    long, a folder it may not enter) instead of an OSError."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


class MMARLayout:
    """Paths of one MMAR. ``root`` must exist and hold a ``config/`` folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(
                "MMAR folder not found",
                file=self.root,
                path="mmar",
                expected="an MMAR root folder that holds config/",
                fix="check mmar=PATH (make a demo with `python -m mmar_hydra task=demo_data out=demo`)",
            )
        self.config_dir = self.root / "config"
        self.custom_dir = self.root / "custom"
        if not self.config_dir.is_dir():
            raise ConfigError(
                "the MMAR has no config/ folder",
                file=self.root,
                path="mmar",
                expected="ROOT/config/config_train.json, ROOT/config/environment.json, ...",
                fix="point mmar= at the MMAR root, not at its config/ folder",
            )

    def available_configs(self) -> list[str]:
        """Config files a task can read (``config/*.json`` but environment.json), root-relative."""
        return sorted(
            str(p.relative_to(self.root))
            for p in self.config_dir.glob("*.json")
            if p.name != "environment.json"
        )

    def training_configs(self) -> list[Path]:
        """``config/config_train*.json`` (GettingStarted has ``config_train_Unet.json``, ...)."""
        return sorted(self.config_dir.glob("config_train*.json"))

    def config_file_for(self, task: str, config_file: str | Path | None = None) -> Path:
        """The config file a task reads: ``config_file`` if given, else the task's default.

        ``task=export`` without ``config/config_train.json`` reads a ``config_train*.json``
        (the export task decides which network to build and says so).
        """
        if config_file:
            # Clara's -c is relative to the root; a bare name is also looked up in config/
            candidates = [self.resolve(config_file)]
            if not Path(config_file).is_absolute() and len(Path(config_file).parts) == 1:
                candidates.append(self.config_dir / config_file)
        else:
            names = DEFAULT_CONFIGS.get(task, ("config_train.json",))
            candidates = [self.config_dir / n for n in names]
            if task == "export":
                candidates += self.training_configs()
        for path in candidates:
            if is_file(path):
                return path
        tried = ", ".join(
            str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p)
            for p in candidates
        )
        available = ", ".join(self.available_configs()) or "none"
        raise ConfigError(
            f"config file for task={task} not found: {tried}",
            file=candidates[0],
            path="config_file",
            expected=f"one of the MMAR's config files: {available}",
            fix="pick one with config_file=config/NAME.json",
        )

    def env_file(self, env_file: str | Path | None = None) -> Path | None:
        """environment.json (Clara's ``-e``); ``None`` when the default one does not exist."""
        if env_file:
            path = self.resolve(env_file)
            if not is_file(path):
                raise ConfigError(
                    "environment file not found",
                    file=path,
                    path="env_file",
                    expected="an existing JSON file such as config/environment.json",
                    fix="check env_file= (relative paths resolve against the MMAR root)",
                )
            return path
        path = self.config_dir / "environment.json"
        return path if path.is_file() else None

    def resolve(self, path: str | Path) -> Path:
        """``path`` made absolute: relative paths resolve against the MMAR root, as in Clara."""
        return absolute_path(path, self.root, where="config_file", file=path)
