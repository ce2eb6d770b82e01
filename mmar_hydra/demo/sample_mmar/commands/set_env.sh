#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Sourced by the other scripts.
export MMAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$MMAR_ROOT/custom${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
CONFIG_FILE=config/config_train.json
ENVIRONMENT_FILE=config/environment.json
GPU_COUNT="${GPU_COUNT:-2}"
# the trainer preset for multi-GPU scripts: DDP on GPUs, or gloo CPU processes without them
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  DDP_TRAINER="trainer=ddp trainer.devices=$GPU_COUNT"
else
  DDP_TRAINER="trainer=ddp_cpu trainer.devices=$GPU_COUNT"
  DDP_NOTE="no GPU found: running $GPU_COUNT CPU processes (gloo)"
fi
