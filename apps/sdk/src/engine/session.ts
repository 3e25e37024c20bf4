/**
 * One session per operation: what the engine read about the cluster (its record, instances and one
 * etcd connection with its tunnels), kept for the whole operation and refreshed only when a step
 * changed it: an instance created or deleted, a member removed (Cluster API's one `ControlPlane`
 * per reconcile).
 */
import { ErrorCode, HacpError, type Instance, isReplicaName, type Logger, type ProviderV1 } from '@hacp/core';
import type { PkiStore } from '../pki-store.js';
import type { ClusterRecord } from '../record.js';
import type { EtcdConnector, EtcdPort } from './etcd-port.js';

export interface SessionSettings {
  provider: ProviderV1;
  cluster: string;
  pkiStore: PkiStore;
  etcd: EtcdConnector;
  logger: Logger;
  /** The record when it is known (undefined before `up` writes it). */
  record: ClusterRecord | undefined;
  /** Called once the session is closed. */
  onClose?: () => void;
}

/** What one operation knows about its cluster, read once and kept current by its own steps. */
export interface OperationSession {
  readonly provider: ProviderV1;
  readonly cluster: string;
  /** The record, as last read or written by this operation. */
  record(): ClusterRecord | undefined;
  setRecord(record: ClusterRecord | undefined): void;
  /** The cluster's instances (its replicas' names only), listed once until `instancesChanged`. */
  instances(signal?: AbortSignal): Promise<readonly Instance[]>;
  /** Seeds the instance list with one just read (by the observation that made the plan). */
  seedInstances(instances: readonly Instance[]): void;
  /** An instance was created, started, stopped or deleted: list again, and reconnect etcd. */
  instancesChanged(): void;
  /** The replica's member is gone: do not read etcd through it any more. */
  memberRemoved(replica: string): void;
  /**
   * The open etcd connection, through every running replica whose member is not removed; opened
   * on first use. Undefined when no replica runs.
   */
  etcd(options?: { signal?: AbortSignal; requireReach?: boolean }): Promise<EtcdPort | undefined>;
  /** The etcd connection, or UNAVAILABLE when no replica runs. */
  requireEtcd(signal?: AbortSignal): Promise<EtcdPort>;
  /** Closes the etcd connection and its tunnels. */
  close(): Promise<void>;
}

/** Creates an operation's session. */
export function createSession(settings: SessionSettings): OperationSession {
  const { provider, cluster } = settings;
  let record = settings.record;
  let instances: readonly Instance[] | undefined;
  let etcd: Promise<EtcdPort | undefined> | undefined;
  const removed = new Set<string>();

  const dropEtcd = () => {
    const previous = etcd;
    etcd = undefined;
    previous?.then((port) => port?.close()).catch(() => undefined);
  };

  const session: OperationSession = {
    provider,
    cluster,
    record: () => record,
    setRecord(value) {
      record = value;
    },
    async instances(signal) {
      if (instances === undefined) {
        const all = await provider.instances.list({ cluster }, { signal });
        instances = all
          .filter((instance) => isReplicaName(cluster, instance.name))
          .sort((a, b) => a.name.localeCompare(b.name));
      }
      return instances;
    },
    seedInstances(value) {
      instances = value;
    },
    instancesChanged() {
      instances = undefined;
      dropEtcd();
    },
    memberRemoved(replica) {
      removed.add(replica);
      dropEtcd();
    },
    etcd(options = {}) {
      if (etcd === undefined) {
        const opening = open(options.signal, options.requireReach);
        etcd = opening;
        // A failed open is not kept: the next call tries again.
        opening.catch(() => {
          if (etcd === opening) etcd = undefined;
        });
      }
      return etcd;
    },
    async requireEtcd(signal) {
      const port = await session.etcd({ signal });
      if (port === undefined) {
        throw new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `No replica of cluster ${cluster} is running, so etcd cannot be reached.`,
          actions: ['Check the replicas with `hacp status`; start or restore them, then run `hacp resume`.'],
          retryable: true,
        });
      }
      return port;
    },
    async close() {
      const previous = etcd;
      etcd = undefined;
      settings.onClose?.();
      await previous?.then((port) => port?.close()).catch(() => undefined);
    },
  };

  async function open(signal?: AbortSignal, requireReach?: boolean): Promise<EtcdPort | undefined> {
    const current = record;
    if (current === undefined) return undefined;
    const pki = await settings.pkiStore.load(current);
    const reachable = (await session.instances(signal)).filter((instance) => !removed.has(instance.name));
    return settings.etcd({
      provider,
      pki,
      instances: reachable,
      logger: settings.logger,
      ...(signal ? { signal } : {}),
      ...(requireReach === undefined ? {} : { requireReach }),
    });
  }

  return session;
}
