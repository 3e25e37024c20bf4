/**
 * A rollout (`rollout restart`, `upgrade`): every replica replaced once, one at a time, each by a
 * normal replace. Cluster API's KubeadmControlPlane rolls the same way: `maxSurge` 1 (a new replica
 * before the old one goes) by default, 0 (old before new) only where the others keep quorum.
 */
import { invalidArgument } from '@hacp/core';
import { assertCanRoll, followersFirst } from './rolling.js';
import type { ClusterView } from './types.js';

/** How many replicas a rollout may add beyond the count while it replaces one. */
export type MaxSurge = 0 | 1;

/** The fewest replicas at which a rollout may take one away before its replacement comes. */
export const MIN_REPLICAS_WITHOUT_SURGE = 3;

/**
 * The replicas a rollout replaces, in order (followers first, the etcd leader last), refused before
 * anything changes while the cluster is not healthy, or with `maxSurge: 0` below three replicas.
 *
 * @example
 * rolloutOrder(view, { maxSurge: 1, command: '`hacp rollout restart`' });
 * // ['kubernetes-master-b2c', 'kubernetes-master-c3d', 'kubernetes-master']
 * @throws HacpError INVALID_ARGUMENT (field `maxSurge`) for 0 below three replicas, or a value other
 *   than 0 and 1; QUORUM_AT_RISK while a replica or member is unhealthy or a learner is present;
 *   REPLICA_NOT_FOUND without replicas.
 */
export function rolloutOrder(view: ClusterView, options: { maxSurge: number; command: string }): string[] {
  const { maxSurge, command } = options;
  if (maxSurge !== 0 && maxSurge !== 1) {
    throw invalidArgument({
      field: 'maxSurge',
      value: maxSurge,
      message: `--max-surge must be 0 or 1, not ${maxSurge}: a rollout replaces one replica at a time.`,
    });
  }
  if (maxSurge === 0 && view.replicas.length < MIN_REPLICAS_WITHOUT_SURGE) {
    throw invalidArgument({
      field: 'maxSurge',
      value: maxSurge,
      message: `Cluster ${view.cluster} has ${view.replicas.length} replica${view.replicas.length === 1 ? '' : 's'}: with --max-surge 0 each would be removed before its replacement comes, leaving ${view.replicas.length - 1} to serve and no room for a failure. Below ${MIN_REPLICAS_WITHOUT_SURGE} replicas a rollout adds the new replica first (--max-surge 1, the default).`,
    });
  }
  assertCanRoll(view, 'a rollout replaces every replica in turn', command);
  return followersFirst(view).map((replica) => replica.name);
}
