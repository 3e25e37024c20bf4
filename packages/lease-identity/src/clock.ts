/**
 * Time, behind an interface so that the heartbeat, the GC and the elector run unchanged on a clock a
 * test controls. Deadlines use the monotonic `now()`; only timestamps written into leases, and
 * compared with other hosts' ones, use the wall clock.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import { V1MicroTime } from '@kubernetes/client-node';

/** A pending timer; `cancel()` is idempotent. */
export interface ClockTimer {
  cancel(): void;
}

/** Where the lease code gets time from. */
export interface Clock {
  /** Monotonic milliseconds: what deadlines and "how long ago" are measured in. */
  now(): number;
  /** Milliseconds since the epoch: what `renewTime` and `acquireTime` are written from. */
  wallNow(): number;
  /** Calls `callback` once after `ms`. Real timers are unref'd: a lease loop never keeps a process alive. */
  setTimer(callback: () => void, ms: number): ClockTimer;
}

/** The process's clocks: `performance.now()`, `Date.now()`, unref'd `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(callback: () => void, ms: number): ClockTimer {
    const timer = setTimeout(callback, Math.max(0, ms));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
});

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `call` with a signal that aborts when `parent` aborts or `timeoutMs` passes on `clock`,
 * whichever is first; the timer is cancelled when the call settles, so none is left behind.
 * A timeout aborts with HacpError UNAVAILABLE (retryable), naming `what`.
 */
export async function withTimeout<T>(options: {
  clock: Clock;
  timeoutMs: number;
  parent?: AbortSignal;
  what: string;
  call: (signal: AbortSignal) => Promise<T>;
}): Promise<T> {
  const { clock, timeoutMs, parent, what, call } = options;
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  const timer = clock.setTimer(
    () =>
      controller.abort(
        new HacpError({
          code: ErrorCode.UNAVAILABLE,
          message: `The Kubernetes API did not answer ${what} within ${Math.round(timeoutMs)} ms.`,
          actions: ['Check that the API server is reachable and not overloaded.'],
          details: { timeoutMs: Math.round(timeoutMs) },
          retryable: true,
        }),
      ),
    timeoutMs,
  );
  try {
    return await call(controller.signal);
  } finally {
    timer.cancel();
    parent?.removeEventListener('abort', onParentAbort);
  }
}

/**
 * A MicroTime for `epochMs`: client-node serialises `V1MicroTime` with six fractional digits
 * (`…T19:04:28.205000Z`), the only form the Go apiserver's MicroTime parser accepts; a plain Date
 * would go out with three.
 */
export function microTime(epochMs: number): V1MicroTime {
  return new V1MicroTime(epochMs);
}

/** Epoch ms of a MicroTime as read back (client-node leaves it a string) or as written (a Date). */
export function parseMicroTime(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
