"""``task=import out=DIR``: the MMAR as Hydra YAML that a user can edit and run.

Writes exactly what the CLI registers in Hydra's ConfigStore, as files: ``_mmar_.yaml`` (globals,
environment and sections, with ``${VAR}`` interpolations) and ``network/mmar.yaml``,
``loss/mmar.yaml``, ``optimizer/mmar.yaml``, ``lr_scheduler/mmar.yaml``. Hydra searches files
on ``hydra.searchpath`` before the ConfigStore, so the edited YAML replaces the JSON:

    python -m mmar_hydra mmar=SRC task=train hydra.searchpath=[file://DIR]
"""

from __future__ import annotations

from pathlib import Path

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError
from mmar_hydra.hydra_config import COMPONENT_GROUPS

__all__ = ["run", "write_yaml_groups"]


def write_yaml_groups(config: dict, out: Path) -> list[Path]:
    from omegaconf import OmegaConf

    out.mkdir(parents=True, exist_ok=True)
    primary = {k: v for k, v in config.items() if k != "mmar_source"}
    written = []
    train = primary.get("train")
    if isinstance(train, dict):
        train = dict(train)
        primary["train"] = train
        for group, key in COMPONENT_GROUPS.items():
            if key in train:
                path = out / group / "mmar.yaml"
                path.parent.mkdir(exist_ok=True)
                body = OmegaConf.to_yaml(OmegaConf.create(train.pop(key)))
                path.write_text(f"# @package train.{key}\n{body}")
                written.append(path)
    path = out / "_mmar_.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(primary)))
    return [path, *written]


def run(ctx: TaskContext) -> Path:
    read = ctx.read
    assert read is not None
    out = ctx.settings.out
    if not out:
        raise ConfigError("task=import needs an output folder", path="out", expected="out=DIR")
    out_dir = Path(str(out)).expanduser().resolve()
    files = write_yaml_groups(read.config, out_dir)
    for path in files:
        print(f"wrote {path}")
    print(
        f"edit them, then run:\n  python -m mmar_hydra mmar={read.layout.root} task=train "
        f"hydra.searchpath=[file://{out_dir}]"
    )
    return out_dir
