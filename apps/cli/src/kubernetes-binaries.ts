/**
 * What the `binaries` commands add to the SDK's binary functions: the variable that names each
 * binary (to tell the user which one they set), a release location fit to print, and the found
 * binaries as the rows the commands report.
 */
import type { KubernetesBinaries, KubernetesBinary } from '@hacp/sdk';
import type { BinaryLocation } from './render-kubernetes.js';

/** The variable that names each binary's own file, as @hacp/kubernetes-release reads them. */
export const BINARY_VARIABLES = {
  'kube-apiserver': 'KUBE_APISERVER',
  'kube-controller-manager': 'KUBE_CONTROLLER_MANAGER',
  'kube-scheduler': 'KUBE_SCHEDULER',
} as const satisfies Record<KubernetesBinary, string>;

/** The binaries in the order hacp reports them. */
export const BINARY_NAMES = Object.keys(BINARY_VARIABLES) as KubernetesBinary[];

/**
 * The release location without a user name or password, which a mirror's URL may carry.
 *
 * @example releaseUrlForDisplay('https://me:secret@mirror.example/release') // 'https://mirror.example/release'
 */
export function releaseUrlForDisplay(releaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(releaseUrl);
  } catch {
    return releaseUrl;
  }
  if (url.username === '' && url.password === '') return releaseUrl;
  url.username = '';
  url.password = '';
  return url.href;
}

/** Each binary of a found set with its path and where it comes from, in hacp's order. */
export function binaryLocations(found: KubernetesBinaries): BinaryLocation[] {
  return BINARY_NAMES.map((name) => ({ name, path: found.paths[name], source: found.sources[name] }));
}

/** The variables the binary source names, by variable: `{ KUBE_APISERVER: '/opt/k8s/kube-apiserver' }`. */
export function namedBinaryVariables(
  binaries: Partial<Record<KubernetesBinary, string>> | undefined,
): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const name of BINARY_NAMES) {
    const path = binaries?.[name];
    if (path !== undefined) variables[BINARY_VARIABLES[name]] = path;
  }
  return variables;
}
