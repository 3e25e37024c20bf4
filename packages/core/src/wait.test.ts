import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HacpError, isHacpError } from './errors.js';
import { backoffDelay, type WaitCheckResult, waitUntil } from './wait.js';

/** Runs `promise` and returns what it threw, failing the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

const notYet = (reason?: string): WaitCheckResult<never> => ({ done: false, reason });

describe('waitUntil', () => {
  it('returns the value the check gives when done', async () => {
    const attempts: number[] = [];

    const value = await waitUntil({
      description: 'etcd to elect a leader',
      timeoutMs: 1000,
      check: (attempt) => {
        attempts.push(attempt);
        return { done: true, value: 'etcd-1' };
      },
    });

    expect(value).toBe('etcd-1');
    expect(attempts).toEqual([0]);
  });

  it('retries "not done" results and retryable HacpErrors until done', async () => {
    const attempts: number[] = [];

    const value = await waitUntil({
      description: 'the member to answer',
      timeoutMs: 2000,
      minDelayMs: 1,
      maxDelayMs: 5,
      check: async (attempt) => {
        attempts.push(attempt);
        if (attempt === 0) throw new HacpError({ code: 'UNAVAILABLE', message: 'connection refused' });
        if (attempt === 1) return notYet('starting');
        if (attempt === 2) throw new HacpError({ code: 'CONFLICT', message: 'lost the race' });
        return { done: true, value: 42 };
      },
    });

    expect(value).toBe(42);
    expect(attempts).toEqual([0, 1, 2, 3]);
  });

  it('rethrows a non-retryable HacpError at once', async () => {
    const thrown = new HacpError({ code: 'QUORUM_AT_RISK', message: 'two voters down' });
    let calls = 0;

    const error = await rejection(
      waitUntil({
        description: 'x',
        timeoutMs: 1000,
        minDelayMs: 1,
        check: () => {
          calls++;
          throw thrown;
        },
      }),
    );

    expect(error).toBe(thrown);
    expect(calls).toBe(1);
  });

  it('rethrows a retryable HacpError marked not retryable, and a plain Error, at once', async () => {
    for (const thrown of [
      new HacpError({ code: 'UNAVAILABLE', message: 'gone for good', retryable: false }),
      new TypeError('bug'),
    ]) {
      let calls = 0;
      const error = await rejection(
        waitUntil({
          description: 'x',
          timeoutMs: 1000,
          minDelayMs: 1,
          check: () => {
            calls++;
            throw thrown;
          },
        }),
      );
      expect(error).toBe(thrown);
      expect(calls).toBe(1);
    }
  });

  it('retries what retryOn accepts', async () => {
    let calls = 0;

    const value = await waitUntil({
      description: 'x',
      timeoutMs: 1000,
      minDelayMs: 1,
      maxDelayMs: 2,
      retryOn: (error) => error instanceof Error && error.message === 'ECONNRESET',
      check: () => {
        calls++;
        if (calls < 3) throw new Error('ECONNRESET');
        return { done: true, value: 'ok' };
      },
    });

    expect(value).toBe('ok');
    expect(calls).toBe(3);
  });

  it('throws TIMEOUT naming what it waited for and the last reason, after about timeoutMs', async () => {
    let calls = 0;
    const started = Date.now();

    const error = await rejection(
      waitUntil({
        description: 'etcd member etcd-2 to join',
        timeoutMs: 150,
        minDelayMs: 5,
        maxDelayMs: 20,
        check: () => {
          calls++;
          return notYet(`attempt ${calls}: still a learner`);
        },
      }),
    );
    const elapsed = Date.now() - started;

    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    const timeout = error as HacpError;
    expect(timeout.message).toContain('etcd member etcd-2 to join');
    expect(timeout.message).toContain(`attempt ${calls}: still a learner`);
    expect(timeout.details).toMatchObject({
      waitingFor: 'etcd member etcd-2 to join',
      timeoutMs: 150,
      attempts: calls,
      lastReason: `attempt ${calls}: still a learner`,
    });
    expect(timeout.retryable).toBe(true);
    expect(calls).toBeGreaterThan(2);
    expect(elapsed).toBeGreaterThanOrEqual(145);
    expect(elapsed).toBeLessThan(600);
  });

  it('keeps the last retryable error as the cause of TIMEOUT', async () => {
    const last = new HacpError({ code: 'UNAVAILABLE', message: 'connection refused' });

    const error = await rejection(
      waitUntil({
        description: 'the API',
        timeoutMs: 30,
        minDelayMs: 5,
        check: () => {
          throw last;
        },
      }),
    );

    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    expect((error as HacpError).cause).toBe(last);
    expect((error as HacpError).message).toContain('connection refused');
  });

  it('checks once and times out when timeoutMs is 0', async () => {
    let calls = 0;

    const error = await rejection(
      waitUntil({
        description: 'x',
        timeoutMs: 0,
        check: () => {
          calls++;
          return notYet();
        },
      }),
    );

    expect(isHacpError(error, 'TIMEOUT')).toBe(true);
    expect(calls).toBe(1);
  });

  it('throws ABORTED promptly when the signal aborts during a long sleep', async () => {
    const controller = new AbortController();
    let calls = 0;
    setTimeout(() => controller.abort(new Error('Ctrl-C')), 30);
    const started = Date.now();

    const error = await rejection(
      waitUntil({
        description: 'the load balancer to be healthy',
        timeoutMs: 60_000,
        minDelayMs: 10_000,
        maxDelayMs: 10_000,
        signal: controller.signal,
        check: () => {
          calls++;
          return notYet();
        },
      }),
    );

    expect(isHacpError(error, 'ABORTED')).toBe(true);
    expect((error as HacpError).message).toContain('the load balancer to be healthy');
    expect((error as HacpError).cause).toBe(controller.signal.reason);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(calls).toBe(1);
  });

  it('throws ABORTED without checking when the signal is already aborted', async () => {
    let calls = 0;

    const error = await rejection(
      waitUntil({
        description: 'x',
        timeoutMs: 1000,
        signal: AbortSignal.abort(),
        check: () => {
          calls++;
          return { done: true, value: 1 };
        },
      }),
    );

    expect(isHacpError(error, 'ABORTED')).toBe(true);
    expect(calls).toBe(0);
  });

  it('throws ABORTED when the check fails because the signal aborted', async () => {
    const controller = new AbortController();

    const error = await rejection(
      waitUntil({
        description: 'etcd to answer',
        timeoutMs: 5000,
        signal: controller.signal,
        check: () =>
          new Promise<WaitCheckResult<string>>((_resolve, reject) => {
            // What a client that honours the signal does: reject with the abort reason.
            controller.signal.addEventListener('abort', () => reject(controller.signal.reason));
            controller.abort();
          }),
      }),
    );

    expect(isHacpError(error, 'ABORTED')).toBe(true);
  });

  it.each([
    [{ timeoutMs: -1 }, 'timeoutMs'],
    [{ timeoutMs: Number.NaN }, 'timeoutMs'],
    [{ timeoutMs: 100, minDelayMs: 0 }, 'minDelayMs'],
    [{ timeoutMs: 100, minDelayMs: 50, maxDelayMs: 10 }, 'minDelayMs'],
  ])('rejects bad options %o with INVALID_ARGUMENT', async (options, field) => {
    let calls = 0;

    const error = await rejection(
      waitUntil({
        description: 'x',
        ...options,
        check: () => {
          calls++;
          return { done: true, value: 1 };
        },
      }),
    );

    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as HacpError).details.field).toBe(field);
    expect(calls).toBe(0);
  });
});

describe('backoffDelay', () => {
  const delayOptions = fc.record({
    attempt: fc.integer({ min: 0, max: 100 }),
    minDelayMs: fc.integer({ min: 1, max: 10_000 }),
    extraMs: fc.integer({ min: 0, max: 1_000_000 }),
  });

  it('is always between minDelayMs and min(maxDelayMs, minDelayMs * 2^attempt)', () => {
    fc.assert(
      fc.property(
        delayOptions,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        ({ attempt, minDelayMs, extraMs }, r) => {
          const maxDelayMs = minDelayMs + extraMs;
          const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);

          const delay = backoffDelay({ attempt, minDelayMs, maxDelayMs, random: () => r });

          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(minDelayMs);
          expect(delay).toBeLessThanOrEqual(ceiling);
        },
      ),
    );
  });

  it('is the ceiling when random() gives 1, and minDelayMs when it gives 0', () => {
    fc.assert(
      fc.property(delayOptions, ({ attempt, minDelayMs, extraMs }) => {
        const maxDelayMs = minDelayMs + extraMs;
        const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);

        expect(backoffDelay({ attempt, minDelayMs, maxDelayMs, random: () => 1 })).toBe(ceiling);
        expect(backoffDelay({ attempt, minDelayMs, maxDelayMs, random: () => 0 })).toBe(minDelayMs);
      }),
    );
  });

  it('doubles up to the cap', () => {
    const ceilings = [0, 1, 2, 3, 4, 5].map((attempt) =>
      backoffDelay({ attempt, minDelayMs: 100, maxDelayMs: 1000, random: () => 1 }),
    );

    expect(ceilings).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});
