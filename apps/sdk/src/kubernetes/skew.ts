/**
 * Kubernetes' version skew policy as it applies to an upgrade of the whole control plane, one
 * replica at a time: during the rollout, kube-apiservers of both versions serve side by side, which
 * the policy allows within one minor version. So an upgrade moves at most one minor up (kubeadm's
 * rule too: no minor skipped), never a minor down; a patch change within the minor is allowed.
 */
import { invalidArgument } from '@hacp/core';
import { parseKubernetesVersion } from '@hacp/kubernetes-release';

/**
 * Refuses an upgrade from `from` to `to` that the version skew policy does not allow.
 *
 * @example
 * assertUpgradeSkew('v1.31.4', 'v1.32.0'); // fine
 * assertUpgradeSkew('v1.23.16', 'v1.32.0'); // throws: skips minors
 * @throws HacpError INVALID_ARGUMENT (field `kubernetesVersion`) for another major, a minor down,
 *   or more than one minor up.
 */
export function assertUpgradeSkew(from: string, to: string): void {
  const current = parseKubernetesVersion(from);
  const target = parseKubernetesVersion(to);
  const refuse = (why: string, next: string) =>
    invalidArgument({
      field: 'kubernetesVersion',
      value: to,
      message: `The cluster runs Kubernetes ${from}; upgrading to ${to} ${why}. Nothing was changed.`,
      actions: [next],
    });
  if (target.major !== current.major)
    throw refuse(
      'changes the major version',
      `Pick a ${current.major}.${current.minor} or ${current.major}.${current.minor + 1} version.`,
    );
  if (target.minor < current.minor)
    throw refuse(
      'would go a minor version down, which the version skew policy does not allow (etcd may hold objects the older apiserver cannot read)',
      `Pick a ${current.major}.${current.minor} version, or restore a backup taken before the last upgrade (\`hacp backup list\`).`,
    );
  if (target.minor > current.minor + 1)
    throw refuse(
      `would skip ${target.minor - current.minor - 1} minor version${target.minor - current.minor - 1 === 1 ? '' : 's'}: while replicas are replaced one at a time, kube-apiservers of both versions serve together, and the version skew policy allows them one minor apart`,
      `Upgrade one minor at a time: first to ${current.major}.${current.minor + 1} (\`hacp upgrade --kubernetes-version ${current.major}.${current.minor + 1}\`), then on.`,
    );
}
