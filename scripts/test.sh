#!/usr/bin/env bash
# The README's test command: set-up, then build, typecheck, lint and every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=scripts/kube-release.sh
source scripts/kube-release.sh
rm -f packages/*/test-results*.json apps/*/test-results*.json examples/*/test-results*.json
bash scripts/pnpm.sh exec turbo run build typecheck lint lint-root test test:kubernetes --output-logs=new-only --concurrency=3
node scripts/test-summary.mjs
