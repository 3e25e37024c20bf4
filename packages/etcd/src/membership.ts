/**
 * The membership changes other than promotion (promote.ts) and leader moves (leadership.ts): adding
 * a learner, removing a member, migrating one to a new peer URL, and taking a snapshot. Each checks
 * the cluster first and refuses before anything is sent when the change would be unsafe.
 */
import { ErrorCode, HacpError, quorumOf } from '@hacp/core';
import { sendChange } from './changes.js';
import type { EtcdConnection } from './connection.js';
import { EtcdReason, etcdReasonOf } from './errors.js';
import { moveLeaderAway } from './leadership.js';
import {
  describeMember,
  healthyVoterEndpoints,
  initialClusterOf,
  memberNotFound,
  throwIfAborted,
  toMember,
} from './members.js';
import type { EtcdReads } from './reads.js';
import { type SnapshotResult, type SnapshotSource, streamSnapshot } from './snapshot.js';
import type {
  AddedLearner,
  CallOptions,
  EtcdMember,
  LeaderMove,
  MemberHealth,
  MembershipClient,
  MigratedMember,
  RemovedMember,
} from './types.js';
import { assertMemberId, assertMemberName, hexId, normalizeEtcdUrl } from './urls.js';

/** What every operation works through. */
export interface OperationContext {
  connection: EtcdConnection;
  reads: EtcdReads;
}

type AddRequest = Parameters<MembershipClient['addLearner']>[0];

/** Refuses a second learner, a taken name and a sick voter; returns a learner to reuse, if any. */
function checkAdd(
  before: readonly EtcdMember[],
  request: AddRequest,
  peerUrl: string,
): EtcdMember | undefined {
  const sameUrl = before.find((member) => member.peerUrls.includes(peerUrl));
  if (sameUrl !== undefined) {
    // A run that was interrupted after the add: the same learner, never started, is this one.
    if (sameUrl.learner && !sameUrl.started) return sameUrl;
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `Member ${describeMember(sameUrl)} has the peer URL ${peerUrl} already.`,
      actions: ['Use another peer URL for the new member, or remove the existing one first.'],
      details: { peerUrl, memberId: sameUrl.id },
    });
  }
  const sameName = before.find((member) => member.name === request.name);
  if (sameName !== undefined) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `A member named ${request.name} exists already (${describeMember(sameName)}).`,
      actions: ['Pick another replica name, or remove the existing member first.'],
      details: { name: request.name, memberId: sameName.id },
    });
  }
  const learner = before.find((member) => member.learner);
  if (learner !== undefined) {
    throw new HacpError({
      code: ErrorCode.LEARNER_PRESENT,
      message: `Learner ${describeMember(learner)} exists already; etcd allows one learner at a time.`,
      actions: [
        'Wait for it to be promoted, or remove it (`hacp repair` removes a stuck learner), then add again.',
      ],
      details: { learnerId: learner.id, learnerName: learner.name },
    });
  }
  return undefined;
}

function refuseSickVoters(checked: readonly MemberHealth[]): void {
  const sick = checked.filter((entry) => !entry.learner && !entry.healthy);
  if (sick.length === 0) return;
  throw new HacpError({
    code: ErrorCode.QUORUM_AT_RISK,
    message: `Not adding a member while ${sick.length === 1 ? 'voter' : 'voters'} ${sick
      .map(describeMember)
      .join(
        ', ',
      )} ${sick.length === 1 ? 'is' : 'are'} not healthy: should the new member fail to start, the cluster could lose quorum.`,
    actions: [
      'Bring the unhealthy members back, or remove or replace them first (`hacp repair`, `hacp replace`).',
    ],
    details: {
      unhealthy: sick.map((entry) => ({ id: entry.id, name: entry.name, error: entry.error ?? '' })),
    },
  });
}

/** Adds a learner through a healthy voter, after checking every voter is healthy and no learner exists. */
export async function addLearner(context: OperationContext, request: AddRequest): Promise<AddedLearner> {
  const { connection, reads } = context;
  assertMemberName(request.name);
  const peerUrl = normalizeEtcdUrl(request.peerUrl, 'peerUrl');
  throwIfAborted(request.signal, 'adding a learner');
  const before = await reads.members(request);
  const learnerFor = (list: readonly EtcdMember[], member: EtcdMember, through: string): AddedLearner => ({
    member,
    initialCluster: initialClusterOf(list, member.id, request.name),
    state: 'existing',
    through,
  });
  const existing = checkAdd(before, request, peerUrl);
  if (existing !== undefined) {
    connection.logger.info('etcd learner exists already; reusing it', { id: existing.id, peerUrl });
    return learnerFor(before, existing, connection.endpoints[0] as string);
  }
  const checked = await reads.healthOfAll(before);
  refuseSickVoters(checked);
  const { value, endpoint } = await sendChange(connection, {
    description: `add learner ${request.name} at ${peerUrl}`,
    through: healthyVoterEndpoints(checked),
    timeoutMs: request.timeoutMs ?? 15_000,
    deadlineMs: request.deadlineMs,
    signal: request.signal,
    run: async (client, within) => {
      const response = await client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true }, within());
      return { member: toMember(response.member), list: response.members.map(toMember) };
    },
    settle: async (error, attempt) => {
      // An earlier attempt may have been applied even though its answer was lost.
      if (attempt === 0 || etcdReasonOf(error) !== EtcdReason.PEER_URL_EXISTS) return undefined;
      const list = await reads.members(request);
      const added = list.find((member) => member.peerUrls.includes(peerUrl) && member.learner);
      return added === undefined ? undefined : { value: { member: added, list } };
    },
  });
  connection.logger.info('added etcd learner', {
    id: value.member.id,
    name: request.name,
    peerUrl,
    through: endpoint,
  });
  return learnerFor(value.list, value.member, endpoint);
}

