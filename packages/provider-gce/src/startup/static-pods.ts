import { posix } from 'node:path';
import { assertNodeConfig, invalidArgument, type NodeConfig, type NodeProcess } from '@hacp/core';
import type { RegistryMirrors } from './containerd.js';
import { flagValue } from './endpoints.js';
import {
  checkedImage,
  DEFAULT_HEALTH_IMAGE,
  imageOf,
  isReplicaProgram,
  normalizeKubernetesVersion,
  REPLICA_PROGRAMS,
  type ReplicaImages,
  type ReplicaProgram,
} from './images.js';
import { HEALTH_CONFIG_PATH, REPLICA_ROOT_DIR } from './layout.js';
import { probesOf } from './probes.js';

/** What renders one replica's boot: its cluster, name, NodeConfig and versions. */
export interface ReplicaMetadataOptions {
  cluster: string;
  replica: string;
  /** Rendered by the SDK with `rootDir` REPLICA_ROOT_DIR and no port offset. */
  nodeConfig: NodeConfig;
  /**
   * Such as `1.31.2` (a leading `v` is accepted): the version of the kubelet and of the Kubernetes
   * images when the NodeConfig names none (`NodeConfig.kubernetesVersion` wins).
   */
  kubernetesVersion: string;
  images?: ReplicaImages;
  /** containerd's registry mirrors (already checked). Default DEFAULT_REGISTRY_MIRRORS. */
  registryMirrors?: RegistryMirrors;
  /** The data disk another instance of this name left is handed to this one, data included (member migration). */
  dataDiskHandedOver?: boolean;
}

/** One static pod: its manifest file name in the kubelet's folder and the Pod object. */
export interface StaticPod {
  /** `hacp-<process>.json`; the startup script removes `hacp-*.json` files no longer listed. */
  name: string;
  manifest: object;
}

const HEALTH_POD = 'hacp-health';
const ROOT_VOLUME = 'replica-root';
const HEALTH_VOLUME = 'health-config';
/** kubeadm's: system-node-critical's value, which no admission plugin fills in on a standalone kubelet. */
const NODE_CRITICAL_PRIORITY = 2_000_001_000;

/** kubeadm's requests (kube-up's for the add-on manager): for the kubelet's eviction order. */
const REQUESTS: Record<ReplicaProgram, Record<string, string>> = {
  etcd: { cpu: '100m', memory: '100Mi' },
  'kube-apiserver': { cpu: '250m' },
  'kube-controller-manager': { cpu: '200m' },
  'kube-scheduler': { cpu: '100m' },
  'kube-addon-manager': { cpu: '5m', memory: '50Mi' },
};

/**
 * The version the replica's kubelet and Kubernetes images are of, without `v`:
 * `NodeConfig.kubernetesVersion` (the cluster's recorded one), else the provider's setting.
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed version.
 */
export function replicaKubernetesVersion(options: ReplicaMetadataOptions): string {
  return normalizeKubernetesVersion(options.nodeConfig.kubernetesVersion ?? options.kubernetesVersion);
}

function podMetadata(name: string, component: string) {
  return {
    name,
    namespace: 'kube-system',
    labels: { component, tier: 'control-plane' },
  };
}

function podSpec(container: object, volumes: object[], graceSeconds?: number) {
  return {
    hostNetwork: true,
    priorityClassName: 'system-node-critical',
    priority: NODE_CRITICAL_PRIORITY,
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    ...(graceSeconds === undefined ? {} : { terminationGracePeriodSeconds: graceSeconds }),
    containers: [container],
    volumes,
  };
}

const rootVolume = () => ({
  name: ROOT_VOLUME,
  hostPath: { path: REPLICA_ROOT_DIR, type: 'DirectoryOrCreate' },
});

/** An absolute path inside the replica's root, which every pod sees at the same path. */
const insideRoot = (path: string | undefined): boolean =>
  path !== undefined && posix.isAbsolute(path) && posix.normalize(path).startsWith(`${REPLICA_ROOT_DIR}/`);

/**
 * The program a process is, by its name, checked against its command: the image runs its own
 * program, so a command naming another one (a host path of `node`, say) is a NodeConfig rendered for
 * another kind of provider.
 *
 * @throws HacpError INVALID_ARGUMENT for a name without an image or a command of another program.
 */
function programOf(process: NodeProcess): ReplicaProgram {
  if (!isReplicaProgram(process.name)) {
    throw invalidArgument({
      field: `processes.${process.name}.name`,
      value: process.name,
      message: `Process "${process.name}" has no container image on GCE: a replica runs ${REPLICA_PROGRAMS.join(', ')}.`,
      actions: ['Render the NodeConfig for a provider whose Kubernetes programs are images.'],
    });
  }
  if (process.command !== process.name && posix.basename(process.command) !== process.name) {
    throw invalidArgument({
      field: `processes.${process.name}.command`,
      value: process.command,
      message: `Process "${process.name}" runs "${process.command}", but its image runs ${process.name}.`,
      actions: [`Render the process with the command ${process.name}, as for a provider of images.`],
    });
  }
  return process.name;
}

