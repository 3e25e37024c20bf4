// The cluster-wide leaves, listed once: issuing, renewing, reporting, writing and loading all walk
// this table, so a new leaf is one entry here and one field in ClusterPki.
import type { LeafProfile } from './types.js';

interface ClusterLeafEntry {
  /** Its name in `certificatesOf` and `checkExpiry`. */
  name: string;
  /** kubeadm's file name, relative to `pki/`, without `.crt`/`.key`. */
  file: string;
  issuer: LeafProfile['issuer'];
  commonName: string;
  organizations: readonly string[];
  /**
   * Whether PKI folders written by an earlier hacp lack it. `loadPki` issues such a leaf from its CA
   * when both pki.json and the files lack it, instead of calling the folder corrupt.
   */
  addedLater: boolean;
}

export const CLUSTER_LEAVES = {
  admin: {
    name: 'admin',
    file: 'admin',
    issuer: 'ca',
    commonName: 'kubernetes-admin',
    organizations: ['system:masters'],
    addedLater: false,
  },
  frontProxyClient: {
    name: 'front-proxy-client',
    file: 'front-proxy-client',
    issuer: 'frontProxyCa',
    commonName: 'front-proxy-client',
    organizations: [],
    addedLater: false,
  },
  etcdClient: {
    name: 'etcd-client',
    file: 'etcd/healthcheck-client',
    issuer: 'etcdCa',
    commonName: 'hacp-etcd-client',
    organizations: [],
    addedLater: false,
  },
  apiserverKubeletClient: {
    name: 'apiserver-kubelet-client',
    file: 'apiserver-kubelet-client',
    issuer: 'ca',
    commonName: 'kube-apiserver-kubelet-client',
    organizations: ['system:masters'],
    addedLater: true,
  },
  controllerManager: {
    name: 'controller-manager',
    file: 'controller-manager',
    issuer: 'ca',
    commonName: 'system:kube-controller-manager',
    organizations: [],
    addedLater: true,
  },
  scheduler: {
    name: 'scheduler',
    file: 'scheduler',
    issuer: 'ca',
    commonName: 'system:kube-scheduler',
    organizations: [],
    addedLater: true,
  },
  addonManager: {
    name: 'addon-manager',
    file: 'addon-manager',
    issuer: 'ca',
    commonName: 'system:addon-manager',
    organizations: ['system:masters'],
    addedLater: true,
  },
} as const satisfies Record<string, ClusterLeafEntry>;

/** The field of `ClusterPki` that holds a cluster-wide leaf. */
export type ClusterLeafName = keyof typeof CLUSTER_LEAVES;

/** Every cluster-wide leaf, in the order `certificatesOf` reports them. */
export const CLUSTER_LEAF_NAMES = Object.keys(CLUSTER_LEAVES) as ClusterLeafName[];

/** The profile a cluster-wide leaf is issued from: client auth only, no SANs. A fresh object each call. */
export function clusterLeafProfile(name: ClusterLeafName): LeafProfile {
  const entry: ClusterLeafEntry = CLUSTER_LEAVES[name];
  return {
    issuer: entry.issuer,
    commonName: entry.commonName,
    organizations: [...entry.organizations],
    usage: 'client',
    dnsNames: [],
    ipAddresses: [],
  };
}

/** Builds a record over every cluster-wide leaf from a per-leaf async function, run concurrently. */
export async function forEachClusterLeaf<T>(
  make: (name: ClusterLeafName) => Promise<T>,
): Promise<Record<ClusterLeafName, T>> {
  const values = await Promise.all(CLUSTER_LEAF_NAMES.map(make));
  return Object.fromEntries(CLUSTER_LEAF_NAMES.map((name, index) => [name, values[index]])) as Record<
    ClusterLeafName,
    T
  >;
}
