export {
  type CachedKubernetesVersion,
  listCachedKubernetesBinaries,
} from './cache.js';
export {
  type DownloadProgress,
  ensureKubernetesBinaries,
  type FetchOptions,
  fetchKubernetesBinaries,
} from './fetch.js';
export { binaryVersion, findKubernetesBinaries, type KubernetesBinaries } from './find.js';
export { resolveKubernetesVersion } from './resolve.js';
export {
  BINARY_VARIABLES,
  DEFAULT_RELEASE_URL,
  KUBERNETES_BINARIES,
  type KubernetesBinary,
  type KubernetesBinarySource,
  kubernetesBinarySourceFromEnv,
} from './source.js';
export {
  compareKubernetesVersions,
  isKubernetesVersionSpec,
  type KubernetesVersion,
  parseKubernetesVersion,
} from './version.js';
