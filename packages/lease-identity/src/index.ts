export type { LeaseVerb } from './api-errors.js';
export {
  createLeaderElector,
  ELECTOR_VERBS,
  type LeaderElector,
  type LeaderElectorOptions,
  type Leadership,
  type StoppedLeadingReason,
} from './elector.js';
export {
  createIdentityGc,
  GC_VERBS,
  type IdentityGc,
  type IdentityGcOptions,
  type IdentityGcResult,
  isLeaseExpired,
} from './gc.js';
export {
  CONFLICT_BACKOFF,
  createIdentityHeartbeat,
  HEARTBEAT_VERBS,
  type IdentityHeartbeat,
  type IdentityHeartbeatOptions,
  MAX_UPDATE_RETRIES,
} from './heartbeat.js';
export {
  type ApiServerIdentity,
  INSPECT_VERBS,
  LEADER_LEASES,
  type LeaseLeader,
  leaderOf,
  listApiServerIdentities,
} from './inspect.js';
export type { LeaseApi, LeaseClient } from './lease-store.js';
export {
  API_SERVER_IDENTITY_GENERATIONS,
  type ApiServerIdentityGeneration,
  type ApiServerIdentityOptions,
  apiServerIdentityLabels,
  apiServerIdentityName,
  HOSTNAME_LABEL_KEY,
  IDENTITY_LABEL,
  IDENTITY_LABEL_SELECTORS,
  IDENTITY_NAMESPACE,
  identityGenerationOf,
  LEGACY_IDENTITY_LABEL,
} from './names.js';
