/**
 * hacp's CLI as a library: the base command and the helpers its commands and tests share. The
 * commands themselves are under `dist/commands` (oclif finds them there).
 */
export {
  FAULT_KILL_AFTER_STEP,
  type GlobalSettings,
  type HacpArgs,
  HacpCommand,
  type HacpFlags,
  parseErrorToHacpError,
} from './base-command.js';
export {
  BOOLEAN_VARIABLES,
  type BooleanVariable,
  DEFAULT_CLUSTER,
  defaultCluster,
  defaultStateDir,
  type Environment,
  ignoredVariables,
  type KubeDownDispatch,
  type KubeDownVariables,
  type KubeUpDispatch,
  type KubeUpVariables,
  kubeDownDispatch,
  kubeUpDispatch,
  readBooleanVariable,
  readKubeDownVariables,
  readKubeUpVariables,
  readQuorumReads,
  readStringVariable,
} from './env.js';
export {
  type CliWarning,
  type Envelope,
  type ErrorEnvelope,
  errorEnvelope,
  formatEnvelope,
  type SuccessEnvelope,
  successEnvelope,
  WarningList,
} from './envelope.js';
export { type ErrorBody, errorBody, exitCodeOf, renderError, toHacpError } from './errors.js';
export { OperationCommand } from './operation-command.js';
export {
  FLAGS_OF_OPERATION,
  KEY_ALGORITHMS,
  type OperationFlagValues,
  operationFlags,
  PLANNED_OPERATIONS,
  type PlannedOperation,
  planRequest,
  removeOptions,
  replaceOptions,
  replicateOptions,
  upOptions,
} from './operation-options.js';
export { ProgressPrinter, type ProgressPrinterOptions } from './progress.js';
export {
  assertProviderName,
  type BuiltInProviderName,
  createCliProvider,
  findProvider,
  isLocalProvider,
  KNOWN_PROVIDERS,
  listProviders,
  PROVIDERS,
  type Provider,
  type ProviderContext,
  type ProviderEntry,
  type ProviderListing,
  pluginProviders,
  pluginStateDir,
} from './providers.js';
export {
  type CertificatesResult,
  type LeasesResult,
  plural,
  type RenewResult,
  renderCertificates,
  renderLeases,
  renderOperationResult,
  renderPlan,
  renderProgressEvent,
  renderRenewed,
  renderStatus,
  renderWarnings,
  renderZoneChange,
  type ZoneChangeResult,
} from './render.js';
export { type CliRuntime, processRuntime } from './runtime.js';
