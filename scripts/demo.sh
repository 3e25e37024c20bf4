#!/usr/bin/env bash
# The README's main job: set-up, build, then the seed's story with the hacp CLI, each command shown
# with its output: one replica, three across zones, a zone failure survived, back to one, deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/pnpm.sh exec turbo run build --output-logs=errors-only

# A state folder of its own, so the demo never touches a real cluster's (~/.local/state/hacp).
HACP_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hacp-demo-XXXXXX")"
export HACP_STATE_DIR
hacp() { node apps/cli/bin/run.js "$@"; }
show() {
  printf '\n\033[1m$ hacp %s\033[0m\n' "$*"
  hacp "$@"
}
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "The demo failed (exit $status); deleting what it made." >&2
    hacp down --yes >/dev/null 2>&1 || true
  fi
  rm -rf "$HACP_STATE_DIR"
}
trap cleanup EXIT

echo "State folder: $HACP_STATE_DIR"
show up --zone local-a --multizone
show replicate --zone local-b
show replicate --zone local-c
show status
show zone fail local-a
show status
show zone restore local-a
show remove --zone local-c
show remove --zone local-b
show status
show down --yes
