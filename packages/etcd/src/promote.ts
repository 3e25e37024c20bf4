/**
 * Promoting a learner once it has caught up, and evicting it when it makes no progress, so that a
 * learner that is not coming never blocks the next change.
 */
import { ErrorCode, HacpError, invalidArgument, isHacpError, waitUntil } from '@hacp/core';
import { sendChange } from './changes.js';
import { EtcdReason, etcdReasonOf } from './errors.js';
import { type LearnerObservation, learnerClock } from './learner-clock.js';
import {
  describeMember,
  healthyVoterEndpoints,
  memberNotFound,
  throwIfAborted,
  toMember,
} from './members.js';
import type { OperationContext } from './membership.js';
import { activePeer, fetchMetrics, snapshotsInFlightTo } from './metrics.js';
import type { EtcdMember, PromoteOptions } from './types.js';
import { assertMemberId, hexId } from './urls.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function settingsOf(options: PromoteOptions) {
  const settings = {
    timeoutMs: options.timeoutMs ?? 120_000,
    stallAfterMs: options.stallAfterMs ?? 60_000,
    memberStartTimeoutMs: options.memberStartTimeoutMs ?? 600_000,
    intervalMs: options.intervalMs ?? 500,
  };
  for (const [field, value] of Object.entries(settings)) {
    if (!(value > 0)) throw invalidArgument({ field, value, message: `${field} must be more than 0.` });
  }
  return settings;
}

/**
 * What the leader's /metrics say of member `id`: whether it streams it a database snapshot now, and
 * whether it has an active raft connection to it (its process runs and reached the leader).
 */
async function leaderViewOf(
  context: OperationContext,
  list: readonly EtcdMember[],
  id: string,
  deadlineMs: number,
): Promise<{ snapshotInFlight: boolean; connected: boolean }> {
  const { leaderId } = await context.reads.currentLeader(list, deadlineMs);
  const leader = list.find((member) => member.id === leaderId);
  const url = leader === undefined ? undefined : context.connection.endpointFor(leader);
  if (url === undefined) return { snapshotInFlight: false, connected: false };
  const metrics = await fetchMetrics(url, context.connection.tls, deadlineMs).catch(() => '');
  return { snapshotInFlight: snapshotsInFlightTo(metrics, id) > 0, connected: activePeer(metrics, id) };
}

/** One round of promotion attempts through `through`: the promoted member, or the last error. */
async function tryPromote(
  context: OperationContext,
  member: EtcdMember,
  list: readonly EtcdMember[],
  through: readonly string[],
  deadlineMs: number,
): Promise<{ promoted: EtcdMember } | { lastError?: HacpError }> {
  let lastError: HacpError | undefined;
  for (const url of through) {
    try {
      const response = await context.connection.call(
        url,
        `promote learner ${describeMember(member)}`,
        (client, within) => client.cluster.memberPromote({ ID: member.id }, within()),
        { memberId: member.id, deadlineMs },
      );
      const promoted = response.members.map(toMember).find((candidate) => candidate.id === member.id);
      return { promoted: promoted ?? { ...member, learner: false } };
    } catch (error) {
      lastError = error as HacpError;
      const reason = etcdReasonOf(error);
      if (reason === EtcdReason.MEMBER_NOT_LEARNER) return { promoted: { ...member, learner: false } };
      if (reason === EtcdReason.MEMBER_NOT_FOUND) throw memberNotFound(member.id, list);
      if (reason === EtcdReason.CONNECTION || reason === EtcdReason.DEADLINE) continue;
      if (!isHacpError(error) || !error.retryable) throw error;
      break;
    }
  }
  return { lastError };
}

/**
 * Looks at a learner: whether its process has reached the cluster (etcd 3.4 lists a member that
 * never started with an empty name and no client URLs; one that started has published both, or at
 * least has an active connection to the leader), and whether it progressed: its own applied index
 * grew, or, while it cannot answer because the leader is streaming it the database, that stream.
 */
