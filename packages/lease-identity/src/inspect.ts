/**
 * Read-only views: which apiserver each identity lease belongs to and which are stale, and who holds a
 * leader election lease.
 */
import { ErrorCode, isHacpError } from '@hacp/core';
import type { V1Lease } from '@kubernetes/client-node';
import type { LeaseVerb } from './api-errors.js';
import { parseMicroTime } from './clock.js';
import { isLeaseExpired } from './gc.js';
import { type LeaseClient, leaseStoreFor } from './lease-store.js';
import {
  type ApiServerIdentityGeneration,
  HOSTNAME_LABEL_KEY,
  IDENTITY_LABEL_SELECTORS,
  IDENTITY_NAMESPACE,
  identityGenerationOf,
} from './names.js';
import { assertLeaseName, assertNamespace } from './validate.js';

/** The verbs inspection needs, for the RBAC suggestion in a 403. */
export const INSPECT_VERBS: readonly LeaseVerb[] = Object.freeze(['get', 'list']);

/** The leader election leases of the control plane's singletons, all in `kube-system`. */
export const LEADER_LEASES = Object.freeze({
  kubeControllerManager: 'kube-controller-manager',
  kubeScheduler: 'kube-scheduler',
  clusterAutoscaler: 'cluster-autoscaler',
});

/** One apiserver identity lease, as {@link listApiServerIdentities} reports it. */
export interface ApiServerIdentity {
  leaseName: string;
  /** From the `kubernetes.io/hostname` label (1.26+); 1.20–1.25 leases do not record it. */
  hostname: string | undefined;
  /** Which format wrote it; `'unknown'` for a legacy-labelled lease of neither known name shape. */
  generation: ApiServerIdentityGeneration | 'unknown';
  /** `holderIdentity`: `<lease name>_<uuid>` of the process that wrote it. */
  holder: string | undefined;
  /** renewTime, epoch ms. */
  lastRenewedAt: number | undefined;
  leaseDurationSeconds: number | undefined;
  /** renewTime + leaseDurationSeconds has passed (or either is missing): the GC would delete it. */
  stale: boolean;
}

/** Who holds a leader election lease, as {@link leaderOf} reports it. */
export interface LeaseLeader {
  name: string;
  namespace: string;
  /** holderIdentity; undefined when the lease was released or never held. */
  holder: string | undefined;
  /** The holder's host: the part before `_` (client-go components write `<hostname>_<uuid>`). */
  hostname: string | undefined;
  acquiredAt: number | undefined;
  lastRenewedAt: number | undefined;
  leaseDurationSeconds: number | undefined;
  leaseTransitions: number | undefined;
  /** By the record's timestamps and this host's clock: informative only, other hosts' clocks differ. */
  expired: boolean;
}

/**
 * The apiserver identity leases in `kube-system` (both label generations), sorted by hostname then
 * lease name, each with its hostname, generation, holder, last renewal and whether it is stale.
 *
 * @example
 * for (const identity of await listApiServerIdentities({ client: kubeConfig })) {
 *   console.log(identity.hostname, identity.leaseName, identity.stale ? 'stale' : 'live');
 * }
 * @throws HacpError INVALID_ARGUMENT for a bad client or namespace; PERMISSION_DENIED,
 *   UNAUTHENTICATED or UNAVAILABLE from the API server.
 */
export async function listApiServerIdentities(options: {
  client: LeaseClient;
  namespace?: string;
  /** The wall time staleness is judged at (epoch ms). Default now. */
  now?: number;
}): Promise<ApiServerIdentity[]> {
  const namespace = options.namespace ?? IDENTITY_NAMESPACE;
  assertNamespace(namespace);
  const store = leaseStoreFor(options.client, {
    purpose: 'listing apiserver identities',
    verbs: INSPECT_VERBS,
  });
  const now = options.now ?? Date.now();
  const leases = new Map<string, V1Lease>();
  for (const labelSelector of IDENTITY_LABEL_SELECTORS) {
    for (const lease of await store.list({ namespace, labelSelector })) {
      if (lease.metadata?.name) leases.set(lease.metadata.name, lease);
    }
  }
  const identities: ApiServerIdentity[] = [];
  for (const [leaseName, lease] of leases) {
    const labels = lease.metadata?.labels ?? {};
    const generation = identityGenerationOf({ name: leaseName, labels });
    if (generation === undefined) continue;
    identities.push({
      leaseName,
      hostname: labels[HOSTNAME_LABEL_KEY],
      generation,
      holder: lease.spec?.holderIdentity || undefined,
      lastRenewedAt: parseMicroTime(lease.spec?.renewTime),
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? undefined,
      stale: isLeaseExpired(lease, now),
    });
  }
  return identities.sort(
    (a, b) => (a.hostname ?? '').localeCompare(b.hostname ?? '') || a.leaseName.localeCompare(b.leaseName),
  );
}

/**
 * Who holds a leader election lease: `kube-controller-manager`, `kube-scheduler`,
 * `cluster-autoscaler` (see {@link LEADER_LEASES}) or any other. Undefined when there is no such lease.
 *
 * @example
 * const leader = await leaderOf({ client: kubeConfig, name: LEADER_LEASES.kubeControllerManager });
 * leader?.hostname; // 'kubernetes-master'
 * @throws HacpError INVALID_ARGUMENT for a bad name or namespace; PERMISSION_DENIED,
 *   UNAUTHENTICATED or UNAVAILABLE from the API server.
 */
export async function leaderOf(options: {
  client: LeaseClient;
  name: string;
  /** Default `kube-system`. */
  namespace?: string;
  /** The wall time `expired` is judged at (epoch ms). Default now. */
  now?: number;
}): Promise<LeaseLeader | undefined> {
  const namespace = options.namespace ?? IDENTITY_NAMESPACE;
  assertLeaseName(options.name);
  assertNamespace(namespace);
  const store = leaseStoreFor(options.client, { purpose: 'reading a leader lease', verbs: INSPECT_VERBS });
  let lease: V1Lease;
  try {
    lease = await store.read({ namespace, name: options.name });
  } catch (error) {
    if (isHacpError(error, ErrorCode.NOT_FOUND)) return undefined;
    throw error;
  }
  const holder = lease.spec?.holderIdentity || undefined;
  return {
    name: options.name,
    namespace,
    holder,
    hostname: holder?.split('_')[0],
    acquiredAt: parseMicroTime(lease.spec?.acquireTime),
    lastRenewedAt: parseMicroTime(lease.spec?.renewTime),
    leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? undefined,
    leaseTransitions: lease.spec?.leaseTransitions ?? undefined,
    expired: holder === undefined || isLeaseExpired(lease, options.now ?? Date.now()),
  };
}
