import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { invalidArgument } from '@hacp/core';

/** The Kubernetes server programs every replica runs, in the order hacp reports them. */
export const KUBERNETES_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** One of the Kubernetes server programs hacp runs. */
export type KubernetesBinary = (typeof KUBERNETES_BINARIES)[number];

/** The official release location; `HACP_KUBE_RELEASE_URL` overrides it. */
export const DEFAULT_RELEASE_URL = 'https://dl.k8s.io/release';

/** The environment variable that names each binary's own file. */
export const BINARY_VARIABLES: Readonly<Record<KubernetesBinary, string>> = {
  'kube-apiserver': 'KUBE_APISERVER',
  'kube-controller-manager': 'KUBE_CONTROLLER_MANAGER',
  'kube-scheduler': 'KUBE_SCHEDULER',
};

/** Where hacp looks for a version's binaries, and where it downloads them from. */
export interface KubernetesBinarySource {
  /** A folder holding the three binaries (`HACP_KUBE_BIN_DIR`); checked first. */
  binDir?: string;
  /** One file per binary (`KUBE_APISERVER`, `KUBE_CONTROLLER_MANAGER`, `KUBE_SCHEDULER`). */
  binaries?: Partial<Record<KubernetesBinary, string>>;
  /** The hacp cache root; binaries go to `<cacheDir>/kubernetes/<version>/`. */
  cacheDir: string;
  /** The release location (`HACP_KUBE_RELEASE_URL`): https://, http:// or file://. */
  releaseUrl: string;
  /** The release's architecture name; default from `process.arch` (x64 → amd64, arm64 → arm64). */
  arch?: string;
}

const ARCH_OF_NODE: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

/**
 * The source hacp uses by default, read from the environment: `HACP_KUBE_BIN_DIR`, `KUBE_APISERVER`,
 * `KUBE_CONTROLLER_MANAGER`, `KUBE_SCHEDULER`, `HACP_KUBE_RELEASE_URL` (default the official
 * location) and the cache under `$XDG_CACHE_HOME/hacp` (default `~/.cache/hacp`). Relative paths are
 * made absolute against the working directory; a relative `XDG_CACHE_HOME` is ignored, as the XDG
 * specification says.
 *
 * @example
 * const source = kubernetesBinarySourceFromEnv(process.env);
 * // { cacheDir: '/home/me/.cache/hacp', releaseUrl: 'https://dl.k8s.io/release' }
 */
export function kubernetesBinarySourceFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: { home?: string } = {},
): KubernetesBinarySource {
  const value = (name: string) => {
    const text = env[name]?.trim();
    return text === undefined || text === '' ? undefined : text;
  };
  const xdgCache = value('XDG_CACHE_HOME');
  const cacheRoot =
    xdgCache !== undefined && isAbsolute(xdgCache) ? xdgCache : join(options.home ?? homedir(), '.cache');
  const binaries: Partial<Record<KubernetesBinary, string>> = {};
  for (const binary of KUBERNETES_BINARIES) {
    const path = value(BINARY_VARIABLES[binary]);
    if (path !== undefined) binaries[binary] = resolve(path);
  }
  const binDir = value('HACP_KUBE_BIN_DIR');
  return {
    ...(binDir === undefined ? {} : { binDir: resolve(binDir) }),
    ...(Object.keys(binaries).length === 0 ? {} : { binaries }),
    cacheDir: join(cacheRoot, 'hacp'),
    releaseUrl: value('HACP_KUBE_RELEASE_URL') ?? DEFAULT_RELEASE_URL,
  };
}

/**
 * The release's name for the architecture (`amd64` for Node's `x64`).
 *
 * @throws HacpError INVALID_ARGUMENT (field `arch`) for a name that cannot be part of a release path,
 *   or a Node architecture Kubernetes publishes no binaries for.
 */
export function releaseArch(source: Pick<KubernetesBinarySource, 'arch'>, nodeArch = process.arch): string {
  if (source.arch !== undefined) {
    if (!/^[a-z0-9]+$/.test(source.arch)) {
      throw invalidArgument({
        field: 'arch',
        value: source.arch,
        message: `"${source.arch}" is not a release architecture such as amd64 or arm64.`,
      });
    }
    return source.arch;
  }
  const arch = ARCH_OF_NODE[nodeArch];
  if (arch === undefined) {
    throw invalidArgument({
      field: 'arch',
      value: nodeArch,
      message: `Kubernetes publishes no server binaries for this machine's architecture (${nodeArch}).`,
      actions: [
        'Set arch in the binary source, or point HACP_KUBE_BIN_DIR at binaries built for this machine.',
      ],
    });
  }
  return arch;
}

/**
 * The release location as a URL without a trailing slash.
 *
 * @throws HacpError INVALID_ARGUMENT (field `releaseUrl`) for anything but an http(s) or file URL.
 */
export function releaseBase(releaseUrl: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(releaseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['https:', 'http:', 'file:'].includes(url.protocol) || url.search || url.hash) {
    throw invalidArgument({
      field: 'releaseUrl',
      value: String(releaseUrl),
      message: `The release location "${String(releaseUrl)}" is not an https://, http:// or file:// URL without a query.`,
      actions: [
        `Set HACP_KUBE_RELEASE_URL to a location laid out like ${DEFAULT_RELEASE_URL}, e.g. file:///srv/kubernetes/release.`,
      ],
    });
  }
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/** `<base>/<relative>`: the location's file at that path. */
export function releaseFileUrl(base: URL, relative: string): URL {
  const url = new URL(base.href);
  // An http location at the root keeps the pathname '/' however it is set.
  url.pathname = `${base.pathname.replace(/\/+$/, '')}/${relative}`;
  return url;
}

/** The folder a version's cached binaries live in. */
export function versionCacheDir(source: Pick<KubernetesBinarySource, 'cacheDir'>, version: string): string {
  return join(kubernetesCacheDir(source), version);
}

/** `<cacheDir>/kubernetes`: every cached version's folder is in it. */
export function kubernetesCacheDir(source: Pick<KubernetesBinarySource, 'cacheDir'>): string {
  if (typeof source.cacheDir !== 'string' || !isAbsolute(source.cacheDir)) {
    throw invalidArgument({
      field: 'cacheDir',
      value: String(source.cacheDir),
      message: `The cache folder "${String(source.cacheDir)}" is not an absolute path.`,
      actions: ['Give an absolute cacheDir, or set XDG_CACHE_HOME to an absolute path.'],
    });
  }
  return join(source.cacheDir, 'kubernetes');
}
