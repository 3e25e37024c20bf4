import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { sleep } from './sleep.js';
import { failureOf } from './test-support.js';

describe('sleep', () => {
  it('resolves after the time given', async () => {
    const started = performance.now();
    await sleep(60);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('is ABORTED at once for a signal aborted already', async () => {
    const started = performance.now();
    const error = await failureOf(sleep(60_000, AbortSignal.abort('stop')));
    expect(error.code).toBe(ErrorCode.ABORTED);
    expect(error.cause).toBe('stop');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('is ABORTED as soon as the signal aborts while it waits', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const waiting = failureOf(sleep(60_000, controller.signal));
    setTimeout(() => controller.abort(), 20);
    expect((await waiting).code).toBe(ErrorCode.ABORTED);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
