import { ErrorCode, HacpError, isHacpError } from '@hacp/core';
import { DEFAULT_RELEASE_URL } from './source.js';

/** A URL as errors show it: without a user name or password it may carry. */
export function displayUrl(url: URL | string): string {
  const copy = new URL(typeof url === 'string' ? url : url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** What an operator can do when the release location lacks something. */
export function locationActions(releaseUrl: string): string[] {
  return [
    'Check the version: it must be a published release such as v1.23.16, or a spec such as 1.23 or latest-1.32.',
    `Check HACP_KUBE_RELEASE_URL (now ${displayUrl(releaseUrl)}): it must point at a location laid out like ${DEFAULT_RELEASE_URL}.`,
    'Or point HACP_KUBE_BIN_DIR at a folder holding kube-apiserver, kube-controller-manager and kube-scheduler of that version.',
  ];
}

/** ABORTED for a caller's signal; nothing was kept. */
export function abortedError(signal: AbortSignal, what: string): HacpError {
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `${what} was aborted; nothing was kept in the cache.`,
    actions: ['Run the command again to start over.'],
    cause: signal.reason,
  });
}

/** The error to throw for `error` when `signal` may have caused it: ABORTED then, else `error` as is. */
export function whenAborted(error: unknown, signal: AbortSignal | undefined, what: string): unknown {
  if (signal?.aborted && !isHacpError(error, ErrorCode.ABORTED)) return abortedError(signal, what);
  return error;
}
