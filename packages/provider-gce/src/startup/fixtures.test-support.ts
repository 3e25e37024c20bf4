/**
 * A replica NodeConfig shaped like the SDK's (apps/sdk/src/render.ts) for a GCE replica: kubeadm's
 * PKI layout under REPLICA_ROOT_DIR, etcd with @hacp/etcd's flags, kube-apiserver on 6443.
 */
import { generateKeyPairSync } from 'node:crypto';
import { type NodeConfig, type NodeFile, type NodeProcess, Secret } from '@hacp/core';
import { REPLICA_ROOT_DIR } from './layout.js';

export const INTERNAL_IP = '10.132.0.7';

const at = (file: string) => `${REPLICA_ROOT_DIR}/${file}`;

/** A real EC private key in PEM, so a leak would look like one. */
export function privateKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/** A certificate-shaped PEM (its contents are not parsed by anything here). */
export function certificatePem(subject: string): string {
  const body = Buffer.from(`certificate of ${subject} `.repeat(20)).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export function etcdProcess(ip = INTERNAL_IP): NodeProcess {
  return {
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name=prod-master',
      `--data-dir=${at('etcd-data')}`,
      `--listen-client-urls=https://${ip}:2379`,
      `--advertise-client-urls=https://${ip}:2379`,
      `--listen-peer-urls=https://${ip}:2380`,
      `--initial-advertise-peer-urls=https://${ip}:2380`,
      `--initial-cluster=prod-master=https://${ip}:2380`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=hacp-prod-3f9a',
      `--cert-file=${at('pki/etcd/server.crt')}`,
      `--key-file=${at('pki/etcd/server.key')}`,
      '--client-cert-auth=true',
      `--trusted-ca-file=${at('pki/etcd/ca.crt')}`,
      `--peer-cert-file=${at('pki/etcd/peer.crt')}`,
      `--peer-key-file=${at('pki/etcd/peer.key')}`,
      '--peer-client-cert-auth=true',
      `--peer-trusted-ca-file=${at('pki/etcd/ca.crt')}`,
      '--snapshot-count=10000',
      '--quota-backend-bytes=4294967296',
      `--listen-metrics-urls=http://${ip}:2381`,
      '--logger=zap',
      '--log-outputs=stderr',
    ],
    ports: { client: 2379, peer: 2380, metrics: 2381 },
  };
}

export function apiserverProcess(ip = INTERNAL_IP): NodeProcess {
  return {
    name: 'kube-apiserver',
    command: 'kube-apiserver',
    args: [
      `--advertise-address=${ip}`,
      `--bind-address=${ip}`,
      '--secure-port=6443',
      `--etcd-servers=https://${ip}:2379`,
      `--etcd-cafile=${at('pki/etcd/ca.crt')}`,
      `--etcd-certfile=${at('pki/apiserver-etcd-client.crt')}`,
      `--etcd-keyfile=${at('pki/apiserver-etcd-client.key')}`,
      `--tls-cert-file=${at('pki/apiserver.crt')}`,
      `--tls-private-key-file=${at('pki/apiserver.key')}`,
      `--client-ca-file=${at('pki/ca.crt')}`,
      '--service-cluster-ip-range=10.0.0.0/16',
      '--authorization-mode=Node,RBAC',
      '--endpoint-reconciler-type=lease',
    ],
    env: { GOMAXPROCS: '2' },
    ports: { secure: 6443 },
  };
}

/** The NodeConfig's files: 0644 certificates and 0600 keys as Secrets, with the key's PEM returned. */
export function replicaFiles(): { files: NodeFile[]; peerKey: string; serverKey: string } {
  const peerKey = privateKeyPem();
  const serverKey = privateKeyPem();
  const files: NodeFile[] = [
    { path: 'pki/ca.crt', mode: 0o644, contents: certificatePem('kubernetes-ca') },
    { path: 'pki/etcd/ca.crt', mode: 0o644, contents: certificatePem('etcd-ca') },
    { path: 'pki/etcd/peer.crt', mode: 0o644, contents: certificatePem('peer') },
    { path: 'pki/etcd/peer.key', mode: 0o600, contents: new Secret(peerKey) },
    { path: 'pki/etcd/server.crt', mode: 0o644, contents: certificatePem('server') },
    { path: 'pki/etcd/server.key', mode: 0o600, contents: new Secret(serverKey) },
  ];
  return { files, peerKey, serverKey };
}

/** etcd and kube-apiserver, as a replica that runs both, with its private keys' PEM. */
export function replicaNodeConfig(): { nodeConfig: NodeConfig; secrets: string[] } {
  const { files, peerKey, serverKey } = replicaFiles();
  return {
    nodeConfig: { files, processes: [etcdProcess(), apiserverProcess()] },
    secrets: [peerKey, serverKey],
  };
}
