/**
 * The Kubernetes components of a replica, rendered once for every provider: kube-apiserver on its
 * local etcd, kube-controller-manager and kube-scheduler under leader-election leases, and the add-on
 * manager. Flags that differ between versions are chosen by the version's minor.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CLUSTER_SIGNING_CA_FILE, type ClusterPkiSettings } from '@hacp/certs';
import type { HealthCheck, InstanceNetwork, NodeProcess } from '@hacp/core';
import { type KubernetesBinary, parseKubernetesVersion } from '@hacp/kubernetes-release';

/** The ports of the Kubernetes components, before the provider's port offset. */
export const KUBERNETES_PORTS = {
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
} as const;

/** The NodeProcess names of the Kubernetes components, in start order. */
export const KUBERNETES_PROCESSES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-addon-manager',
] as const;

/** The files the components read, relative to the replica's root (kubeadm's names). */
export const KUBERNETES_FILES = {
  controllerManagerConf: 'controller-manager.conf',
  schedulerConf: 'scheduler.conf',
  addonManagerConf: 'addon-manager.conf',
  addonsDir: 'addons',
} as const;

/** A 1.20–1.25 apiserver's identity lease duration (its default is 3600 s). */
export const LEGACY_IDENTITY_LEASE_SECONDS = 60;

/** How often each replica's add-on manager re-applies the add-on folder. */
export const ADDON_INTERVAL_SECONDS = 10;

/** How the replica's provider runs programs: absolute paths here, or names its images provide. */
export type KubernetesPrograms =
  | { kind: 'host'; paths: Readonly<Record<KubernetesBinary, string>>; addonManager: string }
  | { kind: 'images' };

export interface KubernetesRenderOptions {
  /** The cluster's recorded version, such as `v1.23.16`. */
  version: string;
  programs: KubernetesPrograms;
  network: InstanceNetwork;
  settings: ClusterPkiSettings;
  /** The cluster's endpoint address: every apiserver advertises it (kube-up), so the `kubernetes` service points there. */
  endpointAddress: string;
  /** The load balancer's health check: the apiserver keeps serving until it has noticed /readyz failing. */
  healthCheck: HealthCheck;
  /** The etcd client URL of the replica's own member. */
  etcdServer: string;
}

/** The path of the add-on manager program the host runs with node. */
export function addonManagerProgram(): string {
  return createRequire(import.meta.url).resolve('@hacp/addon-manager/main');
}

const isLoopback = (address: string) => /^127\./.test(address) || address === '::1';

/**
 * How long an apiserver keeps serving after SIGTERM with /readyz failing: long enough for the load
 * balancer's health check to take it out (its interval times its unhealthy threshold, plus one).
 */
export function shutdownDelaySeconds(check: HealthCheck): number {
  return (check.intervalSeconds ?? 2) * ((check.unhealthyThreshold ?? 2) + 1);
}

function program(options: KubernetesRenderOptions, name: KubernetesBinary): string {
  return options.programs.kind === 'host' ? options.programs.paths[name] : name;
}

function apiserver(options: KubernetesRenderOptions, at: (file: string) => string): NodeProcess {
  const { network, settings } = options;
  const minor = parseKubernetesVersion(options.version).minor;
  const delay = shutdownDelaySeconds(options.healthCheck);
  const args = [
    // kube-up: every replica advertises the endpoint address, so the `kubernetes` service holds that
    // one address, not each replica's.
    `--advertise-address=${options.endpointAddress}`,
    `--bind-address=${network.listenAddress ?? network.internalIp}`,
    `--secure-port=${KUBERNETES_PORTS.apiserver + network.portOffset}`,
    `--etcd-servers=${options.etcdServer}`,
    `--etcd-cafile=${at('pki/etcd/ca.crt')}`,
    `--etcd-certfile=${at('pki/apiserver-etcd-client.crt')}`,
    `--etcd-keyfile=${at('pki/apiserver-etcd-client.key')}`,
    `--tls-cert-file=${at('pki/apiserver.crt')}`,
    `--tls-private-key-file=${at('pki/apiserver.key')}`,
    `--client-ca-file=${at('pki/ca.crt')}`,
    `--kubelet-client-certificate=${at('pki/apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${at('pki/apiserver-kubelet-client.key')}`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    `--service-account-key-file=${at('pki/sa.pub')}`,
    `--service-account-signing-key-file=${at('pki/sa.key')}`,
    `--service-account-issuer=https://kubernetes.default.svc.${settings.dnsDomain}`,
    `--service-cluster-ip-range=${settings.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    `--requestheader-client-ca-file=${at('pki/front-proxy-ca.crt')}`,
    `--proxy-client-cert-file=${at('pki/front-proxy-client.crt')}`,
    `--proxy-client-key-file=${at('pki/front-proxy-client.key')}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    // Each apiserver keeps its own endpoint lease for the one advertised address. A loopback address
    // (the local provider's endpoint) cannot be a Service endpoint, so there the reconciler is off.
    `--endpoint-reconciler-type=${isLoopback(options.endpointAddress) ? 'none' : 'lease'}`,
    `--shutdown-delay-duration=${delay}s`,
    // Until its in-flight requests are done, a stopping apiserver answers 429 with Retry-After, so its
    // own clients do not hold it up (1.23 with the identity gate otherwise waits the whole 60 s
    // request timeout for its identity lease controller).
    '--shutdown-send-retry-after=true',
  ];
  // APIServerIdentity is alpha (off) in 1.20–1.25 and on by default from 1.26. Such an apiserver takes
  // a new lease at every start, naming no hostname: a short duration makes the old one stale soon after a
  // restart, so the new one can be told apart (kubernetes/identity.ts). Renewals stay every 10 s.
  if (minor >= 20 && minor <= 25) {
    args.push(
      '--feature-gates=APIServerIdentity=true',
      `--identity-lease-duration-seconds=${LEGACY_IDENTITY_LEASE_SECONDS}`,
    );
  }
  return {
    name: 'kube-apiserver',
    command: program(options, 'kube-apiserver'),
    args,
    ports: { secure: KUBERNETES_PORTS.apiserver },
    // The delay, then a few seconds to finish in-flight requests.
    stopGraceSeconds: delay + 5,
  };
}