/**
 * Refuses the removal of the only voter, and one that would leave fewer healthy voters than the
 * new quorum (or that cannot commit because quorum is lost already).
 */
function checkRemoval(
  target: EtcdMember,
  list: readonly EtcdMember[],
  checked: readonly MemberHealth[],
): void {
  const voters = list.filter((member) => !member.learner);
  if (voters.length === 1) {
    throw new HacpError({
      code: ErrorCode.LAST_REPLICA,
      message: `Member ${describeMember(target)} is the only voting member; removing it would destroy the cluster.`,
      actions: ['To delete the whole cluster, use `hacp down`.'],
      details: { memberId: target.id },
    });
  }
  const healthyVoters = checked.filter((entry) => entry.healthy && !entry.learner);
  const quorumNow = quorumOf(voters.length);
  const quorumAfter = quorumOf(voters.length - 1);
  const remainingHealthy = healthyVoters.filter((entry) => entry.id !== target.id);
  if (healthyVoters.length >= quorumNow && remainingHealthy.length >= quorumAfter) return;
  const unhealthy = checked
    .filter((entry) => !entry.learner && !entry.healthy)
    .map((entry) => entry.name || entry.id);
  const lost = healthyVoters.length < quorumNow;
  throw new HacpError({
    code: ErrorCode.QUORUM_AT_RISK,
    message: lost
      ? `The cluster has lost quorum (${healthyVoters.length} of ${voters.length} voters healthy, ${quorumNow} needed), so no membership change can commit.`
      : `Removing ${describeMember(target)} would leave ${remainingHealthy.length} healthy ${
          remainingHealthy.length === 1 ? 'voter' : 'voters'
        } of ${voters.length - 1}, fewer than the quorum of ${quorumAfter}${
          unhealthy.length > 0 ? ` (not healthy: ${unhealthy.join(', ')})` : ''
        }.`,
    actions: lost
      ? ['Bring members back until a majority runs, or restore from a snapshot (`restoreSingleMember`).']
      : ['Bring the unhealthy members back, or remove an unhealthy member instead.'],
    details: {
      memberId: target.id,
      voters: voters.length,
      healthyVoters: healthyVoters.length,
      quorumAfter,
      unhealthy,
    },
  });
}

/** Removes a member through another one, after projecting quorum; moves leadership away first. */
export async function removeMember(
  context: OperationContext,
  id: string,
  options: CallOptions & { timeoutMs?: number } = {},
): Promise<RemovedMember> {
  const { connection, reads } = context;
  assertMemberId(id);
  throwIfAborted(options.signal, `removing member ${hexId(id)}`);
  const list = await reads.members(options);
  const target = list.find((member) => member.id === id);
  if (target === undefined) throw memberNotFound(id, list);
  const checked = await reads.healthOfAll(list);
  let leaderMove: LeaderMove | undefined;
  if (!target.learner) {
    checkRemoval(target, list, checked);
    if (checked.find((entry) => entry.id === id)?.healthy) {
      const moved = await moveLeaderAway(context, id, options);
      if (moved.moved) leaderMove = moved;
    }
  }
  const { endpoint } = await sendChange(connection, {
    description: `remove member ${describeMember(target)}`,
    through: healthyVoterEndpoints(checked, id),
    timeoutMs: options.timeoutMs ?? 30_000,
    deadlineMs: options.deadlineMs,
    signal: options.signal,
    memberId: id,
    run: async (client, within) => {
      await client.cluster.memberRemove({ ID: id }, within());
    },
    settle: async (error, attempt) =>
      attempt > 0 && etcdReasonOf(error) === EtcdReason.MEMBER_NOT_FOUND ? { value: undefined } : undefined,
  });
  connection.logger.info('removed etcd member', { id, name: target.name, through: endpoint });
  return { removed: target, through: endpoint, ...(leaderMove === undefined ? {} : { leaderMove }) };
}

