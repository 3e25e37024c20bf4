/**
 * etcd's quorum arithmetic and the membership preflights built on it: Cluster API KCP's projection
 * (`targetVoting − unhealthy ≥ targetVoting/2+1`, any learner blocks) and etcd's
 * `--strict-reconfig-check` rules, decided before anything is asked of etcd.
 */
import { ErrorCode, HacpError, invalidArgument, quorumOf, toleratedFailures } from '@hacp/core';
import type { MemberInfo, Verdict } from './types.js';

/**
 * The number of voters etcd needs to commit anything: ⌊n/2⌋ + 1. The same function as
 * `quorumOf` in `@hacp/core`, where the arithmetic lives; kept under this name for the code that
 * imports it from here.
 *
 * @deprecated Use `quorumOf` from `@hacp/core`.
 * @example quorumSize(3) // 2
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'voters'`) unless n is an integer ≥ 1.
 */
export const quorumSize: (n: number) => number = quorumOf;

/** What {@link faultTolerance} reports. */
export interface FaultTolerance {
  voters: number;
  healthy: number;
  /** Voters needed to commit: `quorumOf(voters)` (`@hacp/core`). */
  quorum: number;
  /** Voters the cluster can lose when all are healthy: `voters − quorum`. */
  tolerates: number;
  /** Further voters it can lose now and keep quorum; 0 once quorum is lost. */
  canStillLose: number;
  hasQuorum: boolean;
}

/**
 * How many failures a cluster of `voters` tolerates, and how many more it can take with `healthy` of
 * them answering.
 *
 * @example
 * faultTolerance({ voters: 3, healthy: 2 })
 * // { voters: 3, healthy: 2, quorum: 2, tolerates: 1, canStillLose: 0, hasQuorum: true }
 * @throws HacpError INVALID_ARGUMENT (`field` `voters` or `healthy`) for a non-integer, a negative
 *   count, no voters, or more healthy voters than voters.
 */
export function faultTolerance({ voters, healthy }: { voters: number; healthy: number }): FaultTolerance {
  if (!Number.isSafeInteger(voters) || voters < 1) {
    throw invalidArgument({
      field: 'voters',
      value: voters,
      message: `The voter count must be an integer of at least 1, not ${voters}.`,
    });
  }
  if (!Number.isSafeInteger(healthy) || healthy < 0 || healthy > voters) {
    throw invalidArgument({
      field: 'healthy',
      value: healthy,
      message: `The healthy voter count must be an integer from 0 to ${voters} (the voters), not ${healthy}.`,
    });
  }
  const quorum = quorumOf(voters);
  const hasQuorum = healthy >= quorum;
  return {
    voters,
    healthy,
    quorum,
    tolerates: toleratedFailures(voters),
    canStillLose: hasQuorum ? healthy - quorum : 0,
    hasQuorum,
  };
}

/** How people know a member: its name, or its id while an unstarted learner has no name yet. */
function label(member: MemberInfo): string {
  return member.name === '' ? `unstarted member ${member.id}` : member.name;
}

