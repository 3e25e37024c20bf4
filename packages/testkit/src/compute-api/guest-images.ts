import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageMap, imageKey } from '../kubelet/images.js';

/** The programs this machine has for a replica's images. */
export interface ImageSources {
  /** etcd (any tag): Debian's etcd-server. Default /usr/bin/etcd. */
  etcd?: string;
  /** The health endpoint (haproxy, any tag). Default /usr/sbin/haproxy. */
  haproxy?: string;
  /** hacp's add-on manager (`[node, main.js]`), for the add-on manager image; without it that pod cannot start. */
  addonManager?: readonly string[];
  /** The Kubernetes binaries of a version (`1.32.2`), by name (`kube-apiserver`, ...); undefined: none. */
  kubernetes?: (version: string) => Promise<Readonly<Record<string, string>> | undefined>;
}

const KUBERNETES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** The images the static pods in `manifestsDir` name (JSON manifests, as hacp writes them). */
export function manifestImages(manifestsDir: string): string[] {
  const images = new Set<string>();
  let files: string[] = [];
  try {
    files = readdirSync(manifestsDir).filter((file) => !file.startsWith('.') && file.endsWith('.json'));
  } catch {
    return [];
  }
  for (const file of files) {
    try {
      const pod = JSON.parse(readFileSync(join(manifestsDir, file), 'utf8')) as {
        spec?: { containers?: { image?: string }[] };
      };
      for (const container of pod.spec?.containers ?? []) {
        if (typeof container.image === 'string') images.add(container.image);
      }
    } catch {
      // the kubelet reports an unreadable manifest itself
    }
  }
  return [...images];
}

/**
 * The kubelet stand-in's image map for these images: each image that this machine has a program for,
 * keyed by its last path segment and tag. An image left out cannot be "pulled": its pod reports
 * ErrImagePull, as on a node whose registry does not have it.
 */
export async function imageMap(images: readonly string[], sources: ImageSources): Promise<ImageMap> {
  const map: ImageMap = {};
  for (const image of images) {
    const key = imageKey(image);
    const [name = '', tag = ''] = key.split(/[:@]/, 2);
    if (name === 'etcd') map[key] = { command: [sources.etcd ?? '/usr/bin/etcd'] };
    else if (name === 'haproxy') map[key] = { command: [sources.haproxy ?? '/usr/sbin/haproxy'] };
    else if (name === 'kube-addon-manager' && sources.addonManager !== undefined) {
      // The official image reads ADDON_PATH and KUBECTL_OPTS (--kubeconfig); hacp's program takes flags.
      const program = sources.addonManager.map((part) => `'${part.replaceAll("'", `'\\''`)}'`).join(' ');
      const entrypoint = [
        '/bin/sh',
        '-c',
        `exec ${program} $KUBECTL_OPTS --addons-dir "$ADDON_PATH"`,
        'kube-addon-manager',
      ];
      map[key] = { command: entrypoint, entrypoint };
    } else if (KUBERNETES.includes(name) && sources.kubernetes !== undefined) {
      // A CI build's `+` is `_` in its tag (kubeadm's KubernetesVersionToImageTag).
      const binaries = await sources.kubernetes(tag.replace(/^v/, '').replaceAll('_', '+'));
      const path = binaries?.[name];
      if (path !== undefined) map[key] = { command: [path] };
    }
  }
  return map;
}
