/**
 * A lost etcd quorum, told apart from a quorum at risk: whether it is lost, and the way out that
 * every command refusing a change then names (`zone restore`, `repair`, `recover`).
 */
import { ErrorCode, HacpError } from '@hacp/core';
import { quorumSize } from './quorum.js';
import type { ClusterView } from './types.js';

const zoneDown = (view: ClusterView, zone: string) => view.downZones?.includes(zone) ?? false;

/** Whether etcd has lost its quorum: fewer healthy voters than a quorum of the voters (or none at all). */
export function quorumLost(view: ClusterView): boolean {
  const voters = view.members.filter((member) => !member.learner);
  const healthy = voters.filter((member) => member.started && member.healthy).length;
  return voters.length === 0 || healthy < quorumSize(voters.length);
}

/**
 * What to do about a lost quorum: where the missing voters are in a zone that is down, bring the
 * zone back (nothing is lost); where they are only stopped, start them; else `hacp recover`.
 */
export function quorumLostActions(view: ClusterView): string[] {
  const down = [...new Set(view.replicas.filter((r) => zoneDown(view, r.zone)).map((r) => r.zone))].sort();
  const stopped = view.replicas.filter((r) => r.stopped === true && !zoneDown(view, r.zone));
  const actions = down.map(
    (zone) =>
      `Zone ${zone} is down: run \`hacp zone restore ${zone}\` if it was failed on purpose, or wait until it is back; its replicas return with their data and nothing is lost.`,
  );
  if (stopped.length > 0) {
    actions.push(
      `Run \`hacp repair\` to start ${stopped.map((r) => r.name).join(', ')} again: where their disks are intact, quorum comes back with nothing lost.`,
    );
  }
  actions.push(
    'If the lost replicas are gone for good, run `hacp recover`: it brings the cluster back from the surviving member with the most data, or from the newest backup, and says what is lost before it changes anything.',
  );
  return actions;
}

/** QUORUM_LOST for a change that needs quorum, naming the way out. */
export function quorumLostError(view: ClusterView, change: string): HacpError {
  const voters = view.members.filter((member) => !member.learner);
  const healthy = voters.filter((member) => member.started && member.healthy).length;
  const count =
    voters.length === 0
      ? 'no etcd member answers'
      : `${healthy} of ${voters.length} etcd voters ${healthy === 1 ? 'is' : 'are'} healthy, and it needs ${quorumSize(voters.length)}`;
  return new HacpError({
    code: ErrorCode.QUORUM_LOST,
    message: `Cluster ${view.cluster} has lost etcd quorum (${count}), so it cannot ${change}.`,
    actions: quorumLostActions(view),
    details: { cluster: view.cluster, voters: voters.length, healthy },
  });
}
