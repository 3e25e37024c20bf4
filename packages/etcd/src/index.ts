export {
  type AddedLearner,
  type CallOptions,
  createMembershipClient,
  type EndpointStatus,
  type EtcdMember,
  type EtcdTls,
  type KvHash,
  type LeaderMove,
  type MemberHealth,
  type MembershipClient,
  type MembershipClientOptions,
  type MigratedMember,
  type PromoteOptions,
  type RemovedMember,
} from './client.js';
export {
  type EtcdCallContext,
  type EtcdErrorDetails,
  EtcdReason,
  etcdReasonOf,
  toHacpError,
} from './errors.js';
export {
  type EtcdPkiPaths,
  formatInitialCluster,
  type InitialClusterEntry,
  type MemberFlagsOptions,
  memberFlags,
  parseInitialCluster,
} from './flags.js';
export {
  type LearnerClock,
  type LearnerClockSettings,
  type LearnerObservation,
  type LearnerVerdict,
  learnerClock,
} from './learner-clock.js';
export { type RestoredMember, type RestoreOptions, restoreSingleMember } from './restore.js';
export { type SnapshotResult, type VerifiedSnapshot, verifySnapshot } from './snapshot.js';
export { assertMemberId, hexId, normalizeEtcdUrl } from './urls.js';
