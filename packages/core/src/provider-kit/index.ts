/**
 * `@hacp/core/provider-kit`: the parts every process-based provider needs (a provider whose
 * machines are processes on this machine, such as the local provider and the example plugin), so
 * that a plugin still depends on `@hacp/core` alone.
 *
 * The building blocks: a compare-and-swap file state store with its locks, a cross-process mutex
 * that survives a holder dying mid-write, detached processes stopped by pid and start time, loopback
 * addresses, atomic JSON files and `sleep(ms, signal)`. On top of them, a whole process cloud around
 * one context: instances (a NodeConfig's files and processes), addresses and load balancers served
 * by an endpoint program (an EndpointDriver: the provider's own, or the kit's TCP forwarder),
 * recorded firewall rules and `reach`.
 */
export { createProcessAddresses, describeHolder } from './addresses.js';
export {
  type AddressRecord,
  createProcessCloud,
  type FirewallRecord,
  type InstanceRecord,
  type LoadBalancerRecord,
  type NetworkRecord,
  type ProcessCloud,
  type ProcessCloudPaths,
  type ProcessCloudSettings,
} from './cloud.js';
export {
  createEndpointHooks,
  createEndpointRunner,
  type EndpointDriver,
  type EndpointHooks,
  type EndpointListener,
  type EndpointPlan,
  type EndpointRunner,
  type EndpointServer,
  planDigest,
} from './endpoints.js';
export { FileMutex, type FileMutexOptions } from './file-mutex.js';
export { createRecordedFirewalls } from './firewalls.js';
export {
  type ForwarderConfig,
  type ForwarderStatus,
  forwarderEndpointDriver,
  forwarderPaths,
} from './forwarder-endpoint.js';
export {
  createProcessInstances,
  type ProcessInstanceApi,
  type ProcessInstances,
  type ProcessInstancesSettings,
  statusOf,
} from './instances.js';
export {
  DIR_MODE,
  ensureDir,
  type JsonFiles,
  jsonFiles,
  listFolder,
  stateCorrupt,
  writeFileAtomically,
} from './json-files.js';
export { createProcessLoadBalancers, type ProcessLoadBalancerApi } from './load-balancers.js';
export {
  FIRST_PORT_OFFSET,
  type LoopbackRange,
  listeningPorts,
  PORT_OFFSET_STEP,
  pickLoopbackIp,
  pickPortOffset,
  STANDARD_PORTS,
} from './loopback.js';
export {
  type AddressPool,
  createNetworkAllocations,
  loopbackAddressPool,
  type NetworkAllocations,
  sharedLoopbackAddressPool,
  type TakenAddresses,
} from './networks.js';
export {
  assertFileUpdate,
  type FileUpdate,
  nodeConfigDigest,
  readFilesUnder,
  syncFolder,
  writeNodeFiles,
} from './node-files.js';
export {
  type InstancePaths,
  instancePaths,
  logFileOf,
  type ProcessState,
  pidFileOf,
  processRecordOf,
  processStates,
  type StartProcessSetOptions,
  type StoredProcess,
  startProcessSet,
  stopGraceMsOf,
  stopProcessSet,
} from './process-set.js';
export {
  DEBIAN_PACKAGE_OF,
  type DetachedProcessOptions,
  dependencyMissing,
  findProgram,
  isAlive,
  logTail,
  ownHostnameSupport,
  type ProcessExit,
  type ProcessRecord,
  processStat,
  type StartedProcess,
  selfRecord,
  signalProcess,
  startDetached,
  stopProcess,
} from './processes.js';
export {
  createProcessProvider,
  fixedZones,
  PROCESS_CLOUD_CAPABILITIES,
  type ProcessProviderGroups,
  type ProcessProviderSettings,
} from './provider.js';
export { createLoopbackReach } from './reach.js';
export { sleep } from './sleep.js';
export { createFileStateStore, type FileStateStoreSettings } from './state-store.js';
