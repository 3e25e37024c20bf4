/**
 * Which container image runs each program of a replica, and the Kubernetes version they follow. A
 * replica's programs are chosen by NodeProcess name; the images come from the official registry
 * unless the caller names others.
 */
import { invalidArgument } from '@hacp/core';

/** Container images a replica's static pods run; each has a default. */
export interface ReplicaImages {
  /** Default DEFAULT_ETCD_IMAGE. */
  etcd?: string;
  /** Default `registry.k8s.io/kube-apiserver:<tag of the version>`. */
  kubeApiserver?: string;
  /** Default `registry.k8s.io/kube-controller-manager:<tag of the version>`. */
  kubeControllerManager?: string;
  /** Default `registry.k8s.io/kube-scheduler:<tag of the version>`. */
  kubeScheduler?: string;
  /** Default DEFAULT_ADDON_MANAGER_IMAGE, whichever the Kubernetes version. */
  addonManager?: string;
  /** The health endpoint's HAProxy; default DEFAULT_HEALTH_IMAGE. */
  health?: string;
}

/** The programs a replica runs as static pods, by NodeProcess name. */
export const REPLICA_PROGRAMS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-addon-manager',
] as const;

export type ReplicaProgram = (typeof REPLICA_PROGRAMS)[number];

export const DEFAULT_ETCD_IMAGE = 'registry.k8s.io/etcd:3.5.16-0';
/**
 * The official add-on manager (kubernetes/kubernetes `cluster/addons/addon-manager`, v9.1.8: its
 * kube-addons.sh with kubectl v1.32.2). kube-up's manifest pins its own tag the same way.
 */
export const DEFAULT_ADDON_MANAGER_IMAGE = 'registry.k8s.io/addon-manager/kube-addon-manager:v9.1.8';
export const DEFAULT_HEALTH_IMAGE = 'docker.io/library/haproxy:2.8-alpine';

/** Each program's key in ReplicaImages. */
const IMAGE_KEYS: Record<ReplicaProgram, keyof ReplicaImages> = {
  etcd: 'etcd',
  'kube-apiserver': 'kubeApiserver',
  'kube-controller-manager': 'kubeControllerManager',
  'kube-scheduler': 'kubeScheduler',
  'kube-addon-manager': 'addonManager',
};

// Semantic versioning's shape: a pre-release after `-`, build metadata after `+` (CI builds).
const VERSION = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/;

/** Whether a NodeProcess name is one of the programs a replica has an image for. */
export function isReplicaProgram(name: string): name is ReplicaProgram {
  return (REPLICA_PROGRAMS as readonly string[]).includes(name);
}

/**
 * The Kubernetes version without its `v`, such as `1.32.0-beta.0.0+cd13ec4ae44e`.
 *
 * @throws HacpError INVALID_ARGUMENT for anything but `[v]<major>.<minor>.<patch>[-<pre>][+<build>]`.
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

/**
 * The image tag of a Kubernetes version: `v` and the version, with every character an image tag
 * cannot hold made `_`, as kubeadm's KubernetesVersionToImageTag and the release tooling tag CI
 * builds (`v1.32.0-beta.0.0+cd13ec4ae44e` is tagged `v1.32.0-beta.0.0_cd13ec4ae44e`).
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed version (normalizeKubernetesVersion).
 */
export function kubernetesImageTag(version: string): string {
  return `v${normalizeKubernetesVersion(version).replace(/[^-\w.]/g, '_')}`;
}

/**
 * Checks an image reference: registry, path, tag or digest characters only.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function checkedImage(field: string, image: string): string {
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
 * The image of a program: the caller's, else the default; the three Kubernetes binaries' defaults
 * follow the version.
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed image (field `images.<key>`) or version.
 */
export function imageOf(program: ReplicaProgram, version: string, images: ReplicaImages = {}): string {
  const key = IMAGE_KEYS[program];
  const given = images[key];
  if (given !== undefined) return checkedImage(`images.${key}`, given);
  switch (program) {
    case 'etcd':
      return DEFAULT_ETCD_IMAGE;
    case 'kube-addon-manager':
      return DEFAULT_ADDON_MANAGER_IMAGE;
    default:
      return `registry.k8s.io/${program}:${kubernetesImageTag(version)}`;
  }
}

/**
 * Checks every image a caller gave, so that a typo is refused when the provider is made rather than
 * when its first replica is.
 *
 * @throws HacpError INVALID_ARGUMENT (field `images.<key>`) for an unknown key or a malformed image.
 */
export function assertReplicaImages(images: ReplicaImages): void {
  const known = new Set<string>([...Object.values(IMAGE_KEYS), 'health']);
  for (const [key, image] of Object.entries(images)) {
    if (!known.has(key)) {
      throw invalidArgument({
        field: `images.${key}`,
        message: `images.${key} is not an image a replica runs (${[...known].join(', ')}).`,
      });
    }
    if (image !== undefined) checkedImage(`images.${key}`, image);
  }
}
