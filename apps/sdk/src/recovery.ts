/**
 * `recover`'s choice of source: the surviving member with the highest applied index, else the
 * newest backup that verifies; and what that source loses, said before anything changes.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import type { NamingOptions } from '@hacp/topology';
import {
  assertNoDownZone,
  type ClusterView,
  type Plan,
  planRecover,
  quorumLost,
  type RecoverySource,
} from '@hacp/topology';
import { describeBackup, newestRestorableBackup, restorableBackup } from './backup-files.js';
import type { BackupCatalogueContext } from './backups.js';
import type { Observation } from './observe.js';

/** What `recover` is asked: from a chosen backup (`backup restore`), or the best source there is. */
export interface RecoverRequest {
  backup?: string;
}

/** The recover plan for the cluster as observed. */
export async function planRecovery(options: {
  catalogue: BackupCatalogueContext;
  observation: Observation;
  view: ClusterView;
  request: RecoverRequest;
  naming: NamingOptions;
}): Promise<Plan> {
  const { view, observation, request, catalogue } = options;
  // First: a zone that may come back whole is the answer, whatever the source would be.
  assertNoDownZone(view);
  const lost = quorumLost(view);
  if (request.backup !== undefined) {
    const chosen = describeBackup(await restorableBackup(catalogue, request.backup));
    const loss = lost
      ? `Backup ${chosen} is restored: every write made after it was taken is lost.`
      : `Cluster ${view.cluster} has quorum now: restoring backup ${chosen} replaces its data with the backup's, and every write made after it was taken is lost.`;
    return planRecover(view, { source: { kind: 'backup', id: request.backup }, loss, ...options.naming });
  }
  if (!lost) throw hasQuorum(view);
  const survivor = bestSurvivor(observation, view);
  if (survivor !== undefined) {
    const source: RecoverySource = { kind: 'member', replica: survivor.replica };
    const loss = `${survivor.replica}'s member has the most data of those that answer (applied index ${survivor.appliedIndex}); it is kept in a backup first. Writes that only the lost members had applied, if any, are lost.`;
    return planRecover(view, { source, loss, ...options.naming });
  }
  const backup = await newestRestorableBackup(catalogue);
  if (backup === undefined) throw nothingToRecoverFrom(view);
  const loss = `No etcd member survived: the newest backup that verifies, ${describeBackup(backup)}, is restored. Every write made after it was taken is lost.`;
  return planRecover(view, { source: { kind: 'backup', id: backup.id }, loss, ...options.naming });
}

/** The voter whose member answers with the highest applied index (ties: the lowest name). */
function bestSurvivor(
  observation: Observation,
  view: ClusterView,
): { replica: string; appliedIndex: bigint } | undefined {
  const running = new Set(
    observation.instances
      .filter((instance) => instance.status === 'running')
      .map((instance) => instance.name),
  );
  const candidates = observation.statuses.flatMap((status) => {
    const member = observation.members.find((m) => m.id === status.memberId);
    if (!status.ok || member === undefined || member.learner || !running.has(member.name)) return [];
    if (!view.replicas.some((replica) => replica.name === member.name)) return [];
    const index = status.appliedIndex ?? status.raftIndex ?? '0';
    return [{ replica: member.name, appliedIndex: BigInt(index) }];
  });
  candidates.sort((a, b) =>
    a.appliedIndex === b.appliedIndex
      ? a.replica.localeCompare(b.replica)
      : a.appliedIndex > b.appliedIndex
        ? -1
        : 1,
  );
  return candidates[0];
}

function hasQuorum(view: ClusterView): HacpError {
  const voters = view.members.filter((member) => !member.learner);
  const healthy = voters.filter((member) => member.healthy).length;
  return new HacpError({
    code: ErrorCode.CONFLICT,
    message: `Cluster ${view.cluster} has quorum (${healthy} of ${voters.length} etcd voters healthy): there is nothing to recover.`,
    actions: [
      'Run `hacp repair` to fix unhealthy replicas.',
      'To go back to a backup on purpose, run `hacp backup restore <id>`.',
    ],
    details: { cluster: view.cluster, healthy, voters: voters.length },
    retryable: false,
  });
}

function nothingToRecoverFrom(view: ClusterView): HacpError {
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `No etcd member of cluster ${view.cluster} answers and no backup of it verifies: there is nothing to recover from.`,
    actions: [
      'Start the replicas whose disks survive (`hacp repair` starts a stopped one; `hacp zone restore <zone>` a failed zone), then run `hacp recover` again.',
      'Or delete the cluster with `hacp down` and create it again with `hacp up`.',
    ],
    details: { cluster: view.cluster },
  });
}
