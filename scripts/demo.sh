#!/usr/bin/env bash
# Set up (if needed) and run the main job on embedded defaults: `stockops demo`.
# Extra arguments go to `stockops demo` (e.g. --source csv:../shared/data/ohlcv --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
STOCKOPS_EXTRAS="${STOCKOPS_EXTRAS:-trainer,predictor}" STOCKOPS_SKIP_SYSTEM_PACKAGES=1 bash scripts/bootstrap.sh
exec .venv/bin/stockops demo "$@"
