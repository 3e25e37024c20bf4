#!/usr/bin/env bash
# The README's main job: set-up, build, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/pnpm.sh exec turbo run build --output-logs=errors-only
node scripts/demo.mjs "$@"
