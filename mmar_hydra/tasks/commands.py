"""``task=commands mmar=PATH``: Clara-style ``commands/*.sh`` for an MMAR.

One script per workflow whose config the MMAR actually has (the 11 of Clara's documented
layout when it has them all). Each sources ``set_env.sh`` and forwards its own arguments as
``--set`` values, so ``./commands/train.sh epochs=5 DATA_ROOT=/data`` works as it did with
Clara. Existing scripts are backed up first.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import MMARLayout

__all__ = ["run", "write_commands", "scripts_for", "INFER_WITH_VALIDATION"]

SET_ENV = """#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Sourced by the other scripts.
export MMAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$MMAR_ROOT/custom${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
CONFIG_FILE=config/%(train)s
ENVIRONMENT_FILE=config/environment.json
GPU_COUNT="${GPU_COUNT:-2}"
# the trainer preset for multi-GPU scripts: DDP on GPUs, or gloo CPU processes without them
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  DDP_TRAINER="trainer=ddp trainer.devices=$GPU_COUNT"
else
  DDP_TRAINER="trainer=ddp_cpu trainer.devices=$GPU_COUNT"
  DDP_NOTE="no GPU found: running $GPU_COUNT CPU processes (gloo)"
fi
"""

_HEAD = """#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Extra arguments are passed on as --set values.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
"""

_APP = '"$PYTHON" -m mmar_hydra.apps.%(app)s -m "$MMAR_ROOT" -c "$MMAR_ROOT/config/%(config)s" -e "$MMAR_ROOT/$ENVIRONMENT_FILE"'


def _script(app: str, config: str, sets: str = "", *, ddp: bool = False, extra: str = "") -> str:
    body = _HEAD
    if ddp:
        body += '[ -n "$DDP_NOTE" ] && echo "$DDP_NOTE"\n'
    line = _APP % {"app": app, "config": config} + extra
    values = " ".join(v for v in (sets, "$DDP_TRAINER" if ddp else "") if v)
    return body + line + f' \\\n    --set {values} "$@"\n'.replace("--set  ", "--set ")


# Clara's documented infer.sh: inference through the validation config
INFER_WITH_VALIDATION = "output_infer_result=True do_validation=False"


def scripts_for(configs: set[str]) -> dict[str, str]:
    """Script name -> text, for the config files an MMAR has (``config/`` file names).

    finetune uses config_finetune.json, validate_ckpt config_validation_ckpt.json when the MMAR
    has them; infer.sh uses config_inference.json, or else Clara's documented form on the
    validation config (``output_infer_result=True do_validation=False``, plus
    ``DATASET_JSON=$MMAR_ROOT/config/dataset_0.json`` when the MMAR ships that datalist).
    """
    train = "config_train.json"
    finetune = "config_finetune.json" if "config_finetune.json" in configs else train
    out: dict[str, str] = {"set_env.sh": SET_ENV % {"train": train}}
    if train in configs:
        out["train.sh"] = _script("train", train, "print_conf=True", extra=" --write_train_stats")
        out["train_multi_gpu.sh"] = _script("train", train, "multi_gpu=True", ddp=True)
        ft = "dont_load_ckpt_model=False"
        out["finetune.sh"] = _script("train", finetune, ft)
        out["finetune_multi_gpu.sh"] = _script("train", finetune, f"{ft} multi_gpu=True", ddp=True)
        out["export.sh"] = _script(
            "export",
            train,
            "",
            extra=' --model_path "$MMAR_ROOT/models/model.pt" --output_path "$MMAR_ROOT/models/model.ts"'
            ' --input_shape "${INPUT_SHAPE:-[1, 1, 160, 160, 160]}"',
        )
    validation = "config_validation.json"
    if validation in configs:
        ts = "dont_load_ts_model=False dont_load_ckpt_model=True"
        ckpt_config, ckpt = (
            ("config_validation_ckpt.json", "")
            if "config_validation_ckpt.json" in configs
            else (validation, "dont_load_ts_model=True dont_load_ckpt_model=False")
        )
        multi = "multi_gpu=True"
        out["validate.sh"] = _script("evaluate", validation, ts)
        out["validate_ckpt.sh"] = _script("evaluate", ckpt_config, ckpt)
        out["validate_multi_gpu.sh"] = _script("evaluate", validation, f"{ts} {multi}", ddp=True)
        out["validate_multi_gpu_ckpt.sh"] = _script(
            "evaluate", ckpt_config, f"{ckpt} {multi}".strip(), ddp=True
        )
    if "config_inference.json" in configs:
        out["infer.sh"] = _script("evaluate", "config_inference.json", "")
    elif validation in configs:
        datalist = (
            '"DATASET_JSON=$MMAR_ROOT/config/dataset_0.json" '
            if "dataset_0.json" in configs
            else ""
        )
        out["infer.sh"] = _script("evaluate", validation, datalist + INFER_WITH_VALIDATION)
    return out


def write_commands(root: Path) -> tuple[list[Path], list[Path]]:
    """Write commands/ for the MMAR at ``root``; returns (written, backups)."""
    configs = {p.name for p in (root / "config").glob("*.json")}
    folder = root / "commands"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    written, backups = [], []
    for name, text in scripts_for(configs).items():
        path = folder / name
        if path.exists():
            if path.read_text() == text:
                continue
            backup = path.with_name(f"{name}.bak-{stamp}")
            path.rename(backup)
            backups.append(backup)
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written, backups


def run(ctx: TaskContext) -> Path:

    if not ctx.settings.mmar:
        raise ConfigError("task=commands needs an MMAR", path="mmar", expected="mmar=PATH")
    root = MMARLayout(ctx.settings.mmar).root
    written, backups = write_commands(root)
    for path in written:
        print(f"wrote  {path}")
    for path in backups:
        print(f"backup {path}")
    if not written:
        print(f"{root / 'commands'} is up to date")
    return root / "commands"
