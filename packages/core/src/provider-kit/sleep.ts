import { ErrorCode, HacpError } from '../errors.js';

/**
 * Resolves after `ms` milliseconds; rejects with ABORTED as soon as `signal` aborts (at once when
 * it is aborted already), and then leaves no timer behind.
 *
 * @example
 * await sleep(250, AbortSignal.timeout(10_000));
 * @throws HacpError ABORTED when `signal` aborts first.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () =>
      new HacpError({
        code: ErrorCode.ABORTED,
        message: 'Stopped waiting: the operation was aborted.',
        actions: ['Run the same command again to continue.'],
        cause: signal?.reason,
      });
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
