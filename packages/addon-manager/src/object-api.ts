/**
 * client-node's generic object API as the add-on manager uses it: every request carries the pass's
 * abort signal and a time limit, and failures become plain sentences. The one place that reads
 * client-node's errors; decisions are made on HTTP status and error codes, never on message text.
 */
import { ErrorCode, HacpError, kubernetesApiAnswerOf, redactText } from '@hacp/core';
import {
  createConfiguration,
  type KubeConfig,
  KubernetesObjectApi,
  ServerConfiguration,
} from '@kubernetes/client-node';

/** How long one API request may take before it is given up (a hung API server must not stall the loop). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** How the API server serves a kind. */
export interface ServedKind {
  /** The plural resource name in URLs (`configmaps`). */
  resource: string;
  namespaced: boolean;
}

/**
 * KubernetesObjectApi with its discovery made available: whether a kind is served at all, and
 * whether it is namespaced. Discovery answers are cached for the life of the instance (one pass).
 */
export class AddonObjectApi extends KubernetesObjectApi {
  /** How `kind` of `apiVersion` is served, or undefined when the API server does not serve it. */
  async served(apiVersion: string, kind: string): Promise<ServedKind | undefined> {
    try {
      const found = await this.resource(apiVersion, kind);
      return found === undefined ? undefined : { resource: found.name, namespaced: found.namespaced };
    } catch (error) {
      // 404 on discovery: the group/version itself is not served (a CRD not yet established, say).
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

/**
 * An AddonObjectApi for the kubeconfig's current cluster whose every request carries `signal` and
 * a time limit of {@link REQUEST_TIMEOUT_MS}.
 *
 * @throws HacpError INVALID_ARGUMENT when the kubeconfig has no current cluster.
 */
export function createObjectApi(kubeconfig: KubeConfig, signal?: AbortSignal): AddonObjectApi {
  const cluster = kubeconfig.getCurrentCluster();
  if (!cluster) {
    throw new HacpError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'The kubeconfig has no current cluster, so there is no API server to keep the add-ons on.',
      actions: ['Pass a kubeconfig whose current-context names a cluster with a server address.'],
      details: { field: 'kubeconfig' },
    });
  }
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeconfig },
    promiseMiddleware: [
      {
        pre: async (context) => {
          const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
          context.setSignal(signal === undefined ? timeout : AbortSignal.any([signal, timeout]));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
  return new AddonObjectApi(configuration);
}

/** The HTTP status of an API answer that was an error, or undefined for a failure without one. */
export function httpStatusOf(error: unknown): number | undefined {
  return kubernetesApiAnswerOf(error)?.httpStatus;
}

/**
 * One sentence saying why a request failed, for results and logs: the API server's own message
 * with the status, or the transport failure. Call it only when the caller's signal has not aborted:
 * an abort is then the request's time limit. Secrets that might appear in it are redacted.
 */
export function failureMessage(error: unknown): string {
  const answer = kubernetesApiAnswerOf(error);
  if (answer !== undefined) {
    const { httpStatus, status } = answer;
    const reason = status.reason ? ` ${status.reason}` : '';
    return redactText(`${httpStatus}${reason}: ${status.message ?? 'the API server gave no message'}`);
  }
  if (error instanceof Error) {
    if (error.name === 'AbortError' || error.name === 'TimeoutError') {
      return `the API server did not answer within ${REQUEST_TIMEOUT_MS / 1000} s.`;
    }
    const code = (error as { code?: unknown }).code;
    return redactText(typeof code === 'string' ? `${error.message} (${code})` : error.message);
  }
  return redactText(String(error));
}
