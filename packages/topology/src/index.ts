export { type ChooseReplicaOptions, chooseReplicaToRemove } from './choose.js';
export {
  DEFAULT_HEALTH_CHECK,
  type EndpointTransition,
  type EndpointTransitionOptions,
  endpointTeardown,
  endpointTransition,
  initialEndpoint,
} from './endpoint.js';
export { firewallRules } from './firewall.js';
export {
  assertReplicaZone,
  assertZone,
  checkReplicaZone,
  type ReplicaZoneOptions,
  regionOfZone,
  zonesInRegion,
} from './geography.js';
export { placementWarnings, suggestZone } from './placement.js';
export {
  type NamingOptions,
  type PlanRemoveOptions,
  type PlanReplaceOptions,
  type PlanReplicateOptions,
  type PlanUpOptions,
  planDown,
  planRemove,
  planRepair,
  planReplace,
  planReplicate,
  planToJson,
  planUp,
} from './plans.js';
export {
  canAddMember,
  canRemoveMember,
  type FaultTolerance,
  faultTolerance,
  quorumSize,
  type ZoneLoss,
  type ZoneLossAnalysis,
  zoneLossAnalysis,
} from './quorum.js';
export { quorumLost, quorumLostActions, quorumLostError } from './quorum-lost.js';
export { assertNoDownZone, type PlanRecoverOptions, planRecover, type RecoverySource } from './recover.js';
export { CA_NAMES, canRestartMember, planRenewCerts, planRotateCa } from './rolling.js';
export { type MaxSurge, MIN_REPLICAS_WITHOUT_SURGE, rolloutOrder } from './rollout.js';
export {
  assertScaleTarget,
  MAX_SCALE_REPLICAS,
  nextScaleChange,
  planScale,
  type ScaleChange,
  type ScaleOptions,
} from './scale.js';
export {
  type CaName,
  type ClusterView,
  type EndpointChange,
  type EndpointHealthCheck,
  type EndpointState,
  type EndpointStep,
  type MemberInfo,
  type OperationName,
  type Plan,
  type PlannedState,
  type PlanStep,
  type ReplicaInfo,
  type StepAction,
  type StepKind,
  type Verdict,
  type Warning,
  WarningCode,
} from './types.js';
