/**
 * The Kubernetes part of `status`: each running replica's components, asked directly, and who leads
 * the singletons, read through the cluster's API.
 */
import type { ClusterPki } from '@hacp/certs';
import type { Instance, ProviderV1 } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { inspectLeases } from '../leases.js';
import type { ClusterStatus, KubernetesComponentsStatus, Warning } from '../types.js';
import { kubernetesHealth } from './health.js';

/** The components of every running replica, by replica name. */
export async function componentsByReplica(options: {
  provider: ProviderV1;
  pki: ClusterPki;
  instances: readonly Instance[];
  signal?: AbortSignal;
}): Promise<Map<string, KubernetesComponentsStatus>> {
  const running = options.instances.filter((instance) => instance.status === 'running');
  const entries = await Promise.all(
    running.map(
      async (instance) =>
        [
          instance.name,
          await kubernetesHealth({
            provider: options.provider,
            instance,
            caPem: options.pki.ca.certPem,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        ] as const,
    ),
  );
  return new Map(entries);
}

/**
 * The leases (identities and leaders) and the Kubernetes summary. A Kubernetes API that cannot be
 * read is a warning, not a failure: status must work while the control plane is broken.
 */
export async function kubernetesSummary(options: {
  version: string | undefined;
  kubeconfig: () => Promise<KubeConfig>;
  instances: readonly Instance[];
  warnings: Warning[];
}): Promise<Pick<ClusterStatus, 'kubernetes' | 'leases'>> {
  let leases: ClusterStatus['leases'];
  try {
    leases = await inspectLeases({ kubeconfig: await options.kubeconfig(), instances: options.instances });
  } catch (error) {
    options.warnings.push({
      code: 'UNHEALTHY_REPLICA',
      message: `The Kubernetes API could not be read through the endpoint: ${(error as Error).message}`,
    });
  }
  const leaderOf = (lease: string) => leases?.leaders.find((leader) => leader.lease === lease)?.replica;
  const controllerManagerLeader = leaderOf('kube-controller-manager');
  const schedulerLeader = leaderOf('kube-scheduler');
  return {
    ...(options.version === undefined
      ? {}
      : {
          kubernetes: {
            version: options.version,
            ...(controllerManagerLeader ? { controllerManagerLeader } : {}),
            ...(schedulerLeader ? { schedulerLeader } : {}),
          },
        }),
    ...(leases ? { leases } : {}),
  };
}
