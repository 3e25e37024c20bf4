#!/usr/bin/env bash
# The README's test command: set-up, then build, typecheck, lint and every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=scripts/kube-release.sh
source scripts/kube-release.sh
rm -f packages/*/test-results*.json apps/*/test-results*.json examples/*/test-results*.json
turbo() { bash scripts/pnpm.sh exec turbo "$@"; }
turbo run build typecheck lint lint-root --output-logs=new-only --concurrency=3
# The tests, in two streams side by side. Turbo starts the tasks that are ready first, the small
# packages' (which depend on fewer builds), and the three longest suites (the SDK's, its real
# Kubernetes suites, the CLI's end-to-end) would start last and end long after the rest. So they
# start at once in a stream of their own, and the other packages run two at a time beside them.
long=(--filter=@hacp/sdk --filter=hacp)
turbo run test test:kubernetes "${long[@]}" --output-logs=new-only --concurrency=3 &
long_pid=$!
status=0
turbo run test --filter='!@hacp/sdk' --filter='!hacp' --output-logs=new-only --concurrency=2 || status=$?
wait "$long_pid" || status=$?
node scripts/test-summary.mjs
exit "$status"