/** The flags the controller-manager and the scheduler share: their kubeconfig, listener and lease. */
function componentArgs(options: KubernetesRenderOptions, kubeconfig: string, port: number): string[] {
  const { network } = options;
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--bind-address=${network.internalIp}`,
    `--secure-port=${port + network.portOffset}`,
    '--leader-elect=true',
  ];
}

function controllerManager(options: KubernetesRenderOptions, at: (file: string) => string): NodeProcess {
  const { settings } = options;
  return {
    name: 'kube-controller-manager',
    command: program(options, 'kube-controller-manager'),
    args: [
      ...componentArgs(
        options,
        at(KUBERNETES_FILES.controllerManagerConf),
        KUBERNETES_PORTS.controllerManager,
      ),
      `--client-ca-file=${at('pki/ca.crt')}`,
      `--requestheader-client-ca-file=${at('pki/front-proxy-ca.crt')}`,
      `--cluster-signing-cert-file=${at(CLUSTER_SIGNING_CA_FILE)}`,
      `--cluster-signing-key-file=${at('pki/ca.key')}`,
      `--root-ca-file=${at('pki/ca.crt')}`,
      `--service-account-private-key-file=${at('pki/sa.key')}`,
      '--use-service-account-credentials=true',
      '--controllers=*,bootstrapsigner,tokencleaner',
      `--cluster-name=${settings.clusterName}`,
      `--service-cluster-ip-range=${settings.serviceCidr}`,
    ],
    ports: { secure: KUBERNETES_PORTS.controllerManager },
    stopGraceSeconds: 5,
  };
}

function scheduler(options: KubernetesRenderOptions, at: (file: string) => string): NodeProcess {
  return {
    name: 'kube-scheduler',
    command: program(options, 'kube-scheduler'),
    args: componentArgs(options, at(KUBERNETES_FILES.schedulerConf), KUBERNETES_PORTS.scheduler),
    ports: { secure: KUBERNETES_PORTS.scheduler },
    stopGraceSeconds: 5,
  };
}

function addonManager(options: KubernetesRenderOptions, at: (file: string) => string): NodeProcess {
  const kubeconfig = at(KUBERNETES_FILES.addonManagerConf);
  const addons = at(KUBERNETES_FILES.addonsDir);
  if (options.programs.kind === 'images') {
    // The official kube-addon-manager image: kube-addons.sh reads these.
    return {
      name: 'kube-addon-manager',
      command: 'kube-addon-manager',
      args: [],
      env: {
        ADDON_PATH: addons,
        KUBECTL_OPTS: `--kubeconfig=${kubeconfig}`,
        // Each replica's manager works on its own, as the seed describes.
        ADDON_MANAGER_LEADER_ELECTION: 'false',
        // Its default pass is every 60 s; the same interval as the host's manager.
        TEST_ADDON_CHECK_INTERVAL_SEC: String(ADDON_INTERVAL_SECONDS),
      },
      stopGraceSeconds: 5,
    };
  }
  return {
    name: 'kube-addon-manager',
    command: process.execPath,
    args: [
      options.programs.addonManager,
      '--kubeconfig',
      kubeconfig,
      '--addons-dir',
      addons,
      '--interval-seconds',
      String(ADDON_INTERVAL_SECONDS),
    ],
    stopGraceSeconds: 5,
  };
}

/** The four Kubernetes processes of a replica, every path under `network.rootDir`. */
export function renderKubernetesProcesses(options: KubernetesRenderOptions): NodeProcess[] {
  const at = (file: string) => join(options.network.rootDir, file);
  return [
    apiserver(options, at),
    controllerManager(options, at),
    scheduler(options, at),
    addonManager(options, at),
  ];
}
