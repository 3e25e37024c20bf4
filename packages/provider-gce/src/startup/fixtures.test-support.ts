/**
 * Replica NodeConfigs shaped like the SDK's (apps/sdk/src/render.ts and kubernetes/components.ts)
 * for a GCE replica: kubeadm's PKI layout under REPLICA_ROOT_DIR, etcd with @hacp/etcd's flags,
 * kube-apiserver on 6443 and, in sdkReplicaNodeConfig, the whole control plane with its kubeconfigs
 * and add-ons, as an images provider gets it (plain program names).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
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

/** How big a replica's PEM files are, by key algorithm: DER sizes of real keys and certificates. */
const DER_BYTES = {
  /** PKCS#8 P-256 keys are 138 bytes, their public keys 91; a leaf with SANs about 650. */
  'ecdsa-p256': { key: 138, publicKey: 91, certificate: 650 },
  /** PKCS#8 RSA-4096 keys are about 2375 bytes, their public keys 550; a leaf about 1500. */
  'rsa-4096': { key: 2375, publicKey: 550, certificate: 1500 },
} as const;

export type FixtureKeys = keyof typeof DER_BYTES;

/** A PEM block of `derBytes` random bytes: the size of a real one, and unique, so a leak is found. */
function pemOfSize(label: string, derBytes: number): string {
  const lines =
    randomBytes(derBytes)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A kubeconfig as @hacp/certs writes one: the CA, the client's certificate and key embedded. */
function kubeconfig(user: string, server: string, keys: FixtureKeys): string {
  const data = (pem: string) => Buffer.from(pem).toString('base64');
  const der = DER_BYTES[keys];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kubernetes',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${data(pemOfSize('CERTIFICATE', der.certificate))}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${data(pemOfSize('CERTIFICATE', der.certificate))}`,
    `    client-key-data: ${data(pemOfSize('PRIVATE KEY', der.key))}`,
    'contexts:',
    `- name: ${user}@kubernetes`,
    '  context:',
    '    cluster: kubernetes',
    `    user: ${user}`,
    `current-context: ${user}@kubernetes`,
    '',
  ].join('\n');
}

/** What sdkReplicaNodeConfig renders. */
export interface SdkReplicaOptions {
  /** `NodeConfig.kubernetesVersion`; default `v1.23.16`. Undefined in the object: none. */
  kubernetesVersion?: string | undefined;
  internalIp?: string;
  /** InstanceNetwork.listenAddress: kube-apiserver's `--bind-address`. Default `0.0.0.0`, as on GCE. */
  listenAddress?: string;
  keys?: FixtureKeys;
  /** The add-on manifests under `addons/`. Default one small namespace. */
  addons?: NodeFile[];
}

/**
 * A NodeConfig as the SDK renders it for a GCE replica (an images provider): etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kube-addon-manager with the flags the common brief
 * of issue 17 gives, kubeadm's PKI files, the three component kubeconfigs and the add-ons.
 */
export function sdkReplicaNodeConfig(options: SdkReplicaOptions = {}): NodeConfig {
  const ip = options.internalIp ?? INTERNAL_IP;
  const keys = options.keys ?? 'ecdsa-p256';
  const der = DER_BYTES[keys];
  const certificate = (path: string): NodeFile => ({
    path,
    mode: 0o644,
    contents: pemOfSize('CERTIFICATE', der.certificate),
  });
  const key = (path: string): NodeFile => ({
    path,
    mode: 0o600,
    contents: new Secret(pemOfSize('PRIVATE KEY', der.key)),
  });
  const pair = (base: string) => [certificate(`${base}.crt`), key(`${base}.key`)];
  const server = `https://${ip}:6443`;
  const conf = (path: string, user: string): NodeFile => ({
    path,
    mode: 0o600,
    contents: new Secret(kubeconfig(user, server, keys)),
  });
  const addons = options.addons ?? [
    {
      path: 'addons/namespace.yaml',
      mode: 0o644,
      contents:
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: hacp-addons\n  labels:\n    addonmanager.kubernetes.io/mode: Reconcile\n',
    },
  ];
  const files: NodeFile[] = [
    ...pair('pki/ca'),
    certificate('pki/etcd/ca.crt'),
    certificate('pki/front-proxy-ca.crt'),
    ...pair('pki/front-proxy-client'),
    ...pair('pki/apiserver-kubelet-client'),
    key('pki/sa.key'),
    { path: 'pki/sa.pub', mode: 0o644, contents: pemOfSize('PUBLIC KEY', der.publicKey) },
    ...pair('pki/apiserver'),
    ...pair('pki/apiserver-etcd-client'),
    ...pair('pki/etcd/server'),
    ...pair('pki/etcd/peer'),
    conf('controller-manager.conf', 'system:kube-controller-manager'),
    conf('scheduler.conf', 'system:kube-scheduler'),
    conf('addon-manager.conf', 'system:addon-manager'),
    ...addons,
  ];
  const component = (name: string, conf: string, port: number): NodeProcess => ({
    name,
    command: name,
    args: [
      `--kubeconfig=${at(conf)}`,
      `--authentication-kubeconfig=${at(conf)}`,
      `--authorization-kubeconfig=${at(conf)}`,
      `--bind-address=${ip}`,
      `--secure-port=${port}`,
      '--leader-elect=true',
    ],
    ports: { secure: port },
    stopGraceSeconds: 5,
  });
  const controllerManager = component('kube-controller-manager', 'controller-manager.conf', 10257);
  const apiserver = apiserverProcess(ip);
  const version = 'kubernetesVersion' in options ? options.kubernetesVersion : 'v1.23.16';
  return {
    files,
    processes: [
      etcdProcess(ip),
      {
        ...apiserver,
        args: [
          '--advertise-address=34.78.1.10',
          `--bind-address=${options.listenAddress ?? '0.0.0.0'}`,
          ...apiserver.args.filter((arg) => !/^--(advertise|bind)-address=/.test(arg)),
          `--service-account-key-file=${at('pki/sa.pub')}`,
          `--service-account-signing-key-file=${at('pki/sa.key')}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          '--shutdown-delay-duration=9s',
          '--feature-gates=APIServerIdentity=true',
        ],
        stopGraceSeconds: 14,
      },
      {
        ...controllerManager,
        args: [
          ...controllerManager.args,
          `--cluster-signing-cert-file=${at('pki/ca.crt')}`,
          `--cluster-signing-key-file=${at('pki/ca.key')}`,
          `--root-ca-file=${at('pki/ca.crt')}`,
          `--service-account-private-key-file=${at('pki/sa.key')}`,
          '--use-service-account-credentials=true',
          '--controllers=*,bootstrapsigner,tokencleaner',
        ],
      },
      component('kube-scheduler', 'scheduler.conf', 10259),
      {
        name: 'kube-addon-manager',
        command: 'kube-addon-manager',
        args: [],
        env: {
          ADDON_PATH: at('addons'),
          KUBECTL_OPTS: `--kubeconfig=${at('addon-manager.conf')}`,
          ADDON_MANAGER_LEADER_ELECTION: 'false',
        },
        stopGraceSeconds: 5,
      },
    ],
    ...(version === undefined ? {} : { kubernetesVersion: version }),
  };
}