function isHealthyVoter(member: MemberInfo): boolean {
  return !member.learner && member.started && member.healthy;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Whether a member may be added now (as a learner): the preflight of Cluster API's KCP before every
 * scale-up. No learner may be present (etcd allows one) and every voter must be started and healthy;
 * adding to a degraded cluster raises the quorum and can lose it for good.
 *
 * @example
 * canAddMember([{ id: '1', name: 'kubernetes-master', learner: false, started: true, healthy: true }])
 * // { ok: true }
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'members'`) when `members` is empty; a
 *   refusal (LEARNER_PRESENT, QUORUM_AT_RISK) is returned, not thrown.
 */
export function canAddMember(members: readonly MemberInfo[]): Verdict {
  if (members.length === 0) {
    throw invalidArgument({
      field: 'members',
      message: 'The etcd member list is empty: a member can only join a cluster that has members.',
      actions: ['Create the cluster with `hacp up` first.'],
    });
  }
  const learners = members.filter((member) => member.learner);
  if (learners.length > 0) {
    const names = learners.map(label);
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.LEARNER_PRESENT,
        message: `etcd has a learner already (${names.join(', ')}), and it allows one at a time: a new member cannot join until it is promoted or removed.`,
        actions: [
          'Wait for the learner to be promoted (an operation in flight finishes it; `hacp resume` continues it).',
          'Run `hacp repair` to promote or remove a stuck learner.',
        ],
        details: { learners: names },
      }),
    };
  }
  const voters = members.filter((member) => !member.learner);
  const unfit = voters.filter((member) => !isHealthyVoter(member));
  if (unfit.length > 0) {
    const names = unfit.map(label);
    const healthy = voters.length - unfit.length;
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `etcd member${unfit.length === 1 ? '' : 's'} ${names.join(', ')} ${unfit.length === 1 ? 'is' : 'are'} not started or not healthy (${healthy} of ${plural(voters.length, 'voter', 'voters')} healthy): a new member would raise the quorum to ${quorumOf(voters.length + 1)} while they are down.`,
        actions: [
          `Repair or replace ${names.join(', ')} first (\`hacp repair\` or \`hacp replace\`), then add the replica.`,
        ],
        details: { unhealthy: names, voters: voters.length, healthy },
      }),
    };
  }
  return { ok: true };
}

/**
 * Whether the member `victim` (its name or its etcd id) may be removed now without losing quorum.
 *
 * A learner does not vote, so it may go whenever the voters have quorum. The only voter may not: that
 * is `down`. Otherwise, with `n` voters of which `h` are started and healthy, the removal must be
 * committable now (`h ≥ quorumOf(n)`) and leave enough healthy voters for the new quorum
 * (`h − (victim healthy ? 1 : 0) ≥ quorumOf(n − 1)`).
 *
 * Consequences: a member that is already down can always go while the cluster has quorum (that only
 * lowers the quorum). When the cluster has already lost quorum nothing can be removed, because etcd
 * cannot commit the change; the way out is disaster recovery from a snapshot.
 *
 * @example
 * canRemoveMember(members, 'kubernetes-master-a1f') // { ok: true } or { ok: false, error }
 * @throws Never: a refusal (REPLICA_NOT_FOUND, LAST_REPLICA, QUORUM_AT_RISK) is returned as
 *   `{ ok: false, error }`.
 */
export function canRemoveMember(members: readonly MemberInfo[], victim: string): Verdict {
  const target =
    victim === ''
      ? undefined
      : (members.find((member) => member.name === victim) ?? members.find((member) => member.id === victim));
  if (target === undefined) {
    const names = members.map(label);
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.REPLICA_NOT_FOUND,
        message: `No etcd member is named ${victim === '' ? '""' : victim} or has that id; the members are ${names.length === 0 ? 'none' : names.join(', ')}.`,
        actions: ['Give one of the member names above (`hacp status` lists them).'],
        details: { victim, members: names },
      }),
    };
  }
  const voters = members.filter((member) => !member.learner);
  const healthy = voters.filter(isHealthyVoter).length;
  const n = voters.length;
  const hasQuorum = n > 0 && healthy >= quorumOf(n);
  const name = label(target);

  if (!target.learner && n === 1) {
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.LAST_REPLICA,
        message: `${name} is the only etcd voter: removing it would delete the cluster's data.`,
        actions: ['To delete the whole cluster, run `hacp down`.', 'To replace it, run `hacp replace`.'],
        details: { member: name },
      }),
    };
  }
  if (!hasQuorum) {
    const quorum = n > 0 ? quorumOf(n) : 1;
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `etcd has lost quorum (${healthy} healthy ${healthy === 1 ? 'voter' : 'voters'} of ${n}; it needs ${quorum}), so it cannot commit the removal of ${name}.`,
        actions: [
          'Bring the unhealthy voters back first (`hacp repair`); a removal needs a quorum to commit.',
          'If they are lost for good, run `hacp recover`: it brings the cluster back from the surviving member with the most data, or from the newest backup.',
        ],
        details: { member: name, voters: n, healthy, quorum },
      }),
    };
  }
  // A learner does not vote: removing it changes no quorum.
  if (target.learner) return { ok: true };
  const remainingHealthy = healthy - (isHealthyVoter(target) ? 1 : 0);
  const remainingQuorum = quorumOf(n - 1);
  if (remainingHealthy < remainingQuorum) {
    return {
      ok: false,
      error: new HacpError({
        code: ErrorCode.QUORUM_AT_RISK,
        message: `Removing ${name} leaves ${remainingHealthy} healthy ${remainingHealthy === 1 ? 'voter' : 'voters'} of ${n - 1}; etcd needs ${remainingQuorum}.`,
        actions: [
          'Repair or replace the unhealthy replicas first (`hacp repair`), then remove this one.',
          'Or remove an unhealthy replica instead: a member that is down can go while the cluster has quorum.',
        ],
        details: {
          member: name,
          voters: n,
          healthy,
          remainingVoters: n - 1,
          remainingHealthy,
          quorum: remainingQuorum,
        },
      }),
    };
  }
  return { ok: true };
}

