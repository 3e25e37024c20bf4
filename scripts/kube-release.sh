# shellcheck shell=bash
# Sourced by test.sh, demo.sh and .ci/run: where Kubernetes server binaries come from. When
# HACP_KUBE_RELEASE_URL is unset and a mirror of the official release location sits beside the
# checkout (../shared/kubernetes-release/release), point at it; otherwise hacp uses the official
# location, and the test suites that need binaries report themselves skipped with the reason.
if [ -z "${HACP_KUBE_RELEASE_URL:-}" ]; then
  mirror="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/kubernetes-release/release"
  if [ -d "$mirror" ]; then
    export HACP_KUBE_RELEASE_URL="file://$mirror"
  fi
fi
