import { ErrorCode, HacpError, invalidArgument, isHacpError } from './errors.js';

/** What a check says: done with a value, or not yet (and why, for the timeout message). */
export type WaitCheckResult<T> = { done: true; value: T } | { done: false; reason?: string };

export interface WaitUntilOptions<T> {
  /** What is being waited for, as a noun phrase: "etcd member etcd-1 to answer". */
  description: string;
  /** Polled until it says done. A thrown retryable HacpError counts as "not yet"; others stop the wait. */
  check: (attempt: number) => Promise<WaitCheckResult<T>> | WaitCheckResult<T>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Smallest delay between checks. Default 100 ms. */
  minDelayMs?: number;
  /** Largest delay between checks. Default 5000 ms. */
  maxDelayMs?: number;
  /** Which thrown errors mean "not yet". Default: retryable HacpErrors. */
  retryOn?: (error: unknown) => boolean;
  /** Source of randomness for jitter (tests make it deterministic). */
  random?: () => number;
}

/**
 * The delay before attempt `attempt` (0-based): a random value between `minDelayMs` and
 * `min(maxDelayMs, minDelayMs * 2^attempt)` (capped exponential backoff with jitter, as the AWS
 * SDK's waiters do).
 */
export function backoffDelay(options: {
  attempt: number;
  minDelayMs: number;
  maxDelayMs: number;
  random?: () => number;
}): number {
  const { attempt, minDelayMs, maxDelayMs } = options;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(minDelayMs + random() * (ceiling - minDelayMs));
}

function abortedError(signal: AbortSignal, description: string): HacpError {
  return new HacpError({
    code: ErrorCode.ABORTED,
    message: `Stopped waiting for ${description}: the operation was aborted.`,
    actions: ['Run the same command again, or `hacp resume`, to continue.'],
    details: { waitingFor: description },
    cause: signal.reason,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `check` until it says done, with capped exponential backoff and jitter between attempts.
 *
 * @returns the value the check returned when done.
 * @throws HacpError TIMEOUT naming what it waited for and the last reason when `timeoutMs` passes;
 *   ABORTED when `signal` aborts; any non-retryable error the check throws.
 * @example
 * const leader = await waitUntil({
 *   description: 'etcd to elect a leader',
 *   timeoutMs: 30_000,
 *   signal,
 *   check: async () => {
 *     const id = await leaderId();
 *     return id ? { done: true, value: id } : { done: false, reason: 'no leader yet' };
 *   },
 * });
 */
export async function waitUntil<T>(options: WaitUntilOptions<T>): Promise<T> {
  const { description, check, timeoutMs, signal } = options;
  const minDelayMs = options.minDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  if (!(timeoutMs >= 0))
    throw invalidArgument({ field: 'timeoutMs', message: 'timeoutMs must be 0 or more.' });
  if (!(minDelayMs > 0) || !(maxDelayMs >= minDelayMs)) {
    throw invalidArgument({
      field: 'minDelayMs',
      message: `Delays must satisfy 0 < minDelayMs <= maxDelayMs (got ${minDelayMs} and ${maxDelayMs}).`,
    });
  }
  const retryOn = options.retryOn ?? ((error: unknown) => isHacpError(error) && error.retryable);
  const deadline = Date.now() + timeoutMs;
  let lastReason: string | undefined;
  let lastError: unknown;

  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortedError(signal, description);
    try {
      const result = await check(attempt);
      if (result.done) return result.value;
      lastReason = result.reason;
    } catch (error) {
      // A check that honours the signal rejects with its reason; report that as ABORTED, as documented.
      if (signal?.aborted) throw abortedError(signal, description);
      if (!retryOn(error)) throw error;
      lastError = error;
      lastReason = error instanceof Error ? error.message : String(error);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new HacpError({
        code: ErrorCode.TIMEOUT,
        message: `Timed out after ${timeoutMs} ms waiting for ${description}${lastReason ? ` (last: ${lastReason})` : ''}.`,
        actions: ['Check the component named above, then run the command again.'],
        details: {
          waitingFor: description,
          timeoutMs,
          attempts: attempt + 1,
          ...(lastReason ? { lastReason } : {}),
        },
        cause: lastError,
      });
    }
    const delay = Math.min(
      remaining,
      backoffDelay({ attempt, minDelayMs, maxDelayMs, random: options.random }),
    );
    try {
      await sleep(delay, signal);
    } catch {
      throw abortedError(signal as AbortSignal, description);
    }
  }
}
