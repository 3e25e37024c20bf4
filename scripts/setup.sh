#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian or Ubuntu machine that has only Node >= 20.19:
# system packages (etcd-server, etcd-client, haproxy, openssl, shellcheck), pnpm, and the workspace's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# 1. Node
node_version=$(node -p 'process.versions.node' 2>/dev/null || true)
if [ -z "$node_version" ]; then
  say "Node.js is not installed. Install Node >= 20.19 and run this again."
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  say "Node $node_version is too old: hacp needs Node >= 20.19. Install a newer Node and run this again."
  exit 1
fi

# 2. System packages: binary -> Debian package
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
missing=()
have etcd || missing+=(etcd-server)
have etcdctl || missing+=(etcd-client)
have haproxy || missing+=(haproxy)
have openssl || missing+=(openssl)
# The GCE startup script is checked with shellcheck by the provider-gce tests.
have shellcheck || missing+=(shellcheck)
# The Compute API test server boots each VM in a network namespace of its own (ip), translates and
# routes its load balancers' addresses (nft), and the startup script downloads with curl.
have ip || missing+=(iproute2)
have nft || missing+=(nftables)
have curl || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt=(env DEBIAN_FRONTEND=noninteractive)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo env DEBIAN_FRONTEND=noninteractive)
  else
    say "these Debian packages are missing: ${missing[*]}"
    say "install them, then run this again:  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "these packages are missing: ${missing[*]}, and this machine has no apt-get. Install them with your package manager."
    exit 1
  fi
  say "installing ${missing[*]} with apt-get"
  "${apt[@]}" apt-get update -qq
  "${apt[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 3. pnpm 10: the one on PATH when it is a 10.x, otherwise a project-local copy installed through npm.
pnpm_bin=$(bash scripts/pnpm.sh --which)
if [ -z "$pnpm_bin" ]; then
  say "installing pnpm 10 into .tools/ with npm"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error pnpm@10.34.9 >/dev/null
  pnpm_bin=$(bash scripts/pnpm.sh --which)
  [ -n "$pnpm_bin" ] || { say "pnpm could not be installed through npm"; exit 1; }
fi

# 4. Workspace dependencies, exactly as the lockfile says.
"$pnpm_bin" install --frozen-lockfile --reporter=append-only --loglevel=warn
