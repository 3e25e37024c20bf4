import { describe, expect, it } from 'vitest';
import { RestartBackOff } from './back-off.js';

describe('RestartBackOff', () => {
  it('restarts at once the first time, then waits base, doubling, up to the cap', () => {
    const backOff = new RestartBackOff(10, 300);
    const delays: number[] = [];
    let now = 1000;
    for (let i = 0; i < 8; i++) {
      const delay = backOff.delayAfter(now, now);
      delays.push(delay);
      now += delay + 1; // the container crashes 1 ms after each start
    }
    expect(delays).toEqual([0, 10, 20, 40, 80, 160, 300, 300]);
  });

  it('counts the wait from when the container finished', () => {
    const backOff = new RestartBackOff(10, 300);
    backOff.delayAfter(0, 0);
    expect(backOff.delayAfter(100, 104)).toBe(6);
  });

  it('starts over after a container ran for more than twice the cap', () => {
    const backOff = new RestartBackOff(10, 300);
    backOff.delayAfter(0, 0);
    backOff.delayAfter(1, 1);
    expect(backOff.delayAfter(2000, 2000)).toBe(0);
    expect(backOff.delayAfter(2001, 2001)).toBe(10);
  });

  it('spaces retries after a failed pull: base, doubling, capped', () => {
    const backOff = new RestartBackOff(10, 30);
    expect([1, 2, 3, 4].map(() => backOff.nextRetry())).toEqual([10, 20, 30, 30]);
  });
});
