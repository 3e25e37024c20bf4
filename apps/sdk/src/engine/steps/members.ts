/**
 * The steps that change etcd's membership, through the session's one etcd connection: the snapshot
 * before a change, a learner added, promoted, a member removed or migrated, leadership moved.
 */
import { ErrorCode, HacpError, isHacpError, waitUntil } from '@hacp/core';
import type { EtcdMember } from '@hacp/etcd';
import {
  applyRetention,
  discardIncompleteBackup,
  readBackup,
  stepBackupId,
  takeBackup,
} from '../../backups.js';
import { clusterIdentity } from '../../record.js';
import { etcdPeerUrl } from '../../render.js';
import {
  announceWait,
  findMember,
  networkOf,
  ownsReplica,
  type StepContext,
  type StepHandler,
  sleep,
  zoneOf,
} from '../context.js';
import { watchingBoot } from './boot.js';

/**
 * The backup before a membership change (and `down`'s last one): a snapshot with its sidecar in
 * the catalogue, then the retention in force. Run again, it finds its backup taken.
 */
const snapshot: StepHandler<'snapshot'> = async (context, action, step) => {
  const { journal, signal } = context;
  const id = stepBackupId(journal.id, step.id);
  const record = await context.record();
  const found = await readBackup(context.dataDir, id, record);
  if (found !== undefined) {
    context.backupTaken(found);
    return 'skipped';
  }
  if (record === undefined) {
    throw new HacpError({
      code: ErrorCode.STATE_CORRUPT,
      message: `Cluster ${context.cluster} has no record, so its backup cannot be tied to it.`,
      actions: ['Run `hacp status`; if the cluster is gone, `hacp down --yes` deletes what is left.'],
      details: { cluster: context.cluster },
    });
  }
  // A snapshot whose sidecar was never written (its run stopped between the two) is taken again.
  await discardIncompleteBackup(context.dataDir, id);
  const backup = await takeBackup({
    dataDir: context.dataDir,
    cluster: context.cluster,
    record,
    etcd: await context.session.requireEtcd(signal),
    id,
    operation: journal.operation,
    operationId: journal.id,
    step: step.id,
    ...(action.from === undefined ? {} : { from: action.from }),
    signal,
  });
  context.backupTaken(backup);
  await applyRetention({
    dataDir: context.dataDir,
    cluster: context.cluster,
    clusterUid: clusterIdentity(record),
    rules: context.backupRetention,
    logger: context.logger,
  });
  return 'done';
};

const addLearner: StepHandler<'add-learner'> = async (context, action) => {
  const { signal } = context;
  const peerUrl = etcdPeerUrl(await networkOf(context, action.replica));
  const etcd = await context.session.requireEtcd(signal);
  const members = await etcd.members({ signal });
  if (findMember(members, action.replica, peerUrl) !== undefined) return 'skipped';
  await addLearnerMember(context, action.replica, peerUrl);
  return 'done';
};

/** Adds `replica` to etcd as a learner at `peerUrl`. */
async function addLearnerMember(context: StepContext, replica: string, peerUrl: string): Promise<void> {
  const { signal } = context;
  const etcd = await context.session.requireEtcd(signal);
  announceWait(context, `etcd to accept ${replica} as a learner`);
  const add = () => etcd.addLearner({ name: replica, peerUrl, signal, timeoutMs: context.timeouts.healthy });
  try {
    await add();
  } catch (error) {
    // etcd 3.4 derives a member id from the peer URL and the time in whole seconds: adding the peer
    // URL of a member removed within the same second (a rolled-back replicate run again at once)
    // collides with the removed id and etcd answers "member not found". The next second gives a new id.
    if (!isHacpError(error, ErrorCode.NOT_FOUND)) throw error;
    await sleep(1100, signal);
    await add();
  }
}

/**
 * Before a half-made replica is made afresh (its create was cut short and the provider reports it
 * `terminated`): a new instance starts with an empty data folder, and a learner that has already
 * started cannot start again without its data (the leader sends it a commit index beyond its empty
 * log, and etcd panics). Such a learner is removed and added again, as a member that never started.
 * A voter is never touched.
 */
export async function renewStartedLearner(
  context: StepContext,
  replica: string,
  peerUrl: string,
): Promise<void> {
  const { signal } = context;
  const etcd = await context.session.requireEtcd(signal);
  const member = findMember(await etcd.members({ signal }), replica, peerUrl);
  if (member === undefined || !member.learner || !member.started) return;
  await etcd.removeMember(member.id, { signal });
  await addLearnerMember(context, replica, peerUrl);
}

