#!/usr/bin/env bash
# Runs pnpm 10: the one on PATH if it is 10.x, else the copy scripts/setup.sh put in .tools/.
# `pnpm.sh --which` prints the binary it would run (empty when there is none).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
if command -v pnpm >/dev/null 2>&1 && [[ "$(pnpm --version 2>/dev/null)" == 10.* ]]; then
  bin=$(command -v pnpm)
elif [ -x "$root/.tools/node_modules/.bin/pnpm" ]; then
  bin="$root/.tools/node_modules/.bin/pnpm"
fi
if [ "${1:-}" = "--which" ]; then
  printf '%s\n' "$bin"
  exit 0
fi
[ -n "$bin" ] || { echo "pnpm 10 is not installed: run 'bash scripts/setup.sh' first" >&2; exit 1; }
# turbo and pnpm's own scripts look pnpm up on PATH: put this one first.
export PATH="$(dirname "$bin"):$PATH"
exec "$bin" "$@"
