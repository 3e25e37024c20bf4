/**
 * Where a container's paths are on this machine. A container sees its volumes at their mount paths;
 * the stand-in runs it as a host process, so every container path under a mount is rewritten to the
 * volume's folder under the VM's root, in the command, arguments, environment and working folder.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ContainerSpec, PodSpec, VolumeSpec } from './manifests.js';

/** One mount of a container: the path it sees and the host folder (or file) behind it. */
export interface PathMount {
  containerPath: string;
  hostPath: string;
  volume: VolumeSpec;
}

/** The host path of a path of the VM: the VM's `/` is `vmRoot`. */
export function vmHostPath(vmRoot: string, vmPath: string): string {
  return join(vmRoot, vmPath);
}

/** The host folder of a pod's emptyDir volume, under the VM's kubelet folder as a kubelet keeps it. */
export function emptyDirHostPath(vmRoot: string, pod: string, volume: string): string {
  return vmHostPath(vmRoot, `/var/lib/kubelet/pods/${pod}/volumes/kubernetes.io~empty-dir/${volume}`);
}

/**
 * The mounts of a container, longest container path first (so a mount inside another wins).
 * The manifest was checked: every mount names a volume of the pod.
 */
export function containerMounts(options: {
  vmRoot: string;
  pod: PodSpec;
  container: ContainerSpec;
}): PathMount[] {
  const { vmRoot, pod, container } = options;
  return container.volumeMounts
    .map((mount) => {
      const volume = pod.volumes.find((candidate) => candidate.name === mount.name) as VolumeSpec;
      const base =
        volume.kind === 'hostPath'
          ? vmHostPath(vmRoot, volume.path)
          : emptyDirHostPath(vmRoot, pod.name, volume.name);
      return {
        containerPath: mount.mountPath,
        hostPath: mount.subPath === undefined ? base : join(base, mount.subPath),
        volume,
      };
    })
    .sort((a, b) => b.containerPath.length - a.containerPath.length);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A function that rewrites every container path under a mount to its host path, wherever a path can
 * start in a value: at its start, after `=` (`--flag=/path`), after `,` or `:` (lists), or after
 * whitespace or a quote (`KUBECTL_OPTS="--kubeconfig /path"`). Only whole path segments match:
 * with a mount at `/mnt/disks/master-pd`, `/mnt/disks/master-pd-2` is left alone.
 *
 * @example
 * const map = pathMapper([{ containerPath: '/mnt/disks/master-pd', hostPath: '/tmp/vm/mnt/disks/master-pd', volume }]);
 * map('--data-dir=/mnt/disks/master-pd/etcd'); // '--data-dir=/tmp/vm/mnt/disks/master-pd/etcd'
 */
export function pathMapper(mounts: readonly PathMount[]): (value: string) => string {
  if (mounts.length === 0) return (value) => value;
  const sorted = [...mounts].sort((a, b) => b.containerPath.length - a.containerPath.length);
  const byPath = new Map(sorted.map((mount) => [mount.containerPath, mount.hostPath]));
  // One pass, longest alternative first: a replaced value is never rewritten again.
  const pattern = new RegExp(
    `(^|[=,:\\s"'])(${sorted.map((mount) => escapeRegExp(mount.containerPath)).join('|')})(?=[/,:\\s"']|$)`,
    'g',
  );
  return (value) =>
    value.replace(pattern, (_, before: string, path: string) => before + (byPath.get(path) as string));
}

/**
 * Makes a mount's host path ready as the kubelet's volume manager does: `DirectoryOrCreate` (and an
 * emptyDir) creates the folder with mode 0755, `FileOrCreate` an empty 0644 file; the other types
 * check what is there.
 *
 * @returns undefined when ready, else why the volume cannot be mounted (the kubelet's FailedMount).
 */
export function prepareMount(mount: PathMount): string | undefined {
  const { volume } = mount;
  const path = mount.hostPath;
  const stat = () => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  };
  if (volume.kind === 'emptyDir' || volume.type === 'DirectoryOrCreate') {
    if (!existsSync(path)) {
      mkdirSync(path, { recursive: true });
      chmodSync(path, 0o755);
    }
    return stat()?.isDirectory() ? undefined : `hostPath type check failed: ${path} is not a directory`;
  }
  switch (volume.type) {
    case '':
      return undefined;
    case 'Directory':
      return stat()?.isDirectory() ? undefined : `hostPath type check failed: ${path} is not a directory`;
    case 'FileOrCreate':
      if (!existsSync(path)) {
        mkdirSync(dirname(path), { recursive: true });
        closeSync(openSync(path, 'a', 0o644));
      }
      return stat()?.isFile() ? undefined : `hostPath type check failed: ${path} is not a file`;
    case 'File':
      return stat()?.isFile() ? undefined : `hostPath type check failed: ${path} is not a file`;
    case 'Socket':
      return stat()?.isSocket() ? undefined : `hostPath type check failed: ${path} is not a socket`;
    case 'CharDevice':
      return stat()?.isCharacterDevice()
        ? undefined
        : `hostPath type check failed: ${path} is not a character device`;
    case 'BlockDevice':
      return stat()?.isBlockDevice()
        ? undefined
        : `hostPath type check failed: ${path} is not a block device`;
  }
}
