export { createControlPlane } from './control-plane.js';
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