function learnerWatcher(context: OperationContext, id: string, intervalMs: number) {
  let lastApplied: bigint | undefined;
  return {
    lastApplied: () => lastApplied,
    async look(member: EtcdMember, list: readonly EtcdMember[]): Promise<LearnerObservation> {
      const probeMs = Math.min(1000, Math.max(200, intervalMs));
      const learnerUrl = member.started ? context.connection.endpointFor(member) : undefined;
      let alive = member.started;
      let progressed = false;
      if (learnerUrl !== undefined) {
        const status = await context.reads.statusOf(learnerUrl, probeMs);
        if (status.ok && status.memberId === id && status.appliedIndex !== undefined) {
          alive = true;
          const applied = BigInt(status.appliedIndex);
          if (lastApplied === undefined || applied > lastApplied) {
            lastApplied = applied;
            progressed = true;
          }
        }
      }
      if (!progressed) {
        const leader = await leaderViewOf(context, list, id, probeMs);
        progressed = leader.snapshotInFlight;
        alive ||= leader.snapshotInFlight || leader.connected;
      }
      return { alive, progressed };
    },
  };
}

/** etcd 3.4 lets a member vote before it serves clients (it still has to publish its name). */
async function untilServing(
  context: OperationContext,
  member: EtcdMember,
  options: PromoteOptions,
  remainingMs: number,
): Promise<EtcdMember> {
  if (options.waitServing !== true) return member;
  return waitUntil({
    description: `member ${describeMember(member)} to serve clients after its promotion`,
    timeoutMs: Math.max(1000, remainingMs),
    signal: options.signal,
    minDelayMs: 100,
    maxDelayMs: 500,
    check: async () => {
      const current =
        (await context.reads.members(options)).find((candidate) => candidate.id === member.id) ?? member;
      const checked = await context.reads.healthOf(current, 1000);
      return checked.healthy
        ? { done: true, value: current }
        : { done: false, reason: checked.error ?? 'not serving yet' };
    },
  });
}

async function evictLearner(
  context: OperationContext,
  member: EtcdMember,
  through: readonly string[],
  why: 'stalled' | 'never started',
  signal?: AbortSignal,
): Promise<void> {
  await sendChange(context.connection, {
    description: `remove ${why} learner ${describeMember(member)}`,
    through,
    timeoutMs: 15_000,
    signal,
    memberId: member.id,
    run: async (client, within) => {
      await client.cluster.memberRemove({ ID: member.id }, within());
    },
    settle: async (error) =>
      etcdReasonOf(error) === EtcdReason.MEMBER_NOT_FOUND ? { value: undefined } : undefined,
  });
  context.connection.logger.warn(`removed ${why} etcd learner`, { id: member.id, name: member.name });
}

function stalled(
  member: EtcdMember,
  stalledMs: number,
  stallAfterMs: number,
  lastApplied?: bigint,
  lastError?: HacpError,
) {
  return new HacpError({
    code: ErrorCode.LEARNER_STALLED,
    message: `Learner ${describeMember(member)} started and then made no progress for ${Math.round(stalledMs / 1000)} s (${
      lastApplied === undefined ? 'it never answered' : `applied index stuck at ${lastApplied}`
    }); it was removed from the cluster, which is unchanged otherwise.`,
    actions: [
      'Check the new replica: its etcd process, its peer URL and firewall, its certificates (its log says why).',
      'Then add it again.',
    ],
    details: {
      memberId: member.id,
      name: member.name,
      stallAfterMs,
      appliedIndex: lastApplied === undefined ? null : lastApplied.toString(),
      lastError: lastError?.message ?? null,
    },
  });
}

