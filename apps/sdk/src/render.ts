/**
 * The one place a replica's node configuration is rendered: the files (its PKI, kubeadm's layout
 * under the provider's root folder) and the processes (etcd with @hacp/etcd's flags and, where it
 * runs, kube-apiserver). Providers only materialise it.
 */
import { join } from 'node:path';
import { type ClusterPki, replicaNodeFiles } from '@hacp/certs';
import type { HealthCheck, InstanceNetwork, NodeConfig, NodeProcess } from '@hacp/core';
import { type InitialClusterEntry, memberFlags } from '@hacp/etcd';

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

export interface ReplicaRenderOptions {
  pki: ClusterPki;
  replica: string;
  network: InstanceNetwork;
  etcdToken: string;
  etcdState: 'new' | 'existing';
  initialCluster: readonly InitialClusterEntry[];
  kubeApiserver: boolean;
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
      state: options.etcdState,
      token: options.etcdToken,
      dataDir: at('etcd-data'),
      listenMetricsUrls: [`http://${ip}:${REPLICA_PORTS.etcdMetrics + network.portOffset}`],
    }),
    ports: {
      client: REPLICA_PORTS.etcdClient,
      peer: REPLICA_PORTS.etcdPeer,
      metrics: REPLICA_PORTS.etcdMetrics,
    },
  };
  const processes = [etcd];
  if (options.kubeApiserver) processes.push(renderApiserver(options, at));
  return { files: replicaNodeFiles(options.pki, options.replica), processes };
}

function renderApiserver(options: ReplicaRenderOptions, at: (file: string) => string): NodeProcess {
  const { network, pki } = options;
  const settings = pki.settings;
  const args = [
    `--advertise-address=${network.internalIp}`,
    `--bind-address=${network.internalIp}`,
    `--secure-port=${REPLICA_PORTS.apiserver + network.portOffset}`,
    `--etcd-servers=${etcdClientUrl(network)}`,
    `--etcd-cafile=${at('pki/etcd/ca.crt')}`,
    `--etcd-certfile=${at('pki/apiserver-etcd-client.crt')}`,
    `--etcd-keyfile=${at('pki/apiserver-etcd-client.key')}`,
    `--tls-cert-file=${at('pki/apiserver.crt')}`,
    `--tls-private-key-file=${at('pki/apiserver.key')}`,
    `--client-ca-file=${at('pki/ca.crt')}`,
    `--service-account-key-file=${at('pki/sa.pub')}`,
    `--service-account-signing-key-file=${at('pki/sa.key')}`,
    `--service-account-issuer=https://kubernetes.default.svc.${settings.dnsDomain}`,
    `--service-cluster-ip-range=${settings.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--requestheader-client-ca-file=${at('pki/front-proxy-ca.crt')}`,
    `--proxy-client-cert-file=${at('pki/front-proxy-client.crt')}`,
    `--proxy-client-key-file=${at('pki/front-proxy-client.key')}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    // Each apiserver keeps its own endpoint lease; the endpoint address fronts them all.
    '--endpoint-reconciler-type=lease',
  ];
  return {
    name: 'kube-apiserver',
    command: 'kube-apiserver',
    args,
    ports: { secure: REPLICA_PORTS.apiserver },
  };
}
