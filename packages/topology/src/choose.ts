/**
 * Which replica `hacp remove` takes. kube-up took the first name in the zone, matched by an
 * unanchored prefix, and so often removed the healthy original (kube-up-behaviour.md §8 items 9–10).
 */
import { ErrorCode, HacpError } from '@hacp/core';
import type { ReplicaInfo } from './types.js';

/** What {@link chooseReplicaToRemove} decides from. */
export interface ChooseReplicaOptions {
  replicas: readonly ReplicaInfo[];
  /** Only replicas in this zone are candidates; a named replica must be in it. */
  zone?: string;
  /** Remove exactly this replica (matched exactly, never as a prefix). */
  name?: string;
  /** The etcd leader's member name: removing it costs an election, so it goes last. */
  leaderName?: string;
  /** Health by replica name, overriding `replica.healthy` where given (the latest check). */
  health?: Readonly<Record<string, boolean>>;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Creation time in ms; an unreadable time counts as the oldest, so it is chosen last among equals. */
function createdMs(replica: ReplicaInfo): number {
  const ms = Date.parse(replica.createdAt);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/**
 * The replica to remove. With `name`, exactly that replica (and, when `zone` is given too, only if it
 * is in that zone). Otherwise, among the replicas in `zone` (all replicas when it is omitted): the
 * unhealthy first, then one that is not the etcd leader, then the newest, then by name, so the
 * choice is deterministic. It does not refuse the last replica: `planRemove` does.
 *
 * @example
 * chooseReplicaToRemove({ replicas, zone: 'europe-west1-c', leaderName: 'kubernetes-master' })
 * @throws HacpError REPLICA_NOT_FOUND when no replica has `name` (the message lists the names that
 *   exist), when the named replica is in another zone than `zone`, or when no replica is in `zone`
 *   (the message names the zones that have replicas).
 */
export function chooseReplicaToRemove(options: ChooseReplicaOptions): ReplicaInfo {
  const { replicas, zone, name, leaderName, health } = options;
  const names = replicas.map((replica) => replica.name).sort(byName);

  if (name !== undefined) {
    const named = replicas.find((replica) => replica.name === name);
    if (named === undefined) {
      throw new HacpError({
        code: ErrorCode.REPLICA_NOT_FOUND,
        message: `No replica is named ${name}; the replicas are ${names.length === 0 ? 'none' : names.join(', ')}.`,
        actions: ['Give one of those names exactly (`hacp status` lists them), or only the zone.'],
        details: zone === undefined ? { name, replicas: names } : { name, zone, replicas: names },
      });
    }
    if (zone !== undefined && named.zone !== zone) {
      throw new HacpError({
        code: ErrorCode.REPLICA_NOT_FOUND,
        message: `Replica ${name} is in zone ${named.zone}, not in zone ${zone}; nothing was removed.`,
        actions: [
          `To remove it, give zone ${named.zone}.`,
          `To remove a replica of ${zone}, leave out the name.`,
        ],
        details: { name, zone, replicaZone: named.zone, replicas: names },
      });
    }
    return named;
  }

  const candidates = zone === undefined ? [...replicas] : replicas.filter((replica) => replica.zone === zone);
  if (candidates.length === 0) {
    const zones = [...new Set(replicas.map((replica) => replica.zone))].sort(byName);
    const where = zones.length === 0 ? 'the cluster has no replicas' : `replicas are in ${zones.join(', ')}`;
    throw new HacpError({
      code: ErrorCode.REPLICA_NOT_FOUND,
      message:
        zone === undefined
          ? 'The cluster has no replicas to remove.'
          : `No replica is in zone ${zone}; ${where}.`,
      actions: zones.length === 0 ? [] : [`Give one of the zones ${zones.join(', ')}.`],
      details: zone === undefined ? { zones, replicas: names } : { zone, zones, replicas: names },
    });
  }

  const isHealthy = (replica: ReplicaInfo): boolean =>
    health !== undefined && Object.hasOwn(health, replica.name)
      ? health[replica.name] === true
      : replica.healthy;
  const isLeader = (replica: ReplicaInfo): boolean => leaderName !== undefined && replica.name === leaderName;

  return candidates.sort(
    (a, b) =>
      Number(isHealthy(a)) - Number(isHealthy(b)) ||
      Number(isLeader(a)) - Number(isLeader(b)) ||
      createdMs(b) - createdMs(a) ||
      byName(a.name, b.name),
  )[0]!;
}
