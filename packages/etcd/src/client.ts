/**
 * The membership client: connections (connection.ts, relay.ts), reads (reads.ts) and the membership
 * operations (membership.ts, promote.ts, leadership.ts) put together behind one interface.
 */
import { openConnection } from './connection.js';
import { moveLeaderAway } from './leadership.js';
import { addLearner, migrateMember, type OperationContext, removeMember, snapshot } from './membership.js';
import { promoteWhenReady } from './promote.js';
import { createReads } from './reads.js';
import { restoreSingleMember } from './restore.js';
import type { MembershipClient, MembershipClientOptions } from './types.js';

export type {
  AddedLearner,
  CallOptions,
  EndpointStatus,
  EtcdMember,
  EtcdTls,
  KvHash,
  LeaderMove,
  MemberHealth,
  MembershipClient,
  MembershipClientOptions,
  MigratedMember,
  PromoteOptions,
  RemovedMember,
} from './types.js';

/**
 * A client for etcd's membership, holding the safety rules of kubeadm, Cluster API and k3s: one
 * learner at a time, added through a healthy member and promoted only once caught up; removals
 * projected against quorum and sent through a remaining member; leadership moved off a member
 * before it goes. Every etcd failure comes out as a HacpError (see `toHacpError`). Every call to a
 * member has a deadline (`callTimeoutMs`, or `deadlineMs` per operation), and `close()` ends every
 * connection, also one to a member that stopped answering mid-handshake.
 *
 * @example
 * const etcd = createMembershipClient({
 *   endpoints: ['https://10.0.0.2:2379'],
 *   tls: { caPem, certPem, keyPem },
 * });
 * try {
 *   const added = await etcd.addLearner({ name: 'kubernetes-master-a1b', peerUrl: 'https://10.0.0.3:2380' });
 *   // start etcd on the new replica with memberFlags({ ..., initialCluster: added.initialCluster, state: added.state })
 *   await etcd.promoteWhenReady(added.member.id);
 * } finally {
 *   etcd.close();
 * }
 * @throws HacpError INVALID_ARGUMENT when no endpoint is given, one is not an https URL, the TLS
 *   material is incomplete, or `callTimeoutMs` is not a positive number.
 */
export function createMembershipClient(options: MembershipClientOptions): MembershipClient {
  const connection = openConnection(options);
  const reads = createReads(connection);
  const context: OperationContext = { connection, reads };
  return {
    members: reads.members,
    status: reads.status,
    health: reads.health,
    hashKv: reads.hashKv,
    addLearner: (request) => addLearner(context, request),
    promoteWhenReady: (id, promoteOptions) => promoteWhenReady(context, id, promoteOptions),
    removeMember: (id, removeOptions) => removeMember(context, id, removeOptions),
    moveLeaderAway: (id, moveOptions) => moveLeaderAway(context, id, moveOptions),
    migrateMember: (id, newPeerUrl, migrateOptions) => migrateMember(context, id, newPeerUrl, migrateOptions),
    snapshot: (file, snapshotOptions) => snapshot(context, file, snapshotOptions),
    restoreSingleMember: (file, dataDir, restoreOptions) =>
      restoreSingleMember(file, dataDir, { logger: options.logger, ...restoreOptions }),
    close: () => connection.close(),
  };
}
