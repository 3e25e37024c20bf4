/**
 * A GCE replica's boot: the instance metadata (files, node config, static pod manifests, the
 * startup script) that turns a NodeConfig into running etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, add-on manager and health endpoint pods. The provider
 * only materialises the NodeConfig; it renders no flags and no certificates.
 */
export { type BootOutcome, HEALTH_ENDPOINT_PENDING, lastBootOutcome } from './boot-log.js';
export {
  assertImageHasContainerRuntime,
  assertRegistryMirrors,
  CONTAINERD_CERTS_DIR,
  CONTAINERD_CONFIG_PATH,
  DEFAULT_REGISTRY_MIRRORS,
  pauseImage,
  type RegistryMirrors,
  renderContainerdConfig,
  renderRegistryHosts,
} from './containerd.js';
export {
  type HealthEndpointBind,
  type HealthTarget,
  healthTarget,
  renderHealthEndpointConfig,
} from './health-endpoint.js';
export {
  assertReplicaImages,
  DEFAULT_ADDON_MANAGER_IMAGE,
  DEFAULT_ETCD_IMAGE,
  DEFAULT_HEALTH_IMAGE,
  kubernetesImageTag,
  normalizeKubernetesVersion,
  REPLICA_PROGRAMS,
  type ReplicaImages,
  type ReplicaProgram,
} from './images.js';
export {
  DATA_DISK_DEVICE_NAME,
  HEALTH_CONFIG_PATH,
  HEALTH_ENDPOINT,
  HEALTH_URL,
  METADATA_KEYS,
  METADATA_LIMITS,
  REPLICA_ROOT_DIR,
  STARTUP_LOG,
} from './layout.js';
export { type MetadataItem, renderReplicaMetadata } from './metadata.js';
export { DATA_DISK_PATH, renderStartupScript } from './startup-script.js';
export {
  type ReplicaMetadataOptions,
  renderStaticPods,
  replicaKubernetesVersion,
  type StaticPod,
} from './static-pods.js';
