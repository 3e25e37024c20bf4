/**
 * @hacp/provider-gce: the hacp provider for Google Compute Engine, on @google-cloud/compute 6.15.
 */
export type { ComputeClientOptions, RetrySettings } from './compute.js';
export type { ReachMode, ResolvedGceSettings } from './context.js';
export { type CallContext, computeError, type FinishedOperation, operationError } from './errors.js';
export { CLUSTER_LABEL, instanceStatus, stateItemOf } from './names.js';
export {
  createGceProvider,
  DEFAULT_KUBERNETES_VERSION,
  type GceProvider,
  type GceProviderSettings,
} from './provider.js';
export { gceRequestId } from './request-id.js';
export {
  type MetadataItem,
  REPLICA_ROOT_DIR,
  type ReplicaImages,
  type ReplicaMetadataOptions,
  renderReplicaMetadata,
  renderStaticPods,
  type StaticPod,
} from './startup/index.js';
