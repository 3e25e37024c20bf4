import { posix } from 'node:path';
import { assertNodeConfig, invalidArgument, type NodeConfig, type NodeProcess } from '@hacp/core';
import { apiserverEndpoint, etcdMetricsEndpoint } from './endpoints.js';
import { HEALTH_CONFIG_PATH, REPLICA_ROOT_DIR } from './layout.js';

/** Container images a replica's static pods run; each has a default. */
export interface ReplicaImages {
  /** Default `registry.k8s.io/etcd:3.5.16-0`. */
  etcd?: string;
  /** Default `registry.k8s.io/kube-apiserver:v<kubernetesVersion>`. */
  kubeApiserver?: string;
  /** The health endpoint's HAProxy; default `docker.io/library/haproxy:2.8-alpine`. */
  health?: string;
}

/** What renders one replica's boot: its cluster, name, NodeConfig and versions. */
export interface ReplicaMetadataOptions {
  cluster: string;
  replica: string;
  /** Rendered by the SDK with `rootDir` REPLICA_ROOT_DIR and no port offset. */
  nodeConfig: NodeConfig;
  /** Such as `1.31.2` (a leading `v` is accepted): the kubelet's and kube-apiserver's version. */
  kubernetesVersion: string;
  images?: ReplicaImages;
}

/** One static pod: its manifest file name in the kubelet's folder and the Pod object. */
export interface StaticPod {
  /** `hacp-<process>.json`; the startup script removes `hacp-*.json` files no longer listed. */
  name: string;
  manifest: object;
}

export const DEFAULT_ETCD_IMAGE = 'registry.k8s.io/etcd:3.5.16-0';
export const DEFAULT_HEALTH_IMAGE = 'docker.io/library/haproxy:2.8-alpine';
const HEALTH_POD = 'hacp-health';
const ROOT_VOLUME = 'replica-root';
const HEALTH_VOLUME = 'health-config';
/** kubeadm's: system-node-critical's value, which no admission plugin fills in on a standalone kubelet. */
const NODE_CRITICAL_PRIORITY = 2_000_001_000;
const VERSION = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/;

/**
 * The Kubernetes version without its `v`.
 *
 * @throws HacpError INVALID_ARGUMENT for anything but `[v]<major>.<minor>.<patch>[-<pre>]`.
 */
export function normalizeKubernetesVersion(version: string): string {
  const match = typeof version === 'string' ? VERSION.exec(version) : null;
  if (match?.[1] === undefined) {
    throw invalidArgument({
      field: 'kubernetesVersion',
      value: String(version),
      message: `"${String(version)}" is not a Kubernetes release version such as 1.31.2.`,
    });
  }
  return match[1];
}

function checkedImage(field: string, image: string): string {
  if (typeof image !== 'string' || !IMAGE.test(image)) {
    throw invalidArgument({
      field,
      value: String(image),
      message: `"${String(image)}" is not a container image reference.`,
    });
  }
  return image;
}

/**
 * The image that runs a process, by its command: the provider knows images for `etcd` and
 * `kube-apiserver` only, both of which have the command on the image's PATH.
 *
 * @throws HacpError INVALID_ARGUMENT for any other command.
 */
function imageFor(process: NodeProcess, options: ReplicaMetadataOptions, version: string): string {
  switch (process.command) {
    case 'etcd':
      return checkedImage('images.etcd', options.images?.etcd ?? DEFAULT_ETCD_IMAGE);
    case 'kube-apiserver':
      return checkedImage(
        'images.kubeApiserver',
        options.images?.kubeApiserver ?? `registry.k8s.io/kube-apiserver:v${version}`,
      );
    default:
      throw invalidArgument({
        field: `processes.${process.name}.command`,
        value: process.command,
        message: `Process "${process.name}" runs "${process.command}", which has no container image on GCE (etcd and kube-apiserver have).`,
        actions: ['Run etcd or kube-apiserver by their plain command names.'],
      });
  }
}

function podMetadata(name: string, component: string) {
  return {
    name,
    namespace: 'kube-system',
    labels: { component, tier: 'control-plane' },
  };
}

function podSpec(container: object, volumes: object[]) {
  return {
    hostNetwork: true,
    priorityClassName: 'system-node-critical',
    priority: NODE_CRITICAL_PRIORITY,
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    containers: [container],
    volumes,
  };
}

const rootVolume = () => ({
  name: ROOT_VOLUME,
  hostPath: { path: REPLICA_ROOT_DIR, type: 'DirectoryOrCreate' },
});

