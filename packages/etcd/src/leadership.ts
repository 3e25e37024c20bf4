/**
 * Moving etcd's leadership off a member before it goes, so that writes do not wait for an election.
 */
import { ErrorCode, HacpError, waitUntil } from '@hacp/core';
import { sendChange } from './changes.js';
import { EtcdReason, etcdReasonOf } from './errors.js';
import { describeMember, memberNotFound } from './members.js';
import type { OperationContext } from './membership.js';
import type { EtcdReads } from './reads.js';
import type { CallOptions, EndpointStatus, EtcdMember, LeaderMove } from './types.js';
import { assertMemberId } from './urls.js';

/** The most caught-up healthy voter other than `id`: the election it triggers is the shortest. */
async function successorOf(
  reads: EtcdReads,
  list: readonly EtcdMember[],
  id: string,
  answered: readonly { member: EtcdMember; status: EndpointStatus }[],
): Promise<EtcdMember | undefined> {
  const healthy = new Set(
    (await reads.healthOfAll(list)).filter((entry) => entry.healthy).map((entry) => entry.id),
  );
  return answered
    .filter((entry) => entry.member.id !== id && !entry.member.learner && healthy.has(entry.member.id))
    .sort((a, b) => (BigInt(b.status.appliedIndex ?? '0') > BigInt(a.status.appliedIndex ?? '0') ? 1 : -1))[0]
    ?.member;
}

/**
 * Moves leadership off member `id`, if it leads, to the most caught-up healthy voter, calling
 * moveLeader on the leader's own endpoint, and waits until the others agree.
 *
 * @throws HacpError NOT_FOUND for an unknown id; UNAVAILABLE while the members do not agree on a
 *   leader or the leader cannot be reached; QUORUM_AT_RISK when no other healthy voter can lead.
 */
export async function moveLeaderAway(
  context: OperationContext,
  id: string,
  options: CallOptions & { timeoutMs?: number } = {},
): Promise<LeaderMove> {
  const { connection, reads } = context;
  assertMemberId(id);
  const list = await reads.members(options);
  const target = list.find((member) => member.id === id);
  if (target === undefined) throw memberNotFound(id, list);
  const deadlineMs = connection.deadlineOf(options);
  const { leaderId, answered } = await reads.currentLeader(list, deadlineMs);
  if (leaderId === undefined) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: 'The etcd members do not agree on a leader right now, so leadership cannot be moved safely.',
      actions: ['Wait a few seconds for the election to settle, then retry.'],
      retryable: true,
    });
  }
  if (leaderId !== id) return { moved: false, from: leaderId, to: leaderId };
  const successor = await successorOf(reads, list, id, answered);
  if (successor === undefined) {
    throw new HacpError({
      code: ErrorCode.QUORUM_AT_RISK,
      message: `Member ${describeMember(target)} leads and no other healthy voter can take over.`,
      actions: ['Bring another member back before removing the leader.'],
      details: { memberId: id },
    });
  }
  const leaderUrl = connection.endpointFor(target);
  if (leaderUrl === undefined) {
    throw new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: `Leader ${describeMember(target)} has no client URL this machine can reach; moveLeader must go to the leader itself.`,
      actions: ['Make the leader reachable (a tunnel), then retry.'],
    });
  }
  const timeoutMs = options.timeoutMs ?? 15_000;
  await sendChange(connection, {
    description: `move leadership from ${describeMember(target)} to ${describeMember(successor)}`,
    through: [leaderUrl],
    timeoutMs,
    deadlineMs,
    signal: options.signal,
    memberId: id,
    run: async (client, within) => {
      await client.maintenance.moveLeader({ targetID: successor.id }, within());
    },
    settle: async (error) => {
      if (etcdReasonOf(error) !== EtcdReason.NOT_LEADER) return undefined;
      // It stopped leading on its own meanwhile: that is what we wanted.
      const now = await reads.currentLeader(list, deadlineMs);
      return now.leaderId !== undefined && now.leaderId !== id ? { value: undefined } : undefined;
    },
  });
  const after = await waitUntil({
    description: `leadership to leave ${describeMember(target)}`,
    timeoutMs,
    signal: options.signal,
    minDelayMs: 50,
    maxDelayMs: 500,
    check: async () => {
      const now = await reads.currentLeader(list, deadlineMs);
      return now.leaderId !== undefined && now.leaderId !== id
        ? { done: true, value: now.leaderId }
        : { done: false, reason: `leader is ${now.leaderId ?? 'unknown'}` };
    },
  });
  connection.logger.info('moved etcd leadership', { from: id, to: after });
  return { moved: true, from: id, to: after };
}
