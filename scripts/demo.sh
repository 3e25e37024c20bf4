#!/usr/bin/env bash
# The README's main job: set-up, build, then the seed's story with the hacp CLI, each command shown
# with its output: one replica, three across zones, a zone failure survived, back to one, deleted.
# Where Kubernetes binaries can be had, every replica runs the whole control plane, and the demo
# asks the Kubernetes API, through the endpoint, whether it is ready after every step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/pnpm.sh exec turbo run build --output-logs=errors-only
# shellcheck source=scripts/kube-release.sh
source scripts/kube-release.sh
# A mirror with the 1.32 pre-release only (no stable-1.32.txt) runs that; otherwise hacp's default.
if [ -z "${HACP_KUBERNETES_VERSION:-}" ] && [[ "${HACP_KUBE_RELEASE_URL:-}" == file://* ]]; then
  mirror="${HACP_KUBE_RELEASE_URL#file://}"
  if [ ! -f "$mirror/stable-1.32.txt" ] && [ -f "$mirror/latest-1.32.txt" ]; then
    export HACP_KUBERNETES_VERSION=latest-1.32
  fi
fi

# A state folder and a binaries cache of its own, so the demo never touches a real cluster's
# (~/.local/state/hacp) or the user's cache.
HACP_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hacp-demo-XXXXXX")"
export HACP_STATE_DIR
export XDG_CACHE_HOME="${HACP_DEMO_CACHE:-${TMPDIR:-/tmp}/hacp-demo-cache}"
KUBECONFIG_FILE="$HACP_STATE_DIR/clusters/kubernetes/admin.conf"
hacp() { node apps/cli/bin/run.js "$@"; }
show() {
  printf '\n\033[1m$ hacp %s\033[0m\n' "$*"
  hacp "$@"
}
# The Kubernetes API through the endpoint, when the cluster runs Kubernetes (up wrote the kubeconfig).
kube_ready() {
  [ -f "$KUBECONFIG_FILE" ] || return 0
  printf '\n\033[1m$ kubectl --kubeconfig %s get --raw /readyz\033[0m\n' "$KUBECONFIG_FILE"
  if command -v kubectl >/dev/null 2>&1; then
    kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
    echo
  else
    node scripts/demo-kube.mjs "$KUBECONFIG_FILE" readyz
  fi
  show leases
}
kube_deploy() {
  [ -f "$KUBECONFIG_FILE" ] || return 0
  printf '\n\033[1m# a Node (no kubelet runs here) and a Deployment of 3 pause pods, through the endpoint\033[0m\n'
  node scripts/demo-kube.mjs "$KUBECONFIG_FILE" deploy hello
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
kube_ready
show replicate --zone local-b
kube_ready
show replicate --zone local-c
kube_ready
show status
kube_deploy
show zone fail local-a
show status
kube_ready
show zone restore local-a
show remove --zone local-c
kube_ready
show remove --zone local-b
kube_ready
show status
show down --yes
