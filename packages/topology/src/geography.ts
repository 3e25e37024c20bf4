/**
 * Where replicas may live: one region per cluster, and one zone unless the cluster was created with
 * multizone. kube-up checked neither (kube-up-behaviour.md §8 item 11); hacp refuses both up front.
 */
import { assertZone, ErrorCode, HacpError, isHacpError, regionOfZone } from '@hacp/core';
import type { Verdict } from './types.js';

export { assertZone, regionOfZone };

/** What {@link checkReplicaZone} decides from. */
export interface ReplicaZoneOptions {
  /** The zone asked for the replica. */
  zone: string;
  /** The cluster's region. */
  region: string;
  /** Whether the cluster was created with multizone (`MULTIZONE=true` / `--multizone`). */
  multizone: boolean;
  /** The first replica's zone: without multizone, every replica stays in it. */
  firstZone: string;
}

/**
 * Whether a replica may be placed in `zone`: the zone is well formed, in the cluster's region, and,
 * for a cluster created without multizone, the first replica's zone.
 *
 * @example
 * checkReplicaZone({ zone: 'us-east1-b', region: 'europe-west1', multizone: true, firstZone: 'europe-west1-b' })
 * // { ok: false, error: HacpError ZONE_NOT_IN_REGION }
 * @throws Never: a refusal is returned as `{ ok: false, error }`.
 */
export function checkReplicaZone(options: ReplicaZoneOptions): Verdict {
  const { zone, region, multizone, firstZone } = options;
  let zoneRegion: string;
  try {
    zoneRegion = regionOfZone(zone);
  } catch (error) {
    if (isHacpError(error)) return { ok: false, error };
    throw error;
  }
  if (zoneRegion !== region) {
    const example = multizone ? `${region}-b` : firstZone;
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.ZONE_NOT_IN_REGION,
        message: `Zone ${zone} is in region ${zoneRegion}, but the cluster is in region ${region}: every replica of a cluster shares its region.`,
        actions: [
          `Pick a zone in ${region}, such as ${example}.`,
          `To run a control plane in ${zoneRegion}, create another cluster there.`,
        ],
        details: { zone, zoneRegion, region, firstZone },
      }),
    };
  }
  if (!multizone && zone !== firstZone) {
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.MULTIZONE_REQUIRED,
        message: `Zone ${zone} differs from the cluster's first zone ${firstZone}, and the cluster was created without multizone: every replica stays in ${firstZone}.`,
        actions: [
          `Use zone ${firstZone}.`,
          'To spread replicas over zones, create the cluster with multizone (MULTIZONE=true / --multizone).',
        ],
        details: { zone, firstZone, region },
      }),
    };
  }
  return { ok: true };
}

/**
 * {@link checkReplicaZone}, throwing its refusal.
 *
 * @example
 * assertReplicaZone({ zone: 'europe-west1-c', region: 'europe-west1', multizone: true, firstZone: 'europe-west1-b' });
 * @throws HacpError ZONE_INVALID for a malformed zone, ZONE_NOT_IN_REGION for a zone of another
 *   region, MULTIZONE_REQUIRED for another zone than the first in a cluster without multizone.
 */
export function assertReplicaZone(options: ReplicaZoneOptions): void {
  const verdict = checkReplicaZone(options);
  if (!verdict.ok) throw verdict.error;
}

/**
 * The zones of `zones` that are in `region`, sorted and without duplicates. A malformed zone is in no
 * region, so it is left out rather than thrown.
 *
 * @example
 * zonesInRegion(['europe-west1-c', 'us-east1-b', 'europe-west1-b'], 'europe-west1')
 * // ['europe-west1-b', 'europe-west1-c']
 * @throws Never.
 */
export function zonesInRegion(zones: readonly string[], region: string): string[] {
  const inRegion = new Set<string>();
  for (const zone of zones) {
    try {
      if (regionOfZone(zone) === region) inRegion.add(zone);
    } catch (error) {
      if (!isHacpError(error, ErrorCode.ZONE_INVALID)) throw error;
    }
  }
  // The default sort compares code units: the same order in every locale.
  return [...inRegion].sort();
}
