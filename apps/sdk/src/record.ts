/**
 * What the SDK keeps in the provider's state store: the cluster record (the settings every replica
 * inherits, as kube-up kept them in kube-env) and the journal of the operation in flight.
 */

import type { InstanceNetwork } from '@hacp/core';
import { ErrorCode, HacpError, type HealthCheck, type StateRecord, type StateStore } from '@hacp/core';
import type { OperationName, Plan } from '@hacp/topology';
import type { PlanRequest } from './types.js';

export const RECORD_FORMAT = 1;

/** The settings every replica inherits. */
export interface ClusterRecord {
  formatVersion: 1;
  cluster: string;
  provider: string;
  region: string;
  firstZone: string;
  multizone: boolean;
  quorumReads: boolean;
  /**
   * The cluster's identity, a random UUID made by `up`: backups are tied to it, so that a later
   * cluster of the same name is another cluster. Absent in records written before it existed:
   * {@link clusterIdentity} falls back to the etcd token, also unique per cluster.
   */
  uid?: string;
  /** etcd's `--initial-cluster-token`, unique per cluster. */
  etcdToken: string;
  addressName: string;
  loadBalancerName: string;
  firewallNames: string[];
  /** The health check the load balancer gives each target. */
  healthCheck: HealthCheck;
  /** The replicas run kube-apiserver (and, with `kubernetesVersion`, the whole control plane). */
  kubeApiserver: boolean;
  /** The Kubernetes version every replica runs (`v1.23.16`); absent for an etcd-only cluster. */
  kubernetesVersion?: string;
  /**
   * The CA certificates (public), by their field in the PKI: a PKI folder that does not match them
   * is refused. `frontProxyCa` is absent from records written before hacp recorded it.
   */
  caCertificates: { ca: string; etcdCa: string; frontProxyCa?: string };
  createdAt: string;
}

/** The journal of the operation in flight. */
export interface Journal {
  formatVersion: 1;
  id: string;
  operation: OperationName;
  request: PlanRequest;
  plan: Plan;
  /** Step ids done (or found done), in order. */
  done: string[];
  skipped: string[];
  phase: 'running' | 'rolling-back';
  rollbackDone: string[];
  /** Why a rollback started. */
  failure?: { code: string; message: string };
  /** The network each new replica was given, so a resumed run renders the same certificates. */
  networks: Record<string, InstanceNetwork & { zone: string }>;
  /** Where the cluster's shared resources are, known before its record exists (early in `up`). */
  target: { region: string; addressName: string; loadBalancerName: string };
  /** Settings of an `up` before its record exists. */
  settings?: { uid?: string; etcdToken: string; createdAt: string; kubernetesVersion?: string };
  /**
   * The apiserver identity leases there were before each new replica started (1.20–1.25 leases name
   * no hostname: the new one is the lease that appeared since).
   */
  identityLeasesBefore?: Record<string, string[]>;
  startedAt: string;
  holder: string;
}

/** The cluster's identity: its `uid`, or for a record without one, its etcd token. */
export function clusterIdentity(record: Pick<ClusterRecord, 'uid' | 'etcdToken'>): string {
  return record.uid ?? record.etcdToken;
}

export const recordKey = (cluster: string) => `hacp/clusters/${cluster}/record`;
export const journalKey = (cluster: string) => `hacp/clusters/${cluster}/operation`;
export const lockName = (cluster: string) => `hacp-cluster-${cluster}`;

function checkFormat(key: string, value: { formatVersion?: unknown } | undefined): void {
  if (value === undefined) return;
  if (value.formatVersion !== RECORD_FORMAT) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `The state record ${key} has format ${String(value.formatVersion)}; this hacp reads format ${RECORD_FORMAT}.`,
      actions: ['Use the hacp version that wrote it, or upgrade hacp.'],
      details: { key },
    });
  }
}

export async function readRecord(
  state: StateStore,
  cluster: string,
  signal?: AbortSignal,
): Promise<StateRecord<ClusterRecord> | undefined> {
  const record = await state.get<ClusterRecord>(recordKey(cluster), { signal });
  checkFormat(recordKey(cluster), record?.value);
  return record;
}

export async function readJournal(
  state: StateStore,
  cluster: string,
  signal?: AbortSignal,
): Promise<StateRecord<Journal> | undefined> {
  const journal = await state.get<Journal>(journalKey(cluster), { signal });
  checkFormat(journalKey(cluster), journal?.value);
  return journal;
}
