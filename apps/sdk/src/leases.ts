/**
 * The cluster's leases through its Kubernetes API (@hacp/lease-identity): which replica each
 * apiserver identity lease belongs to, who leads the singletons, and deleting a removed replica's
 * identity lease. Only with a kubeconfig: a cluster without kube-apiserver has no leases.
 *
 * The Kubernetes client is imported only when a kubeconfig is given: it costs every command about
 * 0.4 s to load (bench/lifecycle).
 */
import { ErrorCode, HacpError, type Instance } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';
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
  return {
    identities: identities
      .map((identity) => {
        const replica = options.instances.find(
          (instance) => identity.hostname !== undefined && instance.hostname === identity.hostname,
        );
        return {
          name: identity.leaseName,
          ...(replica ? { replica: replica.name } : {}),
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
 * Deletes the identity leases whose hostname label names the replica (1.26+ leases record it; older
 * ones are left to the apiservers' own GC). Returns the names deleted; a lease already gone is fine.
 */
export async function deleteIdentityLeases(options: {
  kubeconfig: KubeConfig;
  hostname: string;
}): Promise<string[]> {
  const { IDENTITY_NAMESPACE, listApiServerIdentities } = await leaseIdentity();
  const { ApiException, CoordinationV1Api } = await kubernetes();
  const identities = await listApiServerIdentities({ client: options.kubeconfig });
  const api = options.kubeconfig.makeApiClient(CoordinationV1Api);
  const deleted: string[] = [];
  for (const identity of identities.filter((entry) => entry.hostname === options.hostname)) {
    try {
      await api.deleteNamespacedLease({ name: identity.leaseName, namespace: IDENTITY_NAMESPACE });
      deleted.push(identity.leaseName);
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) continue;
      throw new HacpError({
        code:
          error instanceof ApiException && error.code === 403
            ? ErrorCode.PERMISSION_DENIED
            : ErrorCode.UNAVAILABLE,
        message: `Deleting identity lease ${identity.leaseName} failed: ${error instanceof ApiException ? `HTTP ${error.code}` : (error as Error).message}.`,
        actions: ['Check the kubeconfig and that the Kubernetes API answers, then run `hacp resume`.'],
        details: { lease: identity.leaseName },
        retryable: !(error instanceof ApiException && error.code === 403),
        cause: error,
      });
    }
  }
  return deleted;
}

/** The names of the apiserver identity leases there are now. */
export async function identityLeaseNames(kubeconfig: KubeConfig): Promise<string[]> {
  const { listApiServerIdentities } = await leaseIdentity();
  return (await listApiServerIdentities({ client: kubeconfig })).map((identity) => identity.leaseName);
}

/**
 * Labels a new replica's identity lease with its hostname, as 1.27+ apiservers do themselves: a
 * 1.20–1.25 apiserver names its lease `kube-apiserver-<uuid>` and records no hostname, so hacp marks
 * the one lease that appeared since `before` (taken before the replica's apiserver started) and has
 * no hostname. The apiserver's own renewals keep the label. Returns the lease's name, or undefined
 * while no such lease exists yet.
 *
 * @throws HacpError CONFLICT when more than one unlabelled lease appeared (two apiservers started at
 *   once): which is which cannot be told.
 */
export async function labelNewIdentityLease(options: {
  kubeconfig: KubeConfig;
  hostname: string;
  before: readonly string[];
}): Promise<string | undefined> {
  const { HOSTNAME_LABEL_KEY, IDENTITY_NAMESPACE, listApiServerIdentities } = await leaseIdentity();
  const identities = await listApiServerIdentities({ client: options.kubeconfig });
  const own = identities.find((identity) => identity.hostname === options.hostname && !identity.stale);
  if (own !== undefined) return own.leaseName;
  const fresh = identities.filter(
    (identity) =>
      identity.hostname === undefined && !identity.stale && !options.before.includes(identity.leaseName),
  );
  if (fresh.length === 0) return undefined;
  if (fresh.length > 1) {
    throw new HacpError({
      code: ErrorCode.CONFLICT,
      message: `${fresh.length} new apiserver identity leases appeared (${fresh.map((f) => f.leaseName).join(', ')}); hacp cannot tell which is ${options.hostname}'s.`,
      actions: ['Run `hacp leases` to see them; the step is retried by `hacp resume`.'],
      details: { hostname: options.hostname },
    });
  }
  const name = (fresh[0] as { leaseName: string }).leaseName;
  const { ApiException, CoordinationV1Api } = await kubernetes();
  const api = options.kubeconfig.makeApiClient(CoordinationV1Api);
  for (let attempt = 0; attempt < 5; attempt++) {
    const lease = await api.readNamespacedLease({ name, namespace: IDENTITY_NAMESPACE });
    lease.metadata = {
      ...lease.metadata,
      labels: { ...(lease.metadata?.labels ?? {}), [HOSTNAME_LABEL_KEY]: options.hostname },
    };
    try {
      await api.replaceNamespacedLease({ name, namespace: IDENTITY_NAMESPACE, body: lease });
      return name;
    } catch (error) {
      // The apiserver renews its lease every 10 s: a conflict means read it again.
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    }
  }
  return undefined;
}
