/**
 * A GCE replica's boot: the instance metadata (files, node config, static pod manifests, the
 * startup script) that turns a NodeConfig into running etcd, kube-apiserver and health endpoint
 * pods. The provider only materialises the NodeConfig; it renders no flags and no certificates.
 */
export {
  type HealthEndpointBind,
  type HealthTarget,
  healthTarget,
  renderHealthEndpointConfig,
} from './health-endpoint.js';
export {
  DATA_DISK_DEVICE_NAME,
  HEALTH_CONFIG_PATH,
  HEALTH_ENDPOINT,
  METADATA_KEYS,
  METADATA_LIMITS,
  NODE_CONFIG_FORMAT,
  REPLICA_ROOT_DIR,
} from './layout.js';
export { type MetadataItem, renderReplicaMetadata } from './metadata.js';
export { DATA_DISK_PATH, renderStartupScript } from './startup-script.js';
export {
  DEFAULT_ETCD_IMAGE,
  DEFAULT_HEALTH_IMAGE,
  type ReplicaImages,
  type ReplicaMetadataOptions,
  renderStaticPods,
  type StaticPod,
} from './static-pods.js';