/**
 * The add-on manager's image is configured by environment (kube-addons.sh reads ADDON_PATH and
 * KUBECTL_OPTS) and takes no arguments; both paths must be inside the mounted root, or it would
 * apply an empty folder with no credentials and say nothing.
 */
function assertAddonManager(process: NodeProcess): void {
  const field = `processes.${process.name}`;
  if (process.args.length > 0) {
    throw invalidArgument({
      field: `${field}.args`,
      message: `Process "${process.name}" has arguments; the add-on manager image takes none (it reads ADDON_PATH and KUBECTL_OPTS).`,
    });
  }
  const kubectlOptions = (process.env?.KUBECTL_OPTS ?? '').split(/\s+/).filter((word) => word !== '');
  for (const [name, path] of [
    ['ADDON_PATH', process.env?.ADDON_PATH],
    ['KUBECTL_OPTS', flagValue(kubectlOptions, 'kubeconfig')],
  ] as const) {
    if (!insideRoot(path)) {
      throw invalidArgument({
        field: `${field}.env.${name}`,
        value: path,
        message: `Process "${process.name}" needs ${name === 'ADDON_PATH' ? 'ADDON_PATH' : 'a --kubeconfig in KUBECTL_OPTS'} with an absolute path under ${REPLICA_ROOT_DIR}, the only host folder its pod sees.`,
      });
    }
  }
}

function programContainer(process: NodeProcess, program: ReplicaProgram, image: string): object {
  const env = Object.entries(process.env ?? {}).map(([name, value]) => ({ name, value }));
  const common = {
    name: process.name,
    image,
    imagePullPolicy: 'IfNotPresent',
    ...(env.length > 0 ? { env } : {}),
    resources: { requests: REQUESTS[program] },
    ...probesOf(program, process),
    // etcd writes its data dir; the others only read their certificates, kubeconfigs and add-ons.
    volumeMounts: [{ name: ROOT_VOLUME, mountPath: REPLICA_ROOT_DIR, readOnly: program !== 'etcd' }],
  };
  if (program === 'kube-addon-manager') {
    return {
      ...common,
      // The image's own entrypoint (/opt/kube-addons-main.sh), in its own working folder: the script
      // sources a kube-addons.sh from its working folder first. It logs to stdout, which the kubelet
      // keeps, so it needs no log folder of the host's (kube-up's redirect to /var/log needs one).
      // Root, for the 0700 replica root and the 0600 kubeconfig; no capabilities beyond the owner's.
      securityContext: {
        runAsUser: 0,
        runAsGroup: 0,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      },
    };
  }
  return {
    ...common,
    // The program by name, from the image's PATH; every argument unchanged.
    command: [program, ...process.args],
    // Relative paths in the arguments are relative to the replica's root (NodeProcess.args).
    workingDir: REPLICA_ROOT_DIR,
  };
}

function processPod(process: NodeProcess, options: ReplicaMetadataOptions, version: string): StaticPod {
  const program = programOf(process);
  if (program === 'kube-addon-manager') assertAddonManager(process);
  const container = programContainer(process, program, imageOf(program, version, options.images));
  return {
    name: `hacp-${process.name}.json`,
    manifest: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: podMetadata(process.name, process.name),
      spec: podSpec(container, [rootVolume()], process.stopGraceSeconds),
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
 * The static pods of a replica, kubeadm style: one per NodeConfig process, chosen by its name
 * (`etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`: the container runs
 * `[name, ...args]` from the program's image, with the replica's root mounted at the same path so
 * every path in the arguments resolves; `kube-addon-manager`: the official image's own entrypoint
 * with the process's environment), plus `hacp-health`, the HAProxy health endpoint. The images of
 * the Kubernetes programs follow `NodeConfig.kubernetesVersion`, else `kubernetesVersion`. The
 * manifests are JSON, which the kubelet reads like YAML.
 *
 * @throws HacpError INVALID_ARGUMENT when the NodeConfig fails assertNodeConfig, a process has a
 *   name without an image or a command of another program, an image or the version is malformed,
 *   the flags do not give the listeners the probes need, or the add-on manager's environment does
 *   not point inside the replica's root.
 * @example
 * renderStaticPods({ cluster: 'prod', replica: 'prod-master', nodeConfig, kubernetesVersion: '1.31.2' })
 *   .map((pod) => pod.name); // ['hacp-etcd.json', 'hacp-kube-apiserver.json', ..., 'hacp-health.json']
 */
export function renderStaticPods(options: ReplicaMetadataOptions): StaticPod[] {
  assertNodeConfig(options.nodeConfig);
  const version = replicaKubernetesVersion(options);
  const pods = options.nodeConfig.processes.map((process) => processPod(process, options, version));
  return [...pods, healthPod(options)];
}
