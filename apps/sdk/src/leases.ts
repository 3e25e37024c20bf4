/**
 * The cluster's leases through its Kubernetes API (@hacp/lease-identity): which replica each
 * apiserver identity lease belongs to, who leads the singletons, and deleting a removed replica's
 * identity lease. Only where there is a Kubernetes API: an etcd-only cluster has no leases.
 *
 * The Kubernetes client is imported only when a kubeconfig is given: it costs every command about
 * 0.4 s to load (bench/lifecycle).
 */
import { ErrorCode, HacpError, type Instance, kubernetesApiAnswerOf } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { attributeIdentities, replicasOf } from './kubernetes/identity.js';
import type { LeaseIdentityStatus, LeaseLeaderStatus } from './types.js';

const kubernetes = () => import('@kubernetes/client-node');
const leaseIdentity = () => import('@hacp/lease-identity');

export async function loadKubeconfig(path: string): Promise<KubeConfig> {
  const { KubeConfig } = await kubernetes();
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `The kubeconfig ${path} cannot be read: ${(error as Error).message}`,
      actions: ['Pass a readable kubeconfig with --kubeconfig.'],
      details: { field: 'kubeconfig' },
      cause: error,
    });
  }
  return config;
}

/** Identity leases with the replica they belong to (by the hostname label), and the leader leases. */
export async function inspectLeases(options: {
  kubeconfig: KubeConfig;
  instances: readonly Instance[];
}): Promise<{ identities: LeaseIdentityStatus[]; leaders: LeaseLeaderStatus[] }> {
  const { LEADER_LEASES, leaderOf, listApiServerIdentities } = await leaseIdentity();
  const identities = await listApiServerIdentities({ client: options.kubeconfig });
  const leaders: LeaseLeaderStatus[] = [];
  for (const name of Object.values(LEADER_LEASES)) {
    const leader = await leaderOf({ client: options.kubeconfig, name });
    if (leader === undefined) continue;
    const replica = leader.expired
      ? undefined
      : options.instances.find((instance) => (instance.hostname ?? instance.name) === leader.hostname);
    leaders.push({
      lease: name,
      ...(leader.holder ? { holder: leader.holder } : {}),
      ...(replica ? { replica: replica.name } : {}),
    });
  }
  const owners = attributeIdentities(identities, replicasOf(options.instances));
  return {
    identities: identities
      .map((identity) => {
        const replica = owners.get(identity.leaseName);
        return {
          name: identity.leaseName,
          ...(replica ? { replica } : {}),
          stale: identity.stale,
          ...(identity.lastRenewedAt === undefined
            ? {}
            : { renewTime: new Date(identity.lastRenewedAt).toISOString() }),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    leaders,
  };
}

/**
 * Deletes the identity leases of a removed replica: those attributed to it (see
 * attributeIdentities), counting it as running, since its apiserver stopped only moments ago.
 * Returns the names deleted; a lease already gone is fine.
 */
export async function deleteIdentityLeases(options: {
  kubeconfig: KubeConfig;
  replica: { name: string; hostname: string };
  /** The cluster's other instances. */
  others: readonly Instance[];
}): Promise<string[]> {
  const { IDENTITY_NAMESPACE, listApiServerIdentities } = await leaseIdentity();
  const { CoordinationV1Api } = await kubernetes();
  const identities = await listApiServerIdentities({ client: options.kubeconfig });
  const owners = attributeIdentities(identities, [
    ...replicasOf(options.others.filter((other) => other.name !== options.replica.name)),
    { ...options.replica, running: true },
  ]);
  const api = options.kubeconfig.makeApiClient(CoordinationV1Api);
  const deleted: string[] = [];
  for (const identity of identities.filter((entry) => owners.get(entry.leaseName) === options.replica.name)) {
    try {
      await api.deleteNamespacedLease({ name: identity.leaseName, namespace: IDENTITY_NAMESPACE });
      deleted.push(identity.leaseName);
    } catch (error) {
      const answer = kubernetesApiAnswerOf(error);
      if (answer?.httpStatus === 404) continue;
      const forbidden = answer?.httpStatus === 403;
      throw new HacpError({
        code: forbidden ? ErrorCode.PERMISSION_DENIED : ErrorCode.UNAVAILABLE,
        message: `Deleting identity lease ${identity.leaseName} failed: ${answer ? `HTTP ${answer.httpStatus}` : (error as Error).message}.`,
        actions: ['Check the kubeconfig and that the Kubernetes API answers, then run `hacp resume`.'],
        details: { lease: identity.leaseName },
        retryable: !forbidden,
        cause: error,
      });
    }
  }
  return deleted;
}
