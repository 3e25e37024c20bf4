/**
 * The kubelet stand-in's configuration: the few keys of a KubeletConfiguration file it honours, and
 * the environment that tells it where the VM's root is and which program each image runs.
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, HacpError, invalidArgument } from '@hacp/core';

/** The keys of a KubeletConfiguration the stand-in reads; the kubelet's others are accepted and ignored. */
export interface KubeletConfig {
  /** The folder of static pod manifests, a real path on this machine. */
  staticPodPath: string;
  /** `fileCheckFrequency` in milliseconds, when the file sets it. */
  fileCheckFrequencyMs?: number;
}

/** Defaults the stand-in uses where a real kubelet's are too slow for tests (20 s, 10 s). */
export const KUBELET_DEFAULTS = { syncMs: 1000, backoffMs: 10_000 } as const;

const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration (`20s`, `1m30s`, `500ms`) in milliseconds, or undefined when it is not one.
 *
 * @example
 * parseGoDuration('1m30s'); // 90000
 */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(?:\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return text === '0' ? 0 : undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    total += Number(amount) * (DURATION_UNIT_MS[unit as string] as number);
  }
  return total;
}

function unquote(value: string): string {
  const quoted = /^(["'])(.*)\1$/.exec(value);
  return quoted ? (quoted[2] as string) : value;
}

/**
 * The top-level scalar keys of a YAML mapping, read line by line (the workspace has no YAML parser,
 * and a KubeletConfiguration's keys the stand-in needs are top-level scalars). Indented lines,
 * comments and list items are skipped.
 */
function topLevelScalars(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([A-Za-z][\w-]*):(?:\s+(.*?))?\s*$/.exec(line);
    if (match === null) continue;
    const value = (match[2] ?? '').replace(/\s+#.*$/, '');
    if (value !== '') values.set(match[1] as string, unquote(value));
  }
  return values;
}

/**
 * Reads the KubeletConfiguration text (YAML, or JSON, which the kubelet also takes).
 *
 * @throws HacpError INVALID_ARGUMENT when `staticPodPath` is missing or not absolute, or
 *   `fileCheckFrequency` is not a duration.
 * @example
 * parseKubeletConfig('kind: KubeletConfiguration\nstaticPodPath: /etc/kubernetes/manifests\n');
 */
export function parseKubeletConfig(text: string, file = 'the kubelet configuration'): KubeletConfig {
  let values: Map<string, string>;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw invalidArgument({ field: 'config', message: `${file} is neither YAML nor valid JSON.` });
    }
    values = new Map(
      Object.entries(parsed as Record<string, unknown>)
        .filter(([, value]) => typeof value === 'string')
        .map(([key, value]) => [key, value as string]),
    );
  } else {
    values = topLevelScalars(text);
  }
  const staticPodPath = values.get('staticPodPath');
  if (staticPodPath === undefined || !staticPodPath.startsWith('/')) {
    throw invalidArgument({
      field: 'staticPodPath',
      message: `${file} has no staticPodPath (an absolute folder of static pod manifests): a standalone kubelet would have nothing to run.`,
    });
  }
  const frequency = values.get('fileCheckFrequency');
  const fileCheckFrequencyMs = frequency === undefined ? undefined : parseGoDuration(frequency);
  if (frequency !== undefined && fileCheckFrequencyMs === undefined) {
    throw invalidArgument({
      field: 'fileCheckFrequency',
      value: frequency,
      message: `${file} has fileCheckFrequency "${frequency}", which is not a duration such as 20s.`,
    });
  }
  return { staticPodPath, ...(fileCheckFrequencyMs === undefined ? {} : { fileCheckFrequencyMs }) };
}

/**
 * Reads a KubeletConfiguration file.
 *
 * @throws HacpError NOT_FOUND when the file cannot be read; INVALID_ARGUMENT as parseKubeletConfig.
 */
export function readKubeletConfig(file: string): KubeletConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new HacpError({
      code: ErrorCode.NOT_FOUND,
      message: `Cannot read the kubelet configuration ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
      details: { file },
    });
  }
  return parseKubeletConfig(text, file);
}

/** What the stand-in reads from its environment (the CLI's; the library takes them as options). */
export interface KubeletEnvironment {
  vmRoot?: string;
  imagesFile?: string;
  nodeIp?: string;
  syncMs?: number;
  backoffMs?: number;
}

function positiveMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw invalidArgument({
      field: name,
      value: text,
      message: `${name} must be a whole number of milliseconds above 0, got "${text}".`,
    });
  }
  return value;
}

/**
 * The stand-in's environment: HACP_VM_ROOT, HACP_VM_IMAGES, HACP_VM_IP, HACP_KUBELET_SYNC_MS,
 * HACP_KUBELET_BACKOFF_MS.
 *
 * @throws HacpError INVALID_ARGUMENT for a number that is not a positive whole number.
 */
export function kubeletEnvironment(env: NodeJS.ProcessEnv): KubeletEnvironment {
  const pick = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const result: KubeletEnvironment = {};
  const vmRoot = pick('HACP_VM_ROOT');
  const imagesFile = pick('HACP_VM_IMAGES');
  const nodeIp = pick('HACP_VM_IP');
  const syncMs = positiveMs(env, 'HACP_KUBELET_SYNC_MS');
  const backoffMs = positiveMs(env, 'HACP_KUBELET_BACKOFF_MS');
  if (vmRoot !== undefined) result.vmRoot = vmRoot;
  if (imagesFile !== undefined) result.imagesFile = imagesFile;
  if (nodeIp !== undefined) result.nodeIp = nodeIp;
  if (syncMs !== undefined) result.syncMs = syncMs;
  if (backoffMs !== undefined) result.backoffMs = backoffMs;
  return result;
}
