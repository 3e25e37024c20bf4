/**
 * Which replica each apiserver identity lease belongs to. 1.27+ apiservers label their lease with
 * their hostname; 1.20–1.25 ones name it `kube-apiserver-<uuid>`, a new one at every start, with no
 * hostname, so hacp labels a new replica's lease itself when it starts it (labelNewIdentityLease),
 * and reads the rest by elimination.
 */
import { ErrorCode, HacpError, type Instance, kubernetesApiAnswerOf } from '@hacp/core';
import type { ApiServerIdentity } from '@hacp/lease-identity';
import type { KubeConfig } from '@kubernetes/client-node';

const kubernetes = () => import('@kubernetes/client-node');
const leaseIdentity = () => import('@hacp/lease-identity');

/** A replica as attribution sees it: its hostname, and whether its apiserver may be running. */
export interface IdentityOwner {
  name: string;
  hostname: string;
  running: boolean;
}

export function replicasOf(instances: readonly Instance[]): IdentityOwner[] {
  return instances.map((instance) => ({
    name: instance.name,
    hostname: instance.hostname ?? instance.name,
    running: instance.status === 'running',
  }));
}

/**
 * Lease name → replica name: by the hostname label; then, when exactly one live lease has no
 * hostname and exactly one running replica has no live lease (its 1.20–1.25 apiserver restarted, and
 * its old lease went stale), that lease is that replica's. Anything else stays unattributed.
 */
export function attributeIdentities(
  identities: readonly Pick<ApiServerIdentity, 'leaseName' | 'hostname' | 'stale'>[],
  replicas: readonly IdentityOwner[],
): Map<string, string> {
  const owners = new Map<string, string>();
  for (const identity of identities) {
    const replica = replicas.find((r) => identity.hostname !== undefined && r.hostname === identity.hostname);
    if (replica !== undefined) owners.set(identity.leaseName, replica.name);
  }
  const unlabelled = identities.filter((identity) => identity.hostname === undefined && !identity.stale);
  const withoutLease = replicas.filter(
    (replica) =>
      replica.running &&
      !identities.some((identity) => identity.hostname === replica.hostname && !identity.stale),
  );
  if (unlabelled.length === 1 && withoutLease.length === 1) {
    owners.set((unlabelled[0] as { leaseName: string }).leaseName, (withoutLease[0] as IdentityOwner).name);
  }
  return owners;
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
  const { CoordinationV1Api } = await kubernetes();
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
      if (kubernetesApiAnswerOf(error)?.httpStatus !== 409) throw error;
    }
  }
  return undefined;
}
