#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Extra arguments are passed on as --set values.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
"$PYTHON" -m mmar_hydra.apps.evaluate -m "$MMAR_ROOT" -c "$MMAR_ROOT/config/config_validation.json" -e "$MMAR_ROOT/$ENVIRONMENT_FILE" \
    --set dont_load_ts_model=True dont_load_ckpt_model=False "$@"
