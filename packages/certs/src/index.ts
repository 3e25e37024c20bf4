export { CA_KEY_LIST, CA_KEYS, CAS, nextCaKey, previousCaKey, rotatingCas, trustedCaPem } from './cas.js';
export {
  CLUSTER_SIGNING_CA_FILE,
  hasPki,
  loadPki,
  pkiFiles,
  replicaNodeFiles,
  writePki,
} from './files.js';
export { KEY_ALGORITHMS, type KeyAlgorithm } from './keys.js';
export {
  adminKubeconfig,
  type ClientKubeconfigOptions,
  clientKubeconfig,
  KUBECONFIG_CLIENTS,
  type KubeconfigClient,
} from './kubeconfig.js';
export { firstServiceIp } from './net.js';
export {
  type CertificateExpiry,
  type CreateClusterPkiOptions,
  certificatesOf,
  checkExpiry,
  createClusterPki,
  issueReplicaCerts,
  renewLeaves,
  withoutReplica,
  withReplica,
} from './pki.js';
export { promoteNextCa, type RotationOptions, withNextCa, withoutPreviousCa } from './rotation.js';
export type {
  CaKey,
  CertificateAndKey,
  ClusterPki,
  ClusterPkiSettings,
  IssuedLeaf,
  LeafProfile,
  ReplicaCerts,
  ReplicaIdentity,
} from './types.js';
