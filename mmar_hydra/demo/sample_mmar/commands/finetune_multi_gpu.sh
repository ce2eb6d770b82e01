#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Extra arguments are passed on as --set values.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
[ -n "$DDP_NOTE" ] && echo "$DDP_NOTE"
"$PYTHON" -m mmar_hydra.apps.train -m "$MMAR_ROOT" -c "$MMAR_ROOT/config/config_finetune.json" -e "$MMAR_ROOT/$ENVIRONMENT_FILE" \
    --set dont_load_ckpt_model=False multi_gpu=True $DDP_TRAINER "$@"
