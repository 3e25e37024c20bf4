/**
 * hacp's CLI as a library: the base command and the helpers its commands and tests share. The
 * commands themselves are under `dist/commands` (oclif finds them there).
 */
export {
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
  type KubernetesVariables,
  type KubeUpDispatch,
  type KubeUpVariables,
  kubeDownDispatch,
  kubeUpDispatch,
  readBooleanVariable,
  readKubeDownVariables,
  readKubernetesVariables,
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
export {
  BINARY_NAMES,
  BINARY_VARIABLES,
  binaryLocations,
  namedBinaryVariables,
  releaseUrlForDisplay,
} from './kubernetes-binaries.js';
export { OperationCommand } from './operation-command.js';
export {
  FLAGS_OF_OPERATION,
  KEY_ALGORITHMS,
  type KubernetesOptions,
  kubernetesOptions,
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
  columns,
  type DownloadState,
  type LeasesResult,
  plural,
  type RenewResult,
  type RotateCaResult,
  renderCertificates,
  renderDownload,
  renderLeases,
  renderOperationResult,
  renderPlan,
  renderProgressEvent,
  renderRenewed,
  renderStatus,
  renderWarnings,
  renderZoneChange,
  shellWord,
  stepOutcomeText,
  type ZoneChangeResult,
} from './render.js';
export {
  type AddonsApplyCommandResult,
  type AddonsListResult,
  type BinariesFetchResult,
  type BinariesListResult,
  type BinaryLocation,
  type KubeconfigCommandResult,
  renderAddons,
  renderAddonsApply,
  renderBinariesFetch,
  renderBinariesList,
  renderKubeconfig,
} from './render-kubernetes.js';
export { type CliRuntime, processRuntime } from './runtime.js';
