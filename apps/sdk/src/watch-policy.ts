/**
 * What `watch` does after one look at the cluster: the rules, with no I/O. Cluster API's
 * MachineHealthCheck and KubeadmControlPlane remediation are the anchors (a replica unhealthy for
 * longer than a bound is replaced, at most `maxRetries` times, never twice within `retryPeriod`,
 * never with one replica, never while another change is under way); hacp adds what none of them
 * knows: a zone that looks failed is waited for, not repaired into.
 */
import type { CertificateStatus, ClusterStatus } from './types.js';

/** The limits of a watch (`hacp watch` flags). */
export interface WatchLimits {
  /** How long a replica stays unhealthy before it is replaced. */
  unhealthyAfterMs: number;
  /** How many times one replica is replaced at most. */
  maxRetries: number;
  /** The least time between two replacements of one replica. */
  retryPeriodMs: number;
  /** How often a backup is taken; 0: never. */
  backupEveryMs: number;
  /** Certificates expiring within this many days are renewed; 0: never. */
  renewWithinDays: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  unhealthyAfterMs: 5 * 60_000,
  maxRetries: 3,
  retryPeriodMs: 10 * 60_000,
  backupEveryMs: 60 * 60_000,
  renewWithinDays: 30,
};

/** What the watch remembers between looks. */
export interface WatchMemory {
  /** Since when each replica has been seen unhealthy (ms). */
  unhealthySince: Record<string, number>;
  /** Replacements done per replica name: how many, and the last one's time. */
  replacements: Record<string, { count: number; lastAt: number }>;
  /** When the last backup was taken (ms), if the watch took one. */
  lastBackupAt?: number;
  /** Refusals already said, so that a wait is said once until it changes. */
  said: Record<string, string>;
}

export const newWatchMemory = (now: number): WatchMemory => ({
  unhealthySince: {},
  replacements: {},
  lastBackupAt: now,
  said: {},
});

/** One thing to do, or one reason not to. */
export type WatchDecision =
  | { kind: 'resume'; operation: string; reason: string }
  | { kind: 'repair'; replicas: string[]; reason: string }
  | { kind: 'replace'; replica: string; reason: string }
  | { kind: 'backup'; reason: string }
  | { kind: 'renew-certs'; reason: string }
  | { kind: 'wait'; code: WatchWaitCode; replica?: string; reason: string };

export type WatchWaitCode =
  | 'OPERATION_IN_FLIGHT'
  | 'ZONE_DOWN'
  | 'SINGLE_REPLICA'
  | 'RETRIES_EXHAUSTED'
  | 'RETRY_PERIOD'
  | 'UNHEALTHY_NOT_YET';

const STARTABLE = new Set(['stopped', 'terminated']);
/** The operations the watch itself runs: one of them interrupted, it finishes. */
const RESUMABLE = new Set(['repair', 'replace', 'renew-certs']);

/**
 * Decides from one status (and the certificates, when renewal is on). Updates `memory`'s
 * unhealthy clocks; the caller notes the actions it took (`noteReplaced`, `lastBackupAt`).
 */
export function decide(
  status: ClusterStatus,
  memory: WatchMemory,
  limits: WatchLimits,
  now: number,
  certificates: readonly CertificateStatus[] = [],
): WatchDecision[] {
  trackUnhealthy(status, memory, now);
  const inFlight = status.operation;
  // An interrupted action of the kind the watch takes (its own, cut short when it was stopped, or a
  // person's) is finished first; if it is running now, the resume is refused LOCKED and waits.
  if (inFlight !== undefined && RESUMABLE.has(inFlight.operation)) {
    return [
      {
        kind: 'resume',
        operation: inFlight.operation,
        reason: `An interrupted ${inFlight.operation} (${inFlight.id}, ${inFlight.stepsDone} of ${inFlight.steps} steps done) is recorded.`,
      },
    ];
  }
  if (inFlight !== undefined) {
    return [
      {
        kind: 'wait',
        code: 'OPERATION_IN_FLIGHT',
        reason: `An operation is in flight (${inFlight.operation}, ${inFlight.stepsDone} of ${inFlight.steps} steps done): the watch does not act until it ends, and does not finish a person's ${inFlight.operation}. Run \`hacp resume\` to finish it.`,
      },
    ];
  }
  const decisions: WatchDecision[] = [];
  const downZones = [...new Set(status.replicas.filter((r) => r.state === 'zone-down').map((r) => r.zone))];
  for (const zone of downZones) {
    decisions.push({
      kind: 'wait',
      code: 'ZONE_DOWN',
      reason: `Zone ${zone} looks failed: its replicas are left as they are (replacing them elsewhere could not keep their zone, and the zone may come back whole). Run \`hacp zone restore ${zone}\` once it is back.`,
    });
  }
  const startable = status.replicas.filter((replica) => STARTABLE.has(replica.state));
  const learners = status.etcd.members.filter((member) => member.learner);
  if (startable.length > 0 || learners.length > 0) {
    decisions.push({
      kind: 'repair',
      replicas: startable.map((replica) => replica.name),
      reason:
        startable.length > 0
          ? `${startable.map((r) => `${r.name} is ${r.state}`).join(', ')}: repair starts it again with its disk and member.`
          : `A learner (${learners.map((m) => m.name || m.id).join(', ')}) is left without an operation: repair promotes or evicts it.`,
    });
  }
  // Replacing while a zone is down or another replica is being started could cost quorum.
  if (downZones.length === 0 && startable.length === 0 && learners.length === 0)
    decisions.push(...replacements(status, memory, limits, now));
  decisions.push(...housekeeping(memory, limits, now, certificates));
  return decisions;
}