/** kubeadm's probes: the same thresholds, on the listeners the process's own flags give. */
function probes(process: NodeProcess) {
  if (process.command === 'etcd') {
    const metrics = etcdMetricsEndpoint(process);
    const httpGet = (path: string) => ({ host: metrics.host, port: metrics.port, path, scheme: 'HTTP' });
    return {
      // Serializable: answered from the member's own data, so a member that lost its peers is not
      // restarted in a loop (that would not bring them back).
      livenessProbe: {
        httpGet: httpGet('/health?exclude=NOSPACE&serializable=true'),
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 15,
        failureThreshold: 8,
      },
      // kubeadm's startup probe asks for a linearizable read; here it is serializable as well, so a
      // member that starts while its peers are down (a whole zone rebooting) is not killed after 4
      // minutes without quorum.
      startupProbe: {
        httpGet: httpGet('/health?serializable=true'),
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 15,
        failureThreshold: 24,
      },
    };
  }
  const secure = apiserverEndpoint(process);
  const httpGet = (path: string) => ({ host: secure.host, port: secure.port, path, scheme: 'HTTPS' });
  return {
    livenessProbe: {
      httpGet: httpGet('/livez'),
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 15,
      failureThreshold: 8,
    },
    readinessProbe: {
      httpGet: httpGet('/readyz'),
      periodSeconds: 1,
      timeoutSeconds: 15,
      failureThreshold: 3,
    },
    startupProbe: {
      httpGet: httpGet('/livez'),
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 15,
      failureThreshold: 24,
    },
  };
}

/** kubeadm's requests: enough for the scheduler-free kubelet to order evictions sensibly. */
const REQUESTS: Record<string, Record<string, string>> = {
  etcd: { cpu: '100m', memory: '100Mi' },
  'kube-apiserver': { cpu: '250m' },
};

function processPod(process: NodeProcess, options: ReplicaMetadataOptions, version: string): StaticPod {
  const image = imageFor(process, options, version);
  const env = Object.entries(process.env ?? {}).map(([name, value]) => ({ name, value }));
  const container = {
    name: process.name,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: [process.command, ...process.args],
    ...(env.length > 0 ? { env } : {}),
    // Relative paths in the arguments are relative to the replica's root (NodeProcess.args).
    workingDir: REPLICA_ROOT_DIR,
    resources: { requests: REQUESTS[process.command] ?? {} },
    ...probes(process),
    volumeMounts: [
      // kube-apiserver only reads its certificates; etcd writes its data dir.
      { name: ROOT_VOLUME, mountPath: REPLICA_ROOT_DIR, readOnly: process.command !== 'etcd' },
    ],
  };
  return {
    name: `hacp-${process.name}.json`,
    manifest: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: podMetadata(process.name, process.name),
      spec: podSpec(container, [rootVolume()]),
    },
  };
}

function healthPod(options: ReplicaMetadataOptions): StaticPod {
  const configFile = posix.join(REPLICA_ROOT_DIR, HEALTH_CONFIG_PATH);
  const configDir = posix.dirname(configFile);
  const container = {
    name: 'haproxy',
    image: checkedImage('images.health', options.images?.health ?? DEFAULT_HEALTH_IMAGE),
    imagePullPolicy: 'IfNotPresent',
    command: ['haproxy', '-db', '-f', configFile],
    resources: { requests: { cpu: '10m', memory: '16Mi' } },
    // The image runs as user haproxy; the config's folder on the data disk is root's and 0700.
    securityContext: { runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false },
    // Only its own folder: HAProxy has no business reading the replica's keys.
    volumeMounts: [{ name: HEALTH_VOLUME, mountPath: configDir, readOnly: true }],
  };
  return {
    name: `${HEALTH_POD}.json`,
    manifest: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: podMetadata(HEALTH_POD, HEALTH_POD),
      spec: podSpec(container, [
        { name: HEALTH_VOLUME, hostPath: { path: configDir, type: 'DirectoryOrCreate' } },
      ]),
    },
  };
}

/**
 * The static pods of a replica, kubeadm style: one per NodeConfig process (its container runs
 * `[command, ...args]` unchanged, with the replica's root mounted at the same path so every path in
 * the arguments resolves) plus `hacp-health`, the HAProxy health endpoint. The manifests are JSON,
 * which the kubelet reads like YAML.
 *
 * @throws HacpError INVALID_ARGUMENT when the NodeConfig fails assertNodeConfig, a command has no
 *   image, a process is named `health`, an image or the version is malformed, or etcd/kube-apiserver
 *   flags do not give the listeners their probes need.
 * @example
 * renderStaticPods({ cluster: 'prod', replica: 'prod-master', nodeConfig, kubernetesVersion: '1.31.2' })
 *   .map((pod) => pod.name); // ['hacp-etcd.json', 'hacp-kube-apiserver.json', 'hacp-health.json']
 */
export function renderStaticPods(options: ReplicaMetadataOptions): StaticPod[] {
  assertNodeConfig(options.nodeConfig);
  const version = normalizeKubernetesVersion(options.kubernetesVersion);
  const pods = options.nodeConfig.processes.map((process, index) => {
    if (`hacp-${process.name}` === HEALTH_POD) {
      throw invalidArgument({
        field: `processes[${index}].name`,
        value: process.name,
        message: `Process name "${process.name}" is taken by the health endpoint's static pod.`,
      });
    }
    return processPod(process, options, version);
  });
  return [...pods, healthPod(options)];
}