function notStarted(
  member: EtcdMember,
  waitedMs: number,
  memberStartTimeoutMs: number,
  lastError?: HacpError,
) {
  return new HacpError({
    code: ErrorCode.MEMBER_NOT_STARTED,
    message: `Learner ${describeMember(member)} at ${member.peerUrls.join(', ')} never started: ${Math.round(
      waitedMs / 1000,
    )} s after promotion began its process had not reached the cluster (no name or client URLs published, no connection to the leader); it was removed from the cluster, which is unchanged otherwise.`,
    actions: [
      "Look at the new member's machine: its serial console or startup log says whether it booted, got etcd and started it.",
      "Check that its peer URL is reachable from the other members (firewall) and that its certificates come from the cluster's etcd CA.",
      `If its machine only boots slowly, allow it more than ${Math.round(memberStartTimeoutMs / 1000)} s (memberStartTimeoutMs), then add it again.`,
    ],
    details: {
      memberId: member.id,
      peerUrls: [...member.peerUrls],
      memberStartTimeoutMs,
      waitedMs,
      lastError: lastError?.message ?? null,
    },
  });
}

function notReadyInTime(member: EtcdMember, timeoutMs: number, lastApplied?: bigint, lastError?: HacpError) {
  return new HacpError({
    code: ErrorCode.TIMEOUT,
    message: `Learner ${describeMember(member)} was not ready to promote after ${Math.round(timeoutMs / 1000)} s; it is still catching up and was left in place.`,
    actions: ['Run the same command again to keep waiting, or remove the learner.'],
    details: {
      memberId: member.id,
      timeoutMs,
      appliedIndex: lastApplied === undefined ? null : lastApplied.toString(),
    },
    cause: lastError,
  });
}

/**
 * Promotes learner `id` once it has caught up, retrying every `intervalMs`. Until the learner's
 * first sign of life (its process reached the cluster), only `memberStartTimeoutMs` runs: a
 * learner that never starts within it is evicted (MEMBER_NOT_STARTED). From that sign on, one that
 * makes no progress for `stallAfterMs` is evicted (LEARNER_STALLED), and one still catching up
 * `timeoutMs` after it is left in place (TIMEOUT).
 *
 * @throws HacpError INVALID_ARGUMENT for a bad id or setting; NOT_FOUND for an unknown id;
 *   MEMBER_NOT_STARTED or LEARNER_STALLED once it was evicted; TIMEOUT when it is still catching up.
 */
export async function promoteWhenReady(
  context: OperationContext,
  id: string,
  options: PromoteOptions = {},
): Promise<EtcdMember> {
  assertMemberId(id);
  const { timeoutMs, stallAfterMs, memberStartTimeoutMs, intervalMs } = settingsOf(options);
  const deadlineMs = context.connection.deadlineOf(options);
  const startedAt = Date.now();
  const clock = learnerClock({ memberStartTimeoutMs, stallAfterMs, timeoutMs });
  const ready = (member: EtcdMember) =>
    untilServing(context, member, options, timeoutMs - (Date.now() - (clock.aliveSince() ?? startedAt)));
  const watcher = learnerWatcher(context, id, intervalMs);
  let attempts = 0;
  for (;;) {
    throwIfAborted(options.signal, `promoting learner ${hexId(id)}`);
    const list = await context.reads.members(options);
    const member = list.find((candidate) => candidate.id === id);
    if (member === undefined) throw memberNotFound(id, list);
    if (!member.learner) return ready(member);
    const through = healthyVoterEndpoints(
      await context.reads.healthOfAll(list.filter((candidate) => !candidate.learner)),
    );
    attempts++;
    const outcome = await tryPromote(context, member, list, through, deadlineMs);
    if ('promoted' in outcome) {
      context.connection.logger.info('promoted etcd learner', {
        id,
        name: member.name,
        attempts,
        tookMs: Date.now() - startedAt,
      });
      return ready(outcome.promoted);
    }
    const verdict = clock.observe(await watcher.look(member, list));
    if (verdict.state === 'not-started') {
      await evictLearner(context, member, through, 'never started', options.signal);
      throw notStarted(member, verdict.waitedMs, memberStartTimeoutMs, outcome.lastError);
    }
    if (verdict.state === 'stalled') {
      await evictLearner(context, member, through, 'stalled', options.signal);
      throw stalled(member, verdict.stalledMs, stallAfterMs, watcher.lastApplied(), outcome.lastError);
    }
    if (verdict.state === 'timed-out')
      throw notReadyInTime(member, timeoutMs, watcher.lastApplied(), outcome.lastError);
    await sleep(intervalMs);
  }
}
