export {
  assertClusterName,
  assertZone,
  DEFAULT_CLUSTER_NAME,
  firstReplicaName,
  isReplicaName,
  newReplicaName,
  regionOfZone,
} from './domain.js';
export {
  ErrorCode,
  ExitCode,
  exitCodeFor,
  HacpError,
  type HacpErrorOptions,
  invalidArgument,
  isHacpError,
} from './errors.js';
export {
  type KubernetesApiAnswer,
  type KubernetesApiStatus,
  kubernetesApiAnswerOf,
} from './kubernetes-api.js';
export { type LogFields, type Logger, noopLogger, redactingLogger, resolveLogger } from './logger.js';
export { assertNodeConfig, type NodeConfig, type NodeFile, type NodeProcess } from './node-config.js';
export {
  defineProviderPlugin,
  isProviderName,
  PROVIDER_PACKAGE_PREFIX,
  PROVIDER_PLUGIN_HOOK,
  type ProviderHostSettings,
  type ProviderPluginV1,
  providerPluginProblems,
} from './plugin.js';
export {
  type Address,
  type AddressApi,
  type AddressHolder,
  type AddressRef,
  type BootProgress,
  type FirewallApi,
  type FirewallRule,
  type HealthCheck,
  type Instance,
  type InstanceApi,
  type InstanceNetwork,
  type InstanceRef,
  type InstanceSpec,
  type InstanceStatus,
  type LoadBalancer,
  type LoadBalancerApi,
  type LoadBalancerSpec,
  type MutationOptions,
  missingProviderV1Members,
  PROVIDER_V1_METHODS,
  type ProviderBaseSettings,
  type ProviderFactory,
  type ProviderKubernetesSupport,
  type ProviderV1,
  type Reach,
  type ReadOptions,
  type StateLock,
  type StateRecord,
  type StateStore,
  type TargetHealth,
  type ZoneInfo,
} from './provider.js';
export {
  assertExpectedVersion,
  assertFirewallRule,
  assertHealthCheck,
  assertLockRequest,
  assertPort,
  assertRegionName,
  assertResourceName,
  assertStateKey,
  MAX_LOCK_TTL_MS,
  MAX_STATE_KEY_LENGTH,
  throwIfAborted,
} from './provider-input.js';
export { quorumOf, toleratedFailures } from './quorum.js';
export { isSecret, redact, redactText, Secret } from './redact.js';
export { backoffDelay, type WaitCheckResult, type WaitUntilOptions, waitUntil } from './wait.js';
export { isWarningCode, type Warning, WarningCode } from './warnings.js';
