#!/usr/bin/env bash
# Written by mmar_hydra (task=commands). Extra arguments are passed on as --set values.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
"$PYTHON" -m mmar_hydra.apps.export -m "$MMAR_ROOT" -c "$MMAR_ROOT/config/config_train.json" -e "$MMAR_ROOT/$ENVIRONMENT_FILE" --model_path "$MMAR_ROOT/models/model.pt" --output_path "$MMAR_ROOT/models/model.ts" --input_shape "${INPUT_SHAPE:-[1, 1, 160, 160, 160]}" \
    --set "$@"
