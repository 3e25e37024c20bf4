import { describe, expect, it } from 'vitest';
import { learnerClock } from './learner-clock.js';

/** A clock whose time only moves when the test says so. */
function manualTime() {
  let at = 1_000_000;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

const MINUTE = 60_000;
const bounds = { memberStartTimeoutMs: 10 * MINUTE, stallAfterMs: MINUTE, timeoutMs: 5 * MINUTE };
const silent = { alive: false, progressed: false };

describe('learnerClock', () => {
  it('keeps waiting for a learner that takes longer than the stall bound to start, then counts from its start', () => {
    const time = manualTime();
    const clock = learnerClock({ ...bounds, now: time.now });
    // Four minutes of boot: four stall bounds without a sign of life.
    for (let minute = 1; minute <= 4; minute++) {
      time.advance(MINUTE);
      expect(clock.observe(silent)).toEqual({ state: 'waiting' });
    }
    expect(clock.aliveSince()).toBeUndefined();
    time.advance(1000);
    expect(clock.observe({ alive: true, progressed: false })).toEqual({ state: 'waiting' });
    expect(clock.aliveSince()).toBe(time.now());
    // Progress keeps it going past a stall bound from its start.
    time.advance(MINUTE - 1);
    expect(clock.observe({ alive: true, progressed: true })).toEqual({ state: 'waiting' });
    time.advance(MINUTE - 1);
    expect(clock.observe({ alive: true, progressed: false })).toEqual({ state: 'waiting' });
  });

  it('says not-started for a learner with no sign of life at the start bound, and not before', () => {
    const time = manualTime();
    const clock = learnerClock({ ...bounds, now: time.now });
    time.advance(10 * MINUTE - 1);
    expect(clock.observe(silent)).toEqual({ state: 'waiting' });
    time.advance(1);
    expect(clock.observe(silent)).toEqual({ state: 'not-started', waitedMs: 10 * MINUTE });
  });

  it('says stalled for a learner that started and then made no progress for the stall bound', () => {
    const time = manualTime();
    const clock = learnerClock({ ...bounds, now: time.now });
    time.advance(3 * MINUTE);
    expect(clock.observe({ alive: true, progressed: true })).toEqual({ state: 'waiting' });
    time.advance(MINUTE - 1);
    expect(clock.observe({ alive: false, progressed: false })).toEqual({ state: 'waiting' });
    time.advance(1);
    expect(clock.observe({ alive: false, progressed: false })).toEqual({
      state: 'stalled',
      stalledMs: MINUTE,
    });
  });

  it('counts a snapshot on its way as a sign of life and progress', () => {
    const time = manualTime();
    const clock = learnerClock({ ...bounds, now: time.now });
    time.advance(9 * MINUTE);
    expect(clock.observe({ alive: false, progressed: true })).toEqual({ state: 'waiting' });
    time.advance(2 * MINUTE);
    expect(clock.observe({ alive: true, progressed: true })).toEqual({ state: 'waiting' });
  });

  it('says timed-out for a learner still progressing the catch-up bound after its first sign of life', () => {
    const time = manualTime();
    const clock = learnerClock({ ...bounds, now: time.now });
    time.advance(8 * MINUTE);
    clock.observe({ alive: true, progressed: true });
    for (let minute = 1; minute < 5; minute++) {
      time.advance(MINUTE / 2);
      expect(clock.observe({ alive: true, progressed: true })).toEqual({ state: 'waiting' });
      time.advance(MINUTE / 2);
      expect(clock.observe({ alive: true, progressed: true })).toEqual({ state: 'waiting' });
    }
    time.advance(MINUTE);
    expect(clock.observe({ alive: true, progressed: true })).toEqual({
      state: 'timed-out',
      catchingUpMs: 5 * MINUTE,
    });
  });
});
