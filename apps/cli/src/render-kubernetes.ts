/**
 * The results of the Kubernetes commands (`kubeconfig`, `binaries list|fetch`, `addons`, `addons
 * apply`) and their text output, as pure functions. What `--json` prints is the result itself, so
 * no result here holds a secret except the kubeconfig's contents, a `Secret` that serialises as
 * `[redacted]` and that the kubeconfig command leaves out of its JSON result altogether.
 */
import type {
  AddonFile,
  AddonsApplyResult,
  CachedKubernetesVersion,
  KubeconfigResult,
  KubernetesBinary,
} from '@hacp/sdk';
import { columns, plural, shellWord } from './render.js';

/** `hacp kubeconfig`'s result: where the kubeconfig points, and the file it was written to. */
export interface KubeconfigCommandResult {
  /** The endpoint's API URL. */
  server: string;
  context: string;
  /** The file it was written to (0600); absent only when the text output prints it instead. */
  path?: string;
  /** The kubeconfig itself, for the text output only; never part of the `--json` result. */
  contents?: KubeconfigResult['contents'];
}

/** One binary and where it comes from. */
export interface BinaryLocation {
  name: KubernetesBinary;
  /** Absolute. */
  path: string;
  /** `bin-dir` (HACP_KUBE_BIN_DIR), `variable` (KUBE_APISERVER, ...) or `cache`. */
  source: 'bin-dir' | 'variable' | 'cache';
}

/** `hacp binaries list`'s result. */
export interface BinariesListResult {
  /** The folder holding a folder per cached version: `$XDG_CACHE_HOME/hacp/kubernetes`. */
  cacheDir: string;
  /** Where downloads come from (HACP_KUBE_RELEASE_URL), without any user name or password. */
  releaseUrl: string;
  /** The cached versions, oldest first. */
  versions: CachedKubernetesVersion[];
  /** The binaries HACP_KUBE_BIN_DIR and the per-binary variables name; absent when none are set. */
  configured?: {
    binDir?: string;
    /** By variable: `{ KUBE_APISERVER: '/opt/k8s/kube-apiserver' }`. */
    variables?: Record<string, string>;
    /** The version they are, when they (with the cache for the rest) make a whole set. */
    version?: string;
  };
}

/** `hacp binaries fetch`'s result. */
export interface BinariesFetchResult {
  /** What was asked for: `1.23`, `stable-1.23`, `v1.23.16`. */
  requested: string;
  /** The exact version it resolved to. */
  version: string;
  /** Whether anything was downloaded (false: every binary was there already). */
  downloaded: boolean;
  binaries: BinaryLocation[];
}

/** `hacp addons`'s result: the cluster's add-on files and the objects in them. */
export interface AddonsListResult {
  files: AddonFile[];
}

/** `hacp addons apply`'s result: the SDK's AddonsApplyResult. */
export type AddonsApplyCommandResult = AddonsApplyResult;

const MEGABYTE = 1024 * 1024;

function megabytes(bytes: number): string {
  return `${(bytes / MEGABYTE).toFixed(1)} MB`;
}

/**
 * Without a path, the kubeconfig itself (so that `hacp kubeconfig > file` works); with one, where it
 * was written and what to run next.
 */
export function renderKubeconfig(result: KubeconfigCommandResult): string {
  if (result.path === undefined) {
    const contents = result.contents?.reveal() ?? '';
    return contents.endsWith('\n') ? contents : `${contents}\n`;
  }
  return [
    `Wrote the admin kubeconfig of ${result.context} (server ${result.server}) to ${result.path} (mode 0600).`,
    `Next: kubectl --kubeconfig ${shellWord(result.path)} get nodes`,
    '',
  ].join('\n');
}

/** The binaries' sources in words. */
const SOURCE_TEXT: Record<BinaryLocation['source'], string> = {
  'bin-dir': 'HACP_KUBE_BIN_DIR',
  variable: 'its variable',
  cache: 'cache',
};

/** The cached versions as a table, then what the variables name and where downloads come from. */
export function renderBinariesList(result: BinariesListResult): string {
  const lines: string[] = [];
  if (result.versions.length === 0) {
    lines.push(
      `No Kubernetes versions cached in ${result.cacheDir}; \`hacp binaries fetch --kubernetes-version <version>\` downloads one.`,
    );
  } else {
    lines.push(`Kubernetes versions cached in ${result.cacheDir}:`);
    const rows = [
      ['VERSION', 'BINARIES', 'SIZE'],
      ...result.versions.map((cached) => [
        cached.version,
        cached.binaries.length === 0 ? '(none)' : cached.binaries.join(', '),
        megabytes(cached.bytes),
      ]),
    ];
    for (const line of columns(rows)) lines.push(`  ${line}`);
  }
  const configured = result.configured;
  if (configured !== undefined) {
    const named = [
      ...(configured.binDir === undefined ? [] : [`HACP_KUBE_BIN_DIR=${configured.binDir}`]),
      ...Object.entries(configured.variables ?? {}).map(([variable, path]) => `${variable}=${path}`),
    ];
    const version =
      configured.version === undefined
        ? 'not a whole set of one version'
        : `Kubernetes ${configured.version}, what \`hacp up\` runs by default`;
    lines.push(`Configured: ${named.join(', ')} (${version}).`);
  }
  lines.push(`Downloads come from ${result.releaseUrl} (HACP_KUBE_RELEASE_URL).`);
  return `${lines.join('\n')}\n`;
}

/** The version fetched (or found), and each binary with its path and where it comes from. */
export function renderBinariesFetch(result: BinariesFetchResult): string {
  const asked = result.requested === result.version ? '' : ` (${result.requested})`;
  const how = result.downloaded ? 'downloaded' : 'already here, nothing downloaded';
  const rows = result.binaries.map((binary) => [binary.name, binary.path, SOURCE_TEXT[binary.source]]);
  return [
    `Kubernetes ${result.version}${asked}: ${how}.`,
    ...columns(rows).map((line) => `  ${line}`),
    '',
  ].join('\n');
}

function objectRow(object: AddonFile['objects'][number]): string[] {
  const name = object.namespace === undefined ? object.name : `${object.namespace}/${object.name}`;
  return [object.kind, name, object.mode];
}

/** Each file, then its objects with their namespace and mode, in columns across all files. */
function addonLines(files: readonly AddonFile[]): string[] {
  const rows = files.flatMap((file) => file.objects.map(objectRow));
  const widths = [0, 1].map((column) => Math.max(0, ...rows.map((row) => row[column]?.length ?? 0)));
  const lines: string[] = [];
  for (const file of files) {
    lines.push(file.file);
    if (file.objects.length === 0) lines.push('  (no objects)');
    for (const line of columns(file.objects.map(objectRow), widths)) lines.push(`  ${line}`);
  }
  return lines;
}

/** The cluster's add-on files with their objects and modes. */
export function renderAddons(result: AddonsListResult): string {
  if (result.files.length === 0) {
    return 'No add-ons. `hacp addons apply -f <file>` adds one.\n';
  }
  return `${addonLines(result.files).join('\n')}\n`;
}

/** What `addons apply` added, and which replicas got it. */
export function renderAddonsApply(result: AddonsApplyCommandResult): string {
  const lines = [`Added ${plural(result.files.length, 'add-on file')}:`, ...addonLines(result.files)];
  if (result.replicas.length === 0) {
    lines.push('No running replica was updated; replicas created from now on get them.');
  } else {
    lines.push(
      `Copied to ${plural(result.replicas.length, 'replica')} (${result.replicas.join(', ')}); each replica's add-on manager applies them on its next pass.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