/** Refuses to move a member that still answers at its old URL, or without a quorum of the others. */
async function checkMigration(
  context: OperationContext,
  target: EtcdMember,
  list: readonly EtcdMember[],
  peerUrl: string,
  deadlineMs: number,
): Promise<MemberHealth[]> {
  const { connection, reads } = context;
  const ownUrl = connection.endpointFor(target);
  if (ownUrl !== undefined) {
    const own = await reads.statusOf(ownUrl, deadlineMs);
    if (own.ok && own.memberId === target.id) {
      throw new HacpError({
        code: ErrorCode.CONFLICT,
        message: `Member ${describeMember(target)} still runs (it answers at ${ownUrl}); stop it before moving it to ${peerUrl}.`,
        actions: ['Stop the old instance’s etcd, move its data dir to the new replica, then migrate.'],
        details: { memberId: target.id, endpoint: ownUrl },
        retryable: false,
      });
    }
  }
  const voters = list.filter((member) => !member.learner);
  const checked = await reads.healthOfAll(list);
  const healthyOthers = checked.filter((entry) => entry.healthy && !entry.learner && entry.id !== target.id);
  if (healthyOthers.length < quorumOf(voters.length)) {
    throw new HacpError({
      code: ErrorCode.QUORUM_AT_RISK,
      message: `Only ${healthyOthers.length} of ${voters.length} voters are healthy besides ${describeMember(target)}; the update needs ${quorumOf(voters.length)}.`,
      actions: ['Bring members back until a majority runs, then migrate.'],
      details: { memberId: target.id },
    });
  }
  return checked;
}

/** Points a stopped member at a new peer URL, keeping its id and data (etcd's member migration). */
export async function migrateMember(
  context: OperationContext,
  id: string,
  newPeerUrl: string,
  options: CallOptions & { timeoutMs?: number } = {},
): Promise<MigratedMember> {
  const { connection, reads } = context;
  assertMemberId(id);
  const peerUrl = normalizeEtcdUrl(newPeerUrl, 'newPeerUrl');
  throwIfAborted(options.signal, `migrating member ${hexId(id)}`);
  const list = await reads.members(options);
  const target = list.find((member) => member.id === id);
  if (target === undefined) throw memberNotFound(id, list);
  const holder = list.find((member) => member.id !== id && member.peerUrls.includes(peerUrl));
  if (holder !== undefined) {
    throw new HacpError({
      code: ErrorCode.ALREADY_EXISTS,
      message: `Member ${describeMember(holder)} has the peer URL ${peerUrl} already.`,
      actions: ['Give the migrated member a peer URL no other member uses.'],
      details: { peerUrl, memberId: holder.id },
    });
  }
  const result = (updated: readonly EtcdMember[], through: string): MigratedMember => ({
    member: updated.find((candidate) => candidate.id === id) as EtcdMember,
    initialCluster: initialClusterOf(updated, id, target.name),
    state: 'existing',
    through,
  });
  if (target.peerUrls.length === 1 && target.peerUrls[0] === peerUrl) {
    return result(list, connection.endpoints[0] as string);
  }
  const checked = await checkMigration(context, target, list, peerUrl, connection.deadlineOf(options));
  const { value, endpoint } = await sendChange(connection, {
    description: `move member ${describeMember(target)} to ${peerUrl}`,
    through: healthyVoterEndpoints(checked, id),
    timeoutMs: options.timeoutMs ?? 15_000,
    deadlineMs: options.deadlineMs,
    signal: options.signal,
    memberId: id,
    run: async (client, within) =>
      (await client.cluster.memberUpdate({ ID: id, peerURLs: [peerUrl] }, within())).members.map(toMember),
  });
  connection.logger.info('moved etcd member to a new peer URL', {
    id,
    name: target.name,
    peerUrl,
    through: endpoint,
  });
  return result(value, endpoint);
}

/** Streams a snapshot from a healthy voter (or the given endpoint) to `file`, verified before it is kept. */
export async function snapshot(
  context: OperationContext,
  file: string,
  options: CallOptions & { endpoint?: string } = {},
): Promise<SnapshotResult> {
  const { connection, reads } = context;
  let source = options.endpoint === undefined ? undefined : normalizeEtcdUrl(options.endpoint, 'endpoint');
  if (source === undefined) {
    source = healthyVoterEndpoints(await reads.health(options))[0];
    if (source === undefined) {
      throw new HacpError({
        code: ErrorCode.UNAVAILABLE,
        message: 'No healthy voting member to take a snapshot from.',
        actions: ['Check the cluster with `hacp status`.'],
      });
    }
  }
  const from = source;
  const result = await streamSnapshot({
    file,
    endpoint: from,
    signal: options.signal,
    open: () =>
      connection.call(
        from,
        'start a snapshot',
        async (client, within) => {
          const status = await client.maintenance.status(within());
          // The stream itself has no deadline: a large database takes as long as it takes.
          const stream = await client.maintenance.snapshot();
          // At run time the stream is grpc-js's Readable, which is async-iterable; etcd3 types it narrowly.
          return {
            stream: stream as unknown as SnapshotSource['stream'],
            memberId: status.header.member_id,
            revision: status.header.revision,
            clusterId: status.header.cluster_id,
          };
        },
        { deadlineMs: options.deadlineMs },
      ),
  });
  connection.logger.info('took etcd snapshot', { file: result.file, bytes: result.sizeBytes, from });
  return result;
}
