export { createControlPlane } from './control-plane.js';
export type { ClusterRecord, Journal } from './record.js';
export { REPLICA_PORTS, type ReplicaRenderOptions, renderReplica, replicaHealthCheck } from './render.js';
export type * from './types.js';
