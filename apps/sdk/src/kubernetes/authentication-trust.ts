/**
 * kube-system/extension-apiserver-authentication: every kube-apiserver publishes there the CAs it
 * trusts for client certificates (`client-ca-file`) and for the front proxy
 * (`requestheader-client-ca-file`), merged with what the ConfigMap holds already: its trust
 * controller adds, and drops a CA only once it expires. After a CA rotation the old CA would stay
 * published for years, so hacp deletes the ConfigMap once every apiserver trusts the new CA alone;
 * the apiservers write it again at once (their controller watches it) with what they trust now.
 */
import { X509Certificate } from 'node:crypto';
import { ErrorCode, HacpError, kubernetesApiAnswerOf, waitUntil } from '@hacp/core';
import type { KubeConfig } from '@kubernetes/client-node';

const kubernetes = () => import('@kubernetes/client-node');

export const AUTHENTICATION_CONFIG_MAP = {
  namespace: 'kube-system',
  name: 'extension-apiserver-authentication',
} as const;

/** The ConfigMap's key that publishes each CA the apiservers trust for clients. */
export type PublishedCaKey = 'client-ca-file' | 'requestheader-client-ca-file';

/** The certificates of a PEM bundle, by SHA-256 fingerprint, sorted: bundles compared as sets. */
export function bundleFingerprints(bundle: string | undefined): string[] {
  const blocks = bundle?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return [...new Set(blocks.map((pem) => new X509Certificate(pem).fingerprint256))].sort();
}

function apiFailure(what: string, error: unknown): HacpError {
  const answer = kubernetesApiAnswerOf(error);
  const forbidden = answer?.httpStatus === 401 || answer?.httpStatus === 403;
  return new HacpError({
    code: forbidden ? ErrorCode.PERMISSION_DENIED : ErrorCode.UNAVAILABLE,
    message: `${what} ConfigMap ${AUTHENTICATION_CONFIG_MAP.namespace}/${AUTHENTICATION_CONFIG_MAP.name} failed: ${answer ? `HTTP ${answer.httpStatus}` : (error as Error).message}.`,
    actions: ['Check that the Kubernetes API answers, then run `hacp resume`.'],
    retryable: !forbidden,
    cause: error,
  });
}

/** The published bundle under `key` and the ConfigMap's resourceVersion; undefined when it is absent. */
export async function publishedTrust(
  kubeconfig: KubeConfig,
  key: PublishedCaKey,
): Promise<{ bundle: string | undefined; resourceVersion: string } | undefined> {
  const { CoreV1Api } = await kubernetes();
  try {
    const map = await kubeconfig.makeApiClient(CoreV1Api).readNamespacedConfigMap(AUTHENTICATION_CONFIG_MAP);
    return { bundle: map.data?.[key], resourceVersion: map.metadata?.resourceVersion ?? '' };
  } catch (error) {
    if (kubernetesApiAnswerOf(error)?.httpStatus === 404) return undefined;
    throw apiFailure('Reading', error);
  }
}

/**
 * Makes the ConfigMap publish exactly `trusted` under `key`: when it holds more (a CA no apiserver
 * trusts any longer), it is deleted (at the version read) and awaited until the apiservers have
 * written it again. Returns whether it had to.
 *
 * @throws HacpError UNAVAILABLE when the API does not answer or the apiservers do not write it again
 *   within `timeoutMs`; PERMISSION_DENIED when hacp's credentials are refused.
 */
export async function republishTrust(options: {
  kubeconfig: KubeConfig;
  key: PublishedCaKey;
  trusted: string;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<boolean> {
  const { kubeconfig, key } = options;
  const wanted = bundleFingerprints(options.trusted).join();
  const current = await publishedTrust(kubeconfig, key);
  if (current !== undefined && bundleFingerprints(current.bundle).join() === wanted) return false;
  if (current !== undefined) {
    const { CoreV1Api } = await kubernetes();
    try {
      await kubeconfig.makeApiClient(CoreV1Api).deleteNamespacedConfigMap({
        ...AUTHENTICATION_CONFIG_MAP,
        body: { preconditions: { resourceVersion: current.resourceVersion } },
      });
    } catch (error) {
      // Gone already, or rewritten since it was read: the wait below reads it again either way.
      const status = kubernetesApiAnswerOf(error)?.httpStatus;
      if (status !== 404 && status !== 409) throw apiFailure('Deleting', error);
    }
  }
  await waitUntil({
    description: `the apiservers to publish the new CA alone in ${AUTHENTICATION_CONFIG_MAP.namespace}/${AUTHENTICATION_CONFIG_MAP.name}`,
    timeoutMs: options.timeoutMs,
    minDelayMs: 250,
    maxDelayMs: 2000,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    check: async () => {
      const published = await publishedTrust(kubeconfig, key);
      if (published === undefined) return { done: false, reason: 'it is not written again yet' };
      return bundleFingerprints(published.bundle).join() === wanted
        ? { done: true, value: true }
        : { done: false, reason: `it publishes ${bundleFingerprints(published.bundle).length} CAs` };
    },
  });
  return true;
}
