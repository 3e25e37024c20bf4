/**
 * kube-up's resource names and the mappings between GCE's resources and the contract's: instance
 * status, labels, resource URLs, and which project metadata item holds a state key.
 */
import { type InstanceStatus, invalidArgument } from '@hacp/core';

/** The label every hacp resource carries, with the cluster's name. */
export const CLUSTER_LABEL = 'hacp-cluster';

/** The access config of an instance's first network interface, as kube-up names it. */
export const ACCESS_CONFIG_NAME = 'external-nat';

/** Where GCE's health checkers come from (target pools' legacy HTTP checks included). */
export const HEALTH_CHECK_SOURCE_RANGES: readonly string[] = Object.freeze([
  '35.191.0.0/16',
  '209.85.152.0/22',
  '209.85.204.0/22',
]);

/** Where IAP TCP forwarding connects from. */
export const IAP_SOURCE_RANGE = '35.235.240.0/20';

/** kube-up's `--scopes storage-ro,compute-rw,monitoring,logging-write`, as URLs. */
export const MASTER_SCOPES: readonly string[] = Object.freeze([
  'https://www.googleapis.com/auth/compute',
  'https://www.googleapis.com/auth/devstorage.read_only',
  'https://www.googleapis.com/auth/logging.write',
  'https://www.googleapis.com/auth/monitoring',
]);

/** The network tag of a cluster's replicas: kube-up's `MASTER_TAG`. */
export function masterTag(cluster: string): string {
  return `${cluster}-master`;
}

/** The names derived from a replica's or a load balancer's name, each within GCE's 63 characters. */
export const derivedName = {
  /** The replica's data disk: kube-up's `<vm>-pd`. */
  disk: (instance: string) => `${instance}-pd`,
  /** The replica's reserved internal address. */
  internalAddress: (instance: string) => `${instance}-internal`,
  /** The load balancer's legacy HTTP health check: kube-up's `<name>-hc`. */
  healthCheck: (loadBalancer: string) => `${loadBalancer}-hc`,
  /** The firewall rule letting GCE's health checkers in. */
  healthFirewall: (loadBalancer: string) => `${loadBalancer}-health`,
  /** The companion of a replicas-only firewall rule for IAP's range. */
  iapFirewall: (rule: string) => `${rule}-iap`,
} as const;

/**
 * Checks that every name derived from `name` fits GCE's 63 characters.
 *
 * @throws HacpError INVALID_ARGUMENT naming `field`.
 */
export function assertDerivedNamesFit(field: string, name: string, suffixes: readonly string[]): void {
  const longest = Math.max(0, ...suffixes.map((suffix) => suffix.length));
  if (name.length + longest > 63) {
    throw invalidArgument({
      field,
      value: name,
      message: `${field} "${name}" is too long for GCE: names made from it (such as "${name}${suffixes[0] ?? ''}") must fit in 63 characters, so use at most ${63 - longest}.`,
    });
  }
}

/**
 * The contract's status for a GCE instance status. A deleted instance is gone (undefined), never
 * `terminated`: GCE has no status for an instance that cannot be started again.
 */
export function instanceStatus(status: unknown): InstanceStatus {
  switch (String(status ?? '')) {
    case 'PROVISIONING':
    case 'STAGING':
      return 'provisioning';
    case 'RUNNING':
      return 'running';
    case 'STOPPING':
    case 'STOPPED':
    case 'SUSPENDING':
    case 'SUSPENDED':
    case 'REPAIRING':
    // GCE's stopped instance: `instances.stop` ends in TERMINATED (STOPPED is unused), and
    // `instances.start` brings it back with its disks, as the contract's `stopped` says.
    case 'TERMINATED':
      return 'stopped';
    default:
      return 'unknown';
  }
}

/** An instance's labels: the spec's, plus `hacp-cluster` (which the spec cannot override). */
export function instanceLabels(
  cluster: string,
  labels: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return { ...labels, [CLUSTER_LABEL]: cluster };
}

/** The last segment of a resource URL or path: `.../zones/europe-west1-b` → `europe-west1-b`. */
export function lastSegment(url: string | null | undefined): string {
  const text = url ?? '';
  return text.slice(text.lastIndexOf('/') + 1);
}

/** What a resource URL names, for the kinds an address's `users` hold. */
export type ResourceUrl =
  | { kind: 'instance'; zone: string; name: string }
  | { kind: 'forwarding-rule'; region: string; name: string }
  | { kind: 'other'; url: string };

/** Parses `.../zones/<z>/instances/<n>` and `.../regions/<r>/forwardingRules/<n>`. */
export function parseResourceUrl(url: string): ResourceUrl {
  const instance = /\/zones\/([^/]+)\/instances\/([^/?]+)$/.exec(url);
  if (instance) return { kind: 'instance', zone: instance[1] as string, name: instance[2] as string };
  const rule = /\/regions\/([^/]+)\/forwardingRules\/([^/?]+)$/.exec(url);
  if (rule) return { kind: 'forwarding-rule', region: rule[1] as string, name: rule[2] as string };
  return { kind: 'other', url };
}

/** The prefix of every project metadata item that holds hacp state. */
export const STATE_ITEM_PREFIX = 'hacp-';

const CLUSTER_KEY = /^hacp\/clusters\/([^/]+)(\/|$)/;
const CLUSTER_LOCK = /^hacp-cluster-(.+)$/;

function sanitise(segment: string): string {
  const clean = segment
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 60);
  return clean.length > 0 ? clean : 'default';
}

/**
 * The project metadata item that holds a state key or a lock name: `hacp/clusters/<c>/...` and
 * the lock `hacp-cluster-<c>` live with their cluster in `hacp-<c>`; any other key in
 * `hacp-<its first segment>` (up to `/`, as `[a-z0-9-]`, at most 60). Items only group entries:
 * each entry is stored under its full key, so two keys sharing an item never collide.
 *
 * @example
 * stateItemOf('hacp/clusters/prod/record') // 'hacp-prod'
 * stateItemOf('hacp-cluster-prod')          // 'hacp-prod'
 * stateItemOf('conf-3a9c1e/records/a')      // 'hacp-conf-3a9c1e'
 */
export function stateItemOf(key: string): string {
  const cluster = CLUSTER_KEY.exec(key)?.[1] ?? CLUSTER_LOCK.exec(key)?.[1];
  if (cluster !== undefined) return `${STATE_ITEM_PREFIX}${sanitise(cluster)}`;
  const slash = key.indexOf('/');
  return `${STATE_ITEM_PREFIX}${sanitise(slash < 0 ? key : key.slice(0, slash))}`;
}