/** One zone of {@link zoneLossAnalysis}. */
export interface ZoneLoss {
  zone: string;
  /** Replicas in the zone, healthy or not. */
  replicas: number;
  /** Whether the healthy replicas outside it still form a quorum. */
  survives: boolean;
}

/** What {@link zoneLossAnalysis} reports. */
export interface ZoneLossAnalysis {
  /** Sorted by zone name. */
  zones: ZoneLoss[];
  survivesAnyZoneLoss: boolean;
  /** "survives the loss of any one zone", or "losing zone X loses quorum" (several: "X or Y", "X, Y or Z"). */
  verdict: string;
}

/**
 * For each zone, whether losing it keeps quorum: `healthy` (a replica whose member is a healthy
 * voter) defaults to true, and a zone survives when the healthy replicas outside it are at least
 * the quorum of `options.voters` (etcd's voter count, which a stray member makes larger than the
 * replica count; default one voter per replica).
 *
 * @example
 * zoneLossAnalysis([
 *   { name: 'kubernetes-master', zone: 'europe-west1-b' },
 *   { name: 'kubernetes-master-a1f', zone: 'europe-west1-b' },
 *   { name: 'kubernetes-master-3c2', zone: 'europe-west1-c' },
 * ]).verdict // 'losing zone europe-west1-b loses quorum'
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'replicas'`) for an empty list.
 */
export function zoneLossAnalysis(
  replicas: readonly { name: string; zone: string; healthy?: boolean }[],
  options: { voters?: number } = {},
): ZoneLossAnalysis {
  if (replicas.length === 0) {
    throw invalidArgument({
      field: 'replicas',
      message: 'There are no replicas to analyse: a control plane has at least one.',
    });
  }
  // etcd's quorum comes from its voters, which may be more than the replicas (a stray member).
  const quorum = quorumOf(Math.max(options.voters ?? replicas.length, 1));
  const zoneNames = [...new Set(replicas.map((replica) => replica.zone))].sort();
  const zones = zoneNames.map((zone) => {
    const inZone = replicas.filter((replica) => replica.zone === zone).length;
    const healthyOutside = replicas.filter(
      (replica) => replica.zone !== zone && replica.healthy !== false,
    ).length;
    return { zone, replicas: inZone, survives: healthyOutside >= quorum };
  });
  const losing = zones.filter((zone) => !zone.survives).map((zone) => zone.zone);
  const survivesAnyZoneLoss = losing.length === 0;
  return {
    zones,
    survivesAnyZoneLoss,
    verdict: survivesAnyZoneLoss
      ? 'survives the loss of any one zone'
      : `losing zone ${orList(losing)} loses quorum`,
  };
}

/** "a", "a or b", "a, b or c". */
function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
