export {
  type CachedKubernetesVersion,
  DEFAULT_RELEASE_URL,
  type DownloadProgress,
  ensureKubernetesBinaries,
  fetchKubernetesBinaries,
  findKubernetesBinaries,
  KUBERNETES_BINARIES,
  type KubernetesBinaries,
  type KubernetesBinary,
  type KubernetesBinarySource,
  type KubernetesVersion,
  kubernetesBinarySourceFromEnv,
  listCachedKubernetesBinaries,
  parseKubernetesVersion,
  resolveKubernetesVersion,
} from '@hacp/kubernetes-release';
export {
  checkBackupRetention,
  DEFAULT_BACKUP_RETENTION,
  parseRetentionDuration,
} from './backup-retention.js';
export { createControlPlane } from './control-plane.js';
export { type EtcdConnector, type EtcdMembership, type EtcdPort, reachEtcd } from './engine/etcd-port.js';
export * from './errors.js';
export { KUBERNETES_PORTS, KUBERNETES_PROCESSES } from './kubernetes/components.js';
export { DEFAULT_KUBERNETES_VERSION } from './kubernetes/version.js';
export {
  type AnyProviderFactory,
  assertProviderV1,
  createProvider,
  createProviderRegistry,
  defaultProviderRegistry,
  findProviderPackages,
  type LoadProviderOptions,
  loadProvider,
  type ProviderOrigin,
  type ProviderPackage,
  type ProviderRegistry,
  providerNameOfPackage,
  type RegisteredProvider,
  registerProvider,
} from './providers.js';
export type { ClusterRecord, Journal } from './record.js';
export { REPLICA_PORTS, type ReplicaRenderOptions, renderReplica, replicaHealthCheck } from './render.js';
export type * from './types.js';
export { DEFAULT_WATCH_LIMITS, type WatchLimits } from './watch-policy.js';
