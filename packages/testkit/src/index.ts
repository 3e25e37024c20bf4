export { probeHttp, type VmRuntime, type VmSpec } from './compute-api/vm-runtime.js';
export {
  type ComputeApiRequest,
  type ComputeApiServer,
  type ComputeClientOptions,
  type ComputeFault,
  type ComputeFaultEffect,
  type ComputeFaultMatch,
  type ComputeFaultRule,
  type ComputeFaults,
  type ComputeProjectSnapshot,
  DEFAULT_COMPUTE_ZONES,
  type StartComputeApiServerOptions,
  startComputeApiServer,
} from './compute-api-server.js';
export {
  type EtcdFlagsInput,
  type EtcdTestCluster,
  type EtcdTestMember,
  type SpawnMemberOptions,
  type StartEtcdClusterOptions,
  startEtcdCluster,
  type TlsFiles,
} from './etcd-cluster.js';
export {
  type ContainerStatus,
  type ContainerTermination,
  type ImageEntry,
  type ImageMap,
  KUBELET_DEFAULTS,
  KUBELET_STAND_IN_CLI,
  type Kubelet,
  type KubeletConfig,
  type KubeletEnvironment,
  type KubeletStatus,
  kubeletEnvironment,
  type PodStatus,
  type RunKubeletOptions,
  runKubelet,
  statusFilePath,
} from './kubelet-stand-in.js';
export {
  type StartTestApiserverOptions,
  startTestApiserver,
  TEST_KUBERNETES_VERSIONS,
  type TestApiserver,
  testKubernetesBinaries,
} from './kubernetes.js';
export {
  type LeaseApiRequest,
  type LeaseApiServer,
  type LeaseVerb,
  type StartLeaseApiServerOptions,
  startLeaseApiServer,
} from './lease-api-server.js';
export { freePort, freePorts } from './ports.js';
export {
  isAlive,
  reapRecordedProcesses,
  type SpawnedProcess,
  spawnTracked,
  trackedPids,
} from './processes.js';
export { createRecordingLogger, type LogRecord, type RecordingLogger } from './recording-logger.js';