const promoteLearner: StepHandler<'promote-learner'> = async (context, action) => {
  const { signal } = context;
  const peerUrl = etcdPeerUrl(await networkOf(context, action.replica));
  const etcd = await context.session.requireEtcd(signal);
  const member = findMember(await etcd.members({ signal }), action.replica, peerUrl);
  if (member === undefined) {
    throw new HacpError({
      code: ErrorCode.LEARNER_STALLED,
      message: `${action.replica}'s learner is gone from etcd; it was evicted or removed.`,
      actions: ['The replica is rolled back; run the operation again.'],
      details: { replica: action.replica },
    });
  }
  if (!member.learner) return 'skipped';
  announceWait(context, `${action.replica} to start its etcd member and catch up with the leader`);
  try {
    // A boot that failed ends the wait at once, not at the member-start bound.
    await watchingBoot(context, action.replica, (watched) =>
      etcd.promoteWhenReady(member.id, {
        signal: watched.signal,
        timeoutMs: context.timeouts.promote,
        stallAfterMs: context.timeouts.learnerStall,
        memberStartTimeoutMs: context.timeouts.memberStart,
        waitServing: true,
      }),
    );
  } catch (error) {
    if (isHacpError(error, ErrorCode.MEMBER_NOT_STARTED)) throw neverStarted(context, action.replica, error);
    throw error;
  }
  return 'done';
};

/** etcd's MEMBER_NOT_STARTED, said of the replica: its machine is where to look. */
function neverStarted(context: StepContext, replica: string, error: HacpError): HacpError {
  const seconds = Math.round(context.timeouts.memberStart / 1000);
  return new HacpError({
    code: ErrorCode.MEMBER_NOT_STARTED,
    message: `${replica}'s etcd member never started within ${seconds} s of its instance's creation: ${error.message}`,
    actions: [
      `Read ${replica}'s boot log: its serial console or startup log says whether it booted, got its images and started etcd (on GCE: \`gcloud compute instances get-serial-port-output ${replica} --zone ${zoneOf(context, replica)}\`).`,
      "Check that the other replicas reach its etcd peer port (the cluster's firewall rules) and that its certificates come from the cluster's etcd CA.",
      `If it only boots slowly, raise the member-start timeout (\`timeouts.memberStart\`, now ${seconds} s) and run the operation again.`,
    ],
    details: { ...error.details, replica },
    cause: error,
  });
}

const moveLeader: StepHandler<'move-leader'> = async (context, action) => {
  const etcd = await context.session.requireEtcd(context.signal);
  const member = findMember(await etcd.members({ signal: context.signal }), action.from);
  if (member === undefined) return 'skipped';
  const moved = await etcd.moveLeaderAway(member.id, { signal: context.signal });
  return moved.moved ? 'done' : 'skipped';
};

const removeMember: StepHandler<'remove-member'> = async (context, action) => {
  const etcd = await context.session.requireEtcd(context.signal);
  const members = await etcd.members({ signal: context.signal });
  const member =
    findMember(members, action.replica, undefined, action.memberId) ??
    (await unstartedLearnerOf(context, members, action.replica));
  if (member === undefined) {
    context.session.memberRemoved(action.replica);
    return 'skipped';
  }
  await etcd.removeMember(member.id, { signal: context.signal });
  // A removed member may still answer for a moment, with the member list it had: read elsewhere.
  context.session.memberRemoved(action.replica);
  return 'done';
};

/**
 * The learner this operation added for the replica, not started yet (it has no name): found by the
 * peer URL of the replica's network. Allocation is idempotent by name, so a run cut short before
 * its journal kept the network gets the same one again.
 */
async function unstartedLearnerOf(context: StepContext, members: readonly EtcdMember[], replica: string) {
  if (!members.some((member) => member.learner && member.name === '')) return undefined;
  if (!ownsReplica(context, replica)) return undefined;
  return findMember(members, replica, etcdPeerUrl(await networkOf(context, replica)));
}

const migrateMember: StepHandler<'migrate-member'> = async (context, action) => {
  const peerUrl = etcdPeerUrl(await networkOf(context, action.replica));
  const etcd = await context.session.requireEtcd(context.signal);
  const member = findMember(await etcd.members({ signal: context.signal }), action.replica);
  if (member === undefined || member.peerUrls.includes(peerUrl)) return 'skipped';
  await etcd.migrateMember(member.id, peerUrl, { signal: context.signal });
  return 'done';
};

/**
 * Waits until the replica's etcd member answers a linearizable read, through the session's
 * connection; reconnects only when that connection does not reach the replica yet.
 */
export async function waitMemberHealthy(context: StepContext, replica: string): Promise<void> {
  const { signal, session } = context;
  await waitUntil({
    description: `${replica} to be healthy`,
    timeoutMs: context.timeouts.healthy,
    signal,
    minDelayMs: 200,
    maxDelayMs: 2000,
    retryOn: () => true,
    check: async () => {
      const etcd = await session.requireEtcd(signal);
      const member = (await etcd.members({ signal })).find((m) => m.name === replica);
      const health = member === undefined ? [] : await etcd.health({ signal, timeoutMs: 2000 });
      if (member !== undefined && health.some((entry) => entry.id === member.id && entry.healthy)) {
        return { done: true, value: true };
      }
      if (!etcd.reached.includes(replica)) session.instancesChanged();
      return { done: false, reason: `${replica} is not healthy yet` };
    },
  });
}

export const memberHandlers = {
  snapshot,
  'add-learner': addLearner,
  'promote-learner': promoteLearner,
  'move-leader': moveLeader,
  'remove-member': removeMember,
  'migrate-member': migrateMember,
};