function trackUnhealthy(status: ClusterStatus, memory: WatchMemory, now: number): void {
  const unhealthy = new Set(
    status.replicas.filter((replica) => replica.state !== 'healthy').map((replica) => replica.name),
  );
  for (const name of Object.keys(memory.unhealthySince))
    if (!unhealthy.has(name)) delete memory.unhealthySince[name];
  for (const name of unhealthy) memory.unhealthySince[name] ??= now;
}

function replacements(
  status: ClusterStatus,
  memory: WatchMemory,
  limits: WatchLimits,
  now: number,
): WatchDecision[] {
  const decisions: WatchDecision[] = [];
  for (const replica of status.replicas) {
    if (replica.state === 'healthy' || replica.state === 'provisioning') continue;
    const since = memory.unhealthySince[replica.name] ?? now;
    const wait = (code: WatchWaitCode, reason: string): WatchDecision => ({
      kind: 'wait',
      code,
      replica: replica.name,
      reason,
    });
    if (now - since < limits.unhealthyAfterMs) {
      decisions.push(
        wait(
          'UNHEALTHY_NOT_YET',
          `${replica.name} is ${replica.state}; it is replaced if it stays so for ${seconds(limits.unhealthyAfterMs)} (${seconds(now - since)} so far).`,
        ),
      );
      continue;
    }
    if (status.replicas.length === 1) {
      decisions.push(
        wait(
          'SINGLE_REPLICA',
          `${replica.name} is the only replica: replacing it would take the cluster down. Run \`hacp recover\` if its data is lost, or add replicas (\`hacp scale --replicas 3\`).`,
        ),
      );
      continue;
    }
    const done = memory.replacements[replica.name];
    if (done !== undefined && done.count >= limits.maxRetries) {
      decisions.push(
        wait(
          'RETRIES_EXHAUSTED',
          `${replica.name}'s place was replaced ${done.count} time${done.count === 1 ? '' : 's'} and is unhealthy again: the watch leaves it. Look at its logs, then run \`hacp replace --replica ${replica.name}\`.`,
        ),
      );
      continue;
    }
    if (done !== undefined && now - done.lastAt < limits.retryPeriodMs) {
      decisions.push(
        wait(
          'RETRY_PERIOD',
          `${replica.name} was replaced ${seconds(now - done.lastAt)} ago: not again within ${seconds(limits.retryPeriodMs)}.`,
        ),
      );
      continue;
    }
    decisions.push({
      kind: 'replace',
      replica: replica.name,
      reason: `${replica.name} has been ${replica.state} for ${seconds(now - since)} (more than ${seconds(limits.unhealthyAfterMs)}).`,
    });
    // One replacement per look: the next look sees the cluster it left.
    break;
  }
  return decisions;
}

function housekeeping(
  memory: WatchMemory,
  limits: WatchLimits,
  now: number,
  certificates: readonly CertificateStatus[],
): WatchDecision[] {
  const decisions: WatchDecision[] = [];
  if (limits.backupEveryMs > 0 && now - (memory.lastBackupAt ?? 0) >= limits.backupEveryMs)
    decisions.push({
      kind: 'backup',
      reason: `the last backup is ${seconds(limits.backupEveryMs)} old or more`,
    });
  const expiring = certificates.filter((c) => c.status === 'expiring' || c.status === 'expired');
  if (limits.renewWithinDays > 0 && expiring.length > 0)
    decisions.push({
      kind: 'renew-certs',
      reason: `${expiring.map((c) => c.name).join(', ')} ${expiring.length === 1 ? 'expires' : 'expire'} within ${limits.renewWithinDays} days`,
    });
  return decisions;
}

/** Notes a replacement of the replica at `name`'s place (the new replica inherits the count). */
export function noteReplaced(memory: WatchMemory, old: string, replacement: string, now: number): void {
  const before = memory.replacements[old]?.count ?? 0;
  memory.replacements[replacement] = { count: before + 1, lastAt: now };
  delete memory.unhealthySince[old];
}

const seconds = (ms: number) =>
  ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
