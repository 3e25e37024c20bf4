/**
 * The one place a replica's node configuration is rendered: the files (its PKI and kubeconfigs,
 * kubeadm's layout under the provider's root folder, the add-on manifests and the replica's add-on
 * marker) and the processes (etcd with @hacp/etcd's flags and, unless the cluster is etcd-only, the
 * Kubernetes components). Providers only materialise it.
 */
import { join } from 'node:path';
import { type ClusterPki, replicaNodeFiles } from '@hacp/certs';
import type { HealthCheck, InstanceNetwork, NodeConfig, NodeFile, NodeProcess } from '@hacp/core';
import { type InitialClusterEntry, memberFlags } from '@hacp/etcd';
import { addonMarkerFile } from './kubernetes/addon-marker.js';
import { type KubernetesRenderOptions, renderKubernetesProcesses } from './kubernetes/components.js';

/** The ports a replica serves, before the provider's port offset. */
export const REPLICA_PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  apiserver: 6443,
} as const;

export const etcdClientUrl = (network: InstanceNetwork) =>
  `https://${network.internalIp}:${REPLICA_PORTS.etcdClient + network.portOffset}`;
export const etcdPeerUrl = (network: InstanceNetwork) =>
  `https://${network.internalIp}:${REPLICA_PORTS.etcdPeer + network.portOffset}`;

/**
 * The health check a load balancer gives each replica: kube-apiserver's `/readyz` where it runs,
 * else etcd's own `/health` on its metrics port (kubeadm's etcd liveness probe), which fails while
 * the member has no leader.
 */
export function replicaHealthCheck(kubeApiserver: boolean): HealthCheck {
  return kubeApiserver
    ? { protocol: 'https', port: REPLICA_PORTS.apiserver, path: '/readyz', intervalSeconds: 1 }
    : { protocol: 'http', port: REPLICA_PORTS.etcdMetrics, path: '/health', intervalSeconds: 1 };
}

/** The folder of a replica's etcd data, under its root: what `recover` restores a backup into. */
export const ETCD_DATA_DIR = 'etcd-data';

export interface ReplicaRenderOptions {
  pki: ClusterPki;
  replica: string;
  network: InstanceNetwork;
  etcdToken: string;
  /**
   * `new` (the first member), `existing` (a joiner); in `recover`, `force-new-cluster` or `own-data`:
   * etcd starts on the data its disk holds (as `existing`), the first time forgetting the other members.
   */
  etcdState: 'new' | 'existing' | 'force-new-cluster' | 'own-data';
  initialCluster: readonly InitialClusterEntry[];
  /** The Kubernetes components; absent for an etcd-only replica. */
  kubernetes?: Omit<KubernetesRenderOptions, 'network' | 'settings' | 'etcdServer'> & {
    /** The cluster's add-on manifests, copied to the replica's `addons/` folder (with its marker). */
    addons: readonly NodeFile[];
  };
}

/** A replica's NodeConfig: its PKI files and its processes, every path under `network.rootDir`. */
export function renderReplica(options: ReplicaRenderOptions): NodeConfig {
  const { network } = options;
  const at = (file: string) => join(network.rootDir, file);
  const ip = network.internalIp;
  const etcd: NodeProcess = {
    name: 'etcd',
    command: 'etcd',
    args: memberFlags({
      name: options.replica,
      clientUrls: [etcdClientUrl(network)],
      peerUrls: [etcdPeerUrl(network)],
      pkiPaths: {
        trustedCaFile: at('pki/etcd/ca.crt'),
        certFile: at('pki/etcd/server.crt'),
        keyFile: at('pki/etcd/server.key'),
        peerCertFile: at('pki/etcd/peer.crt'),
        peerKeyFile: at('pki/etcd/peer.key'),
      },
      initialCluster: options.initialCluster,
      state: options.etcdState === 'new' ? 'new' : 'existing',
      ...(options.etcdState === 'force-new-cluster' ? { forceNewCluster: true } : {}),
      token: options.etcdToken,
      dataDir: at(ETCD_DATA_DIR),
      listenMetricsUrls: [`http://${ip}:${REPLICA_PORTS.etcdMetrics + network.portOffset}`],
    }),
    ports: {
      client: REPLICA_PORTS.etcdClient,
      peer: REPLICA_PORTS.etcdPeer,
      metrics: REPLICA_PORTS.etcdMetrics,
    },
  };
  const kubernetes = options.kubernetes;
  if (kubernetes === undefined) {
    return { files: replicaNodeFiles(options.pki, options.replica), processes: [etcd] };
  }
  const apiserverUrl = `https://${network.internalIp}:${REPLICA_PORTS.apiserver + network.portOffset}`;
  return {
    files: [
      ...replicaNodeFiles(options.pki, options.replica, { apiserverUrl }),
      ...kubernetes.addons,
      addonMarkerFile(options.replica),
    ],
    processes: [
      etcd,
      ...renderKubernetesProcesses({
        ...kubernetes,
        network,
        settings: options.pki.settings,
        etcdServer: etcdClientUrl(network),
      }),
    ],
    kubernetesVersion: kubernetes.version,
  };
}
