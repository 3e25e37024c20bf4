import { randomBytes } from 'node:crypto';
import { ErrorCode, HacpError, invalidArgument } from './errors.js';

const ZONE = /^[a-z][a-z0-9]*(-[a-z0-9]+)+$/;
const CLUSTER_NAME = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** The default cluster name, as kube-up's `INSTANCE_PREFIX`. */
export const DEFAULT_CLUSTER_NAME = 'kubernetes';

/**
 * Checks a zone name: lowercase letters, digits and dashes, at least one dash, as in
 * `europe-west1-b` or `local-a`.
 *
 * @throws HacpError ZONE_INVALID naming the zone.
 */
export function assertZone(zone: string): void {
  if (typeof zone !== 'string' || !ZONE.test(zone) || zone.length > 63) {
    throw new HacpError({
      code: ErrorCode.ZONE_INVALID,
      message: `"${String(zone)}" is not a zone name: a zone is a region plus a suffix, such as europe-west1-b.`,
      actions: ['Give a zone such as europe-west1-b (GCE) or local-a (local provider).'],
      details: { zone: String(zone) },
    });
  }
}

/**
 * The region of a zone: the zone without its last `-x` part (GCE's rule, as kube-up's
 * `REGION=${ZONE%-*}`).
 *
 * @example regionOfZone('europe-west1-b') // 'europe-west1'
 * @throws HacpError ZONE_INVALID when the zone is malformed.
 */
export function regionOfZone(zone: string): string {
  assertZone(zone);
  return zone.slice(0, zone.lastIndexOf('-'));
}

/**
 * Checks a cluster name: 1 to 40 characters, lowercase letters, digits and dashes, starting with a
 * letter and not ending with a dash, so that every resource name derived from it fits in 63.
 *
 * @throws HacpError INVALID_ARGUMENT with `details.field = 'cluster'`.
 */
export function assertClusterName(cluster: string): void {
  if (typeof cluster !== 'string' || !CLUSTER_NAME.test(cluster)) {
    throw invalidArgument({
      field: 'cluster',
      value: String(cluster),
      message: `"${String(cluster)}" is not a valid cluster name: use 1-40 lowercase letters, digits and dashes, starting with a letter.`,
      actions: [`Use a name such as ${DEFAULT_CLUSTER_NAME} or prod-eu.`],
    });
  }
}

/** The first replica's name: `<cluster>-master` (kube-up's `MASTER_NAME`). */
export function firstReplicaName(cluster: string): string {
  assertClusterName(cluster);
  return `${cluster}-master`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Whether `name` is a replica of `cluster`: exactly `<cluster>-master` or `<cluster>-master-<3 hex>`.
 * Anchored at both ends, unlike kube-up's `^${MASTER_NAME}(-...)?` that also matched
 * `kubernetes-master-old-backup`.
 */
export function isReplicaName(cluster: string, name: string): boolean {
  return new RegExp(`^${escapeRegExp(cluster)}-master(-[0-9a-f]{3})?$`).test(name);
}

/**
 * A name for a new replica: `<cluster>-master` when the cluster has none, else
 * `<cluster>-master-<3 hex>` not in `existing`.
 *
 * @throws HacpError INTERNAL when all 4096 suffixes are taken (a cluster has at most a handful).
 */
export function newReplicaName(options: {
  cluster: string;
  existing: readonly string[];
  randomHex?: () => string;
}): string {
  const { cluster, existing } = options;
  const first = firstReplicaName(cluster);
  const taken = new Set(existing);
  if (!taken.has(first) && existing.every((name) => !isReplicaName(cluster, name))) return first;
  const randomHex = options.randomHex ?? (() => randomBytes(2).toString('hex').slice(0, 3));
  for (let attempt = 0; attempt < 64; attempt++) {
    const candidate = `${first}-${randomHex()}`;
    if (isReplicaName(cluster, candidate) && !taken.has(candidate)) return candidate;
  }
  for (let n = 0; n < 4096; n++) {
    const candidate = `${first}-${n.toString(16).padStart(3, '0')}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new HacpError({
    code: ErrorCode.INTERNAL,
    message: `No free replica name is left for cluster ${cluster}.`,
    details: { cluster },
  });
}
