/**
 * What every part of a control plane shares: the provider, the cluster's name and folders, the
 * settings resolved to their defaults, and the small reads they all make (the record, a session,
 * the lock, the cluster's Kubernetes API). `createControlPlane` makes one and hands it to planning,
 * status, certificates, kubeconfig and add-ons.
 */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  assertClusterName,
  DEFAULT_CLUSTER_NAME,
  ErrorCode,
  HacpError,
  type Logger,
  type ProviderV1,
  resolveLogger,
  type StateLock,
  type StateRecord,
} from '@hacp/core';
import { kubernetesBinarySourceFromEnv } from '@hacp/kubernetes-release';
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_BACKUP_RETENTION, type RetentionRules, retentionRules } from './backup-retention.js';
import { type EtcdConnector, reachEtcd } from './engine/etcd-port.js';
import { LOCK_TTL_MS } from './engine/runner.js';
import { createSession, type OperationSession } from './engine/session.js';
import { ADMIN_KUBECONFIG, clusterKubeConfig } from './kubernetes/api.js';
import type { KubernetesContext } from './kubernetes/version.js';
import { PkiStore } from './pki-store.js';
import { type ClusterRecord, lockName, readRecord } from './record.js';
import type {
  BackupRetention,
  ControlPlaneEvent,
  ControlPlaneSettings,
  ControlPlaneTimeouts,
} from './types.js';

const DEFAULT_TIMEOUTS: ControlPlaneTimeouts = {
  healthy: 180_000,
  promote: 300_000,
  memberStart: 600_000,
  learnerStall: 60_000,
  target: 120_000,
  drain: 2_000,
};

export interface ClusterContext {
  provider: ProviderV1;
  cluster: string;
  logger: Logger;
  /** The operator's folder for the cluster (PKI, snapshots, add-ons, admin kubeconfig). */
  dataDir: string;
  pkiStore: PkiStore;
  timeouts: ControlPlaneTimeouts;
  /** Who holds the cluster lock. */
  holder: string;
  /** The retention in force, applied after each new backup: the setting, or the default. */
  backupRetentionSetting: BackupRetention;
  /** The same, checked. */
  backupRetention: RetentionRules;
  addonsDir: string;
  adminKubeconfigPath: string;
  /** The `kubeconfig` setting: a file for the cluster's Kubernetes API instead of its own admin's. */
  kubeconfigFile?: string;
  /** Sends an event to `onEvent`; a listener that throws is logged, not propagated. */
  emit(event: ControlPlaneEvent): void;
  /** Where Kubernetes binaries come from, with download progress sent as events. */
  kubernetesContext(signal?: AbortSignal): KubernetesContext;
  /** The cluster's Kubernetes API: the `kubeconfig` setting's, else its own admin's through the endpoint. */
  clusterApi(record: ClusterRecord, signal?: AbortSignal): Promise<KubeConfig>;
  /** The cluster's record with its version; NOT_FOUND when there is none. */
  requireRecord(signal?: AbortSignal): Promise<StateRecord<ClusterRecord>>;
  /** A session (one etcd connection and what was read) for one operation or read; closed by its user. */
  openSession(record: ClusterRecord | undefined): OperationSession;
  /** Closes every session still open. */
  closeSessions(): Promise<void>;
  takeLock(signal?: AbortSignal): Promise<StateLock>;
}

export function createClusterContext(settings: ControlPlaneSettings): ClusterContext {
  const provider = settings.provider;
  const cluster = settings.cluster ?? DEFAULT_CLUSTER_NAME;
  assertClusterName(cluster);
  const logger = resolveLogger(settings.logger);
  const dataDir = resolve(settings.dataDir);
  const pkiStore = new PkiStore(dataDir);
  const holder = settings.holder ?? `hacp-${process.pid}@${hostname()}`;
  const binarySource = settings.kubernetesBinaries ?? kubernetesBinarySourceFromEnv(process.env);
  const etcdConnector: EtcdConnector = settings.etcd ?? reachEtcd;
  const kubeconfigFile = settings.kubeconfig;
  const openSessions = new Set<OperationSession>();
  const backupRetentionSetting = { ...(settings.backupRetention ?? DEFAULT_BACKUP_RETENTION) };
  const backupRetention = retentionRules(backupRetentionSetting, {
    keepLast: 'backupRetention.keepLast',
    keepWithin: 'backupRetention.keepWithin',
  });

  const emit = (event: ControlPlaneEvent) => {
    try {
      settings.onEvent?.(event);
    } catch (error) {
      logger.warn('onEvent threw', { error: String(error) });
    }
  };

  const openSession = (record: ClusterRecord | undefined): OperationSession => {
    const session = createSession({
      provider,
      cluster,
      pkiStore,
      etcd: etcdConnector,
      logger,
      record,
      onClose: () => openSessions.delete(session),
    });
    openSessions.add(session);
    return session;
  };

  return {
    provider,
    cluster,
    logger,
    dataDir,
    pkiStore,
    timeouts: { ...DEFAULT_TIMEOUTS, ...settings.timeouts },
    holder,
    backupRetentionSetting,
    backupRetention,
    addonsDir: join(dataDir, 'addons'),
    adminKubeconfigPath: join(dataDir, ADMIN_KUBECONFIG),
    ...(kubeconfigFile === undefined ? {} : { kubeconfigFile }),
    emit,
    kubernetesContext: (signal) => ({
      provider,
      source: binarySource,
      ...(signal ? { signal } : {}),
      onProgress: (progress) => emit({ type: 'download', ...progress }),
      ...(settings.addonManagerProgram === undefined
        ? {}
        : { addonManagerProgram: settings.addonManagerProgram }),
    }),
    clusterApi: (record, signal) =>
      clusterKubeConfig({
        provider,
        record,
        pki: () => pkiStore.load(record),
        ...(kubeconfigFile === undefined ? {} : { kubeconfigFile }),
        ...(signal ? { signal } : {}),
      }),
    async requireRecord(signal) {
      const record = await readRecord(provider.state, cluster, signal);
      if (record === undefined) throw notFound(cluster, provider.name);
      return record;
    },
    openSession,
    async closeSessions() {
      await Promise.all([...openSessions].map((session) => session.close()));
    },
    takeLock: (signal) => provider.state.lock(lockName(cluster), { holder, ttlMs: LOCK_TTL_MS, signal }),
  };
}

export function notFound(cluster: string, provider: string): HacpError {
  const flag = provider === 'local' ? '' : ` --provider ${provider}`;
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `Cluster ${cluster} does not exist (provider ${provider}).`,
    actions: [
      `Create it with \`hacp up --zone <zone>${flag}\`.`,
      'Or pass the --cluster, --provider and --state-dir it was created with.',
    ],
    details: { cluster, provider },
  });
}

/** Refuses an operation that needs Kubernetes on a cluster that runs etcd only. */
export function requireKubernetes(
  record: ClusterRecord,
  cluster: string,
  what: string,
  action: string,
): void {
  if (record.kubernetesVersion !== undefined) return;
  throw new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `Cluster ${cluster} runs etcd only: ${what}.`,
    actions: [action],
    details: { cluster },
  });
}
