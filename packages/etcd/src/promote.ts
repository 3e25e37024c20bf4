/**
 * Promoting a learner once it has caught up, and evicting it when it makes no progress, so that a
 * learner that is not coming never blocks the next change.
 */
import { ErrorCode, HacpError, invalidArgument, isHacpError, waitUntil } from '@hacp/core';
import { sendChange } from './changes.js';
import { EtcdReason, etcdReasonOf } from './errors.js';
import {
  describeMember,
  healthyVoterEndpoints,
  memberNotFound,
  throwIfAborted,
  toMember,
} from './members.js';
import type { OperationContext } from './membership.js';
import { fetchMetrics, snapshotsInFlightTo } from './metrics.js';
import type { EtcdMember, PromoteOptions } from './types.js';
import { assertMemberId, hexId } from './urls.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function settingsOf(options: PromoteOptions) {
  const settings = {
    timeoutMs: options.timeoutMs ?? 120_000,
    stallAfterMs: options.stallAfterMs ?? 60_000,
    intervalMs: options.intervalMs ?? 500,
  };
  for (const [field, value] of Object.entries(settings)) {
    if (!(value > 0)) throw invalidArgument({ field, value, message: `${field} must be more than 0.` });
  }
  return settings;
}

/** Whether the leader is streaming a database snapshot to member `id` now (its /metrics say so). */
async function snapshotInFlight(
  context: OperationContext,
  list: readonly EtcdMember[],
  id: string,
  deadlineMs: number,
): Promise<boolean> {
  const { leaderId } = await context.reads.currentLeader(list, deadlineMs);
  const leader = list.find((member) => member.id === leaderId);
  const url = leader === undefined ? undefined : context.connection.endpointFor(leader);
  if (url === undefined) return false;
  const metrics = await fetchMetrics(url, context.connection.tls, deadlineMs).catch(() => '');
  return snapshotsInFlightTo(metrics, id) > 0;
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
 * Tracks a learner's progress: its own applied index, or, while it cannot answer because the leader
 * is streaming it the database, that stream. Unreachable and unchanged mean no progress.
 */
function progressTracker(context: OperationContext, id: string, intervalMs: number) {
  let lastApplied: bigint | undefined;
  let lastProgressAt = Date.now();
  return {
    lastApplied: () => lastApplied,
    lastProgressAt: () => lastProgressAt,
    async probe(member: EtcdMember, list: readonly EtcdMember[]): Promise<void> {
      const probeMs = Math.min(1000, Math.max(200, intervalMs));
      const learnerUrl = member.started ? context.connection.endpointFor(member) : undefined;
      let progressed = false;
      if (learnerUrl !== undefined) {
        const status = await context.reads.statusOf(learnerUrl, probeMs);
        if (status.ok && status.memberId === id && status.appliedIndex !== undefined) {
          const applied = BigInt(status.appliedIndex);
          if (lastApplied === undefined || applied > lastApplied) {
            lastApplied = applied;
            progressed = true;
          }
        }
      }
      if (!progressed && (await snapshotInFlight(context, list, id, probeMs))) progressed = true;
      if (progressed) lastProgressAt = Date.now();
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

async function evictStalledLearner(
  context: OperationContext,
  member: EtcdMember,
  through: readonly string[],
  signal?: AbortSignal,
): Promise<void> {
  await sendChange(context.connection, {
    description: `remove stalled learner ${describeMember(member)}`,
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
  context.connection.logger.warn('removed stalled etcd learner', { id: member.id, name: member.name });
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
    message: `Learner ${describeMember(member)} made no progress for ${Math.round(stalledMs / 1000)} s (${
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
 * Promotes learner `id` once it has caught up, retrying every `intervalMs`; evicts it after
 * `stallAfterMs` without progress; gives up, leaving it in place, after `timeoutMs`.
 *
 * @throws HacpError INVALID_ARGUMENT for a bad id or setting; NOT_FOUND for an unknown id;
 *   LEARNER_STALLED once it was evicted; TIMEOUT when it is still catching up at `timeoutMs`.
 */
export async function promoteWhenReady(
  context: OperationContext,
  id: string,
  options: PromoteOptions = {},
): Promise<EtcdMember> {
  assertMemberId(id);
  const { timeoutMs, stallAfterMs, intervalMs } = settingsOf(options);
  const deadlineMs = context.connection.deadlineOf(options);
  const startedAt = Date.now();
  const ready = (member: EtcdMember) =>
    untilServing(context, member, options, timeoutMs - (Date.now() - startedAt));
  const progress = progressTracker(context, id, intervalMs);
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
    await progress.probe(member, list);
    const now = Date.now();
    if (now - progress.lastProgressAt() >= stallAfterMs) {
      await evictStalledLearner(context, member, through, options.signal);
      throw stalled(
        member,
        now - progress.lastProgressAt(),
        stallAfterMs,
        progress.lastApplied(),
        outcome.lastError,
      );
    }
    if (now - startedAt >= timeoutMs)
      throw notReadyInTime(member, timeoutMs, progress.lastApplied(), outcome.lastError);
    await sleep(intervalMs);
  }
}
