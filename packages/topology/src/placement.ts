/**
 * Where the next replica should go, and the warnings about a replica set that users need to see:
 * kube-up only advised against two replicas in its docs (kube-up-behaviour.md §8 item 11).
 */
import { invalidArgument } from '@hacp/core';
import { zoneLossAnalysis } from './quorum.js';
import { type Warning, WarningCode } from './types.js';

/**
 * The zone of `zones` with the fewest replicas, ties broken by name order, so replicas spread evenly
 * and the choice is the same on every run. Replicas outside `zones` are not counted.
 *
 * @example
 * suggestZone([{ zone: 'europe-west1-b' }], ['europe-west1-c', 'europe-west1-b', 'europe-west1-d'])
 * // 'europe-west1-c'
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'zones'`) when `zones` is empty.
 */
export function suggestZone(replicas: readonly { zone: string }[], zones: readonly string[]): string {
  if (zones.length === 0) {
    throw invalidArgument({
      field: 'zones',
      message: 'There are no zones to choose from.',
      actions: ['Give at least one zone in the cluster region.'],
    });
  }
  const counts = new Map<string, number>();
  for (const replica of replicas) counts.set(replica.zone, (counts.get(replica.zone) ?? 0) + 1);
  let best: { zone: string; count: number } | undefined;
  for (const zone of zones) {
    const count = counts.get(zone) ?? 0;
    if (best === undefined || count < best.count || (count === best.count && zone < best.zone)) {
      best = { zone, count };
    }
  }
  return best!.zone;
}

/**
 * The warnings a replica set deserves, in a stable order (TWO_REPLICAS, EVEN_COUNT, SINGLE_ZONE,
 * ZONE_LOSS_LOSES_QUORUM, then UNHEALTHY_REPLICA by replica name). `healthy` defaults to true. An
 * even count warns from 4 up (2 has its own, stronger warning).
 *
 * @example
 * placementWarnings([
 *   { name: 'kubernetes-master', zone: 'europe-west1-b' },
 *   { name: 'kubernetes-master-a1f', zone: 'europe-west1-c' },
 * ]).map((warning) => warning.code) // ['TWO_REPLICAS']
 * @throws Never.
 */
export function placementWarnings(
  replicas: readonly { name: string; zone: string; healthy?: boolean }[],
  options: { multizone?: boolean } = {},
): Warning[] {
  const warnings: Warning[] = [];
  const count = replicas.length;
  if (count === 0) return warnings;
  const zones = [...new Set(replicas.map((replica) => replica.zone))].sort();

  if (count === 2) {
    warnings.push({
      code: WarningCode.TWO_REPLICAS,
      message: 'Two replicas are less available than one: both are needed for quorum; add a third.',
    });
  }
  if (count >= 4 && count % 2 === 0) {
    warnings.push({
      code: WarningCode.EVEN_COUNT,
      message: `${count} replicas tolerate no more failures than ${count - 1}; add or remove one.`,
    });
  }
  if (count >= 2 && zones.length === 1) {
    const zone = zones[0]!;
    warnings.push({
      code: WarningCode.SINGLE_ZONE,
      message:
        options.multizone === false
          ? `All ${count} replicas are in zone ${zone}: an outage of zone ${zone} takes the control plane down. This cluster was made without --multizone, which cannot change after \`hacp up\`: only a cluster made with \`hacp up --multizone\` can have replicas in other zones.`
          : `All ${count} replicas are in zone ${zone}: an outage of zone ${zone} takes the control plane down; add replicas in other zones (\`hacp replicate --zone <zone>\`, where the cluster was made with --multizone).`,
    });
  }
  if (count >= 3 && zones.length >= 2) {
    const analysis = zoneLossAnalysis(replicas);
    if (!analysis.survivesAnyZoneLoss) {
      // Spread well but some unhealthy: the way out is repair, not moving replicas.
      const spreadWell = zoneLossAnalysis(replicas.map((r) => ({ ...r, healthy: true }))).survivesAnyZoneLoss;
      warnings.push({
        code: WarningCode.ZONE_LOSS_LOSES_QUORUM,
        message: spreadWell
          ? `With ${count} replicas in ${zones.length} zones, ${analysis.verdict} while some are unhealthy; repair them (\`hacp repair\`) and losing any one zone keeps quorum again.`
          : `With ${count} replicas in ${zones.length} zones, ${analysis.verdict}; spread them so that the replicas outside any one zone still form a majority (\`hacp replicate --zone <zone>\` in the zone with the fewest, then \`hacp remove --replica <name>\` in the one with the most).`,
      });
    }
  }
  const unhealthy = replicas
    .filter((replica) => replica.healthy === false)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const replica of unhealthy) {
    warnings.push({
      code: WarningCode.UNHEALTHY_REPLICA,
      message: `Replica ${replica.name} in zone ${replica.zone} is unhealthy; run \`hacp repair\` or \`hacp replace\`.`,
    });
  }
  return warnings;
}
