/**
 * Which Kubernetes a cluster runs, decided once at `up` and recorded: the version (a spec such as
 * `1.23` or `latest-1.32` resolved through the release location) and, for providers that run the
 * programs on this machine, the binaries (found, or downloaded into hacp's cache).
 */
import { ErrorCode, HacpError, isHacpError, type ProviderV1 } from '@hacp/core';
import {
  type DownloadProgress,
  ensureKubernetesBinaries,
  findKubernetesBinaries,
  type KubernetesBinaries,
  type KubernetesBinarySource,
  parseKubernetesVersion,
  resolveKubernetesVersion,
} from '@hacp/kubernetes-release';
import { type Warning, WarningCode } from '@hacp/topology';
import { addonManagerProgram, type KubernetesPrograms } from './components.js';

/** The version `up` picks when none is given and no binaries are configured. */
export const DEFAULT_KUBERNETES_VERSION = 'stable-1.32';

/** The oldest minor hacp renders flags for (the service-account issuer flags, APIServerIdentity). */
export const MINIMUM_KUBERNETES_MINOR = 20;

export interface KubernetesRequest {
  /** false: an etcd-only cluster. */
  kubernetes?: boolean;
  /** A version or spec (`v1.23.16`, `1.23`, `stable-1.23`, `latest-1.32`). */
  kubernetesVersion?: string;
}

export interface KubernetesContext {
  provider: ProviderV1;
  source: KubernetesBinarySource;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** For tests: the add-on manager script a `host` provider runs; default `@hacp/addon-manager`'s. */
  addonManagerProgram?: string;
}

/** What `up` records: a version, or etcd only (with the warning that says why, unless asked for). */
export interface KubernetesChoice {
  version?: string;
  warning?: Warning;
}

function unsupported(version: string): HacpError {
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `Kubernetes ${version} is older than hacp supports: it runs 1.${MINIMUM_KUBERNETES_MINOR} and later.`,
    actions: ['Pick a newer version with --kubernetes-version, such as 1.23 or latest-1.32.'],
    details: { field: 'kubernetesVersion', value: version },
  });
}

function assertSupported(version: string): void {
  if (parseKubernetesVersion(version).minor < MINIMUM_KUBERNETES_MINOR) throw unsupported(version);
}

function etcdOnly(message: string): KubernetesChoice {
  return { warning: { code: WarningCode.KUBERNETES_UNAVAILABLE, message } };
}

/**
 * The Kubernetes `up` records. An explicit version that cannot be had is an error (nothing is made);
 * without one, the cluster falls back to etcd only, with a warning saying why and what to do.
 *
 * @throws HacpError INVALID_ARGUMENT for a malformed or too old version; NOT_FOUND, UNAVAILABLE,
 *   CHECKSUM_MISMATCH or DEPENDENCY_MISSING when an explicitly requested version cannot be had.
 */
export async function chooseKubernetes(
  request: KubernetesRequest,
  context: KubernetesContext,
): Promise<KubernetesChoice> {
  if (request.kubernetes === false) return {};
  const { provider } = context;
  if (provider.kubernetes === undefined) {
    if (request.kubernetesVersion !== undefined) {
      throw new HacpError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `Provider ${provider.name} runs etcd only: it cannot run Kubernetes ${request.kubernetesVersion}.`,
        actions: ['Leave out --kubernetes-version, or pass --no-kubernetes.'],
        details: { field: 'kubernetesVersion', provider: provider.name },
      });
    }
    return etcdOnly(
      `Provider ${provider.name} runs etcd only, so the replicas run no Kubernetes components.`,
    );
  }
  const host = provider.kubernetes.programs === 'host';
  try {
    const version = await pickVersion(request, context, host);
    assertSupported(version);
    if (host) await ensureKubernetesBinaries(version, context.source, progressOptions(context));
    return { version };
  } catch (error) {
    if (request.kubernetesVersion !== undefined || !isHacpError(error)) throw error;
    if (error.code === ErrorCode.ABORTED || error.code === ErrorCode.CHECKSUM_MISMATCH) throw error;
    return etcdOnly(
      `No Kubernetes binaries could be had (${error.message}), so the cluster runs etcd only. ` +
        'Set HACP_KUBE_BIN_DIR or HACP_KUBE_RELEASE_URL, or pass --kubernetes-version, and create it again.',
    );
  }
}

function progressOptions(context: KubernetesContext) {
  return {
    ...(context.signal ? { signal: context.signal } : {}),
    ...(context.onProgress ? { onProgress: context.onProgress } : {}),
  };
}

async function pickVersion(request: KubernetesRequest, context: KubernetesContext, host: boolean) {
  const options = {
    releaseUrl: context.source.releaseUrl,
    ...(context.signal ? { signal: context.signal } : {}),
  };
  if (request.kubernetesVersion !== undefined) {
    return (await resolveKubernetesVersion(request.kubernetesVersion, options)).version;
  }
  // Binaries the operator pointed at (HACP_KUBE_BIN_DIR, KUBE_APISERVER, ...) say which version.
  const configured = host
    ? await findKubernetesBinaries(undefined, context.source, progressOptions(context))
    : undefined;
  if (configured !== undefined) return configured.version;
  return (await resolveKubernetesVersion(DEFAULT_KUBERNETES_VERSION, options)).version;
}

/**
 * How the provider runs the recorded version's programs: their absolute paths on this machine (found,
 * or downloaded into the cache) for a `host` provider, plain names for an `images` one.
 *
 * @throws HacpError from ensureKubernetesBinaries when a host provider's binaries cannot be had.
 */
export async function kubernetesPrograms(
  version: string,
  context: KubernetesContext,
): Promise<KubernetesPrograms> {
  if (context.provider.kubernetes?.programs !== 'host') return { kind: 'images' };
  const binaries: KubernetesBinaries = await ensureKubernetesBinaries(
    version,
    context.source,
    progressOptions(context),
  );
  return {
    kind: 'host',
    paths: binaries.paths,
    addonManager: context.addonManagerProgram ?? addonManagerProgram(),
  };
}
