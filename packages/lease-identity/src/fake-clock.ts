/**
 * A clock that moves only when a test says so (test support, not exported from the package). Timers
 * fire in time order; after each one every promise chain it started is run to completion, so a test
 * sees the state a real event loop would reach before the next timer.
 */
import type { Clock, ClockTimer } from './clock.js';

interface PendingTimer {
  at: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

/** Lets every queued promise continuation run: setImmediate comes after the whole microtask queue. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The time source of a simulated world. */
export class FakeClock implements Clock {
  private time = 0;
  private sequence = 0;
  private timers: PendingTimer[] = [];
  /** Called after every timer (and its consequences), with the time: where invariants are checked. */
  onStep: ((time: number) => void) | undefined;

  constructor(private readonly wallOrigin = Date.UTC(2026, 10, 23, 12, 0, 0)) {}

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wallOrigin + this.time;
  }

  setTimer(callback: () => void, ms: number): ClockTimer {
    const timer: PendingTimer = {
      at: this.time + Math.max(0, ms),
      sequence: this.sequence++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers not yet fired nor cancelled. */
  pendingTimers(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }

  private next(): PendingTimer | undefined {
    this.timers = this.timers.filter((timer) => !timer.cancelled);
    let first: PendingTimer | undefined;
    for (const timer of this.timers) {
      if (!first || timer.at < first.at || (timer.at === first.at && timer.sequence < first.sequence)) {
        first = timer;
      }
    }
    return first;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, each followed by a settle. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.time + ms);
  }

  /** Moves time to `until`, firing every timer due by then in order. */
  async advanceTo(until: number): Promise<void> {
    await settle();
    for (;;) {
      const timer = this.next();
      if (!timer || timer.at > until) break;
      this.time = Math.max(this.time, timer.at);
      timer.cancelled = true;
      timer.callback();
      await settle();
      this.onStep?.(this.time);
    }
    this.time = Math.max(this.time, until);
    await settle();
    this.onStep?.(this.time);
  }

  /** Advances until `promise` settles (at most `limitMs`), then returns or throws what it did. */
  async run<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    tracked.catch(() => undefined);
    if (!(await this.advanceUntil(() => settled, limitMs))) {
      throw new Error(`the promise did not settle within ${limitMs} ms of fake time`);
    }
    return tracked;
  }

  /** Advances until `condition` holds (checked after every timer) or `limitMs` passes; returns whether it held. */
  async advanceUntil(condition: () => boolean, limitMs: number): Promise<boolean> {
    const until = this.time + limitMs;
    await settle();
    if (condition()) return true;
    for (;;) {
      const timer = this.next();
      if (!timer || timer.at > until) break;
      this.time = Math.max(this.time, timer.at);
      timer.cancelled = true;
      timer.callback();
      await settle();
      this.onStep?.(this.time);
      if (condition()) return true;
    }
    this.time = Math.max(this.time, until);
    return condition();
  }
}

/**
 * One process's view of a FakeClock whose rate differs by `rate` (1.1: its clock runs 10% fast):
 * how the property test models clock skew rate, which leader election must tolerate up to
 * leaseDuration / renewDeadline.
 */
export function skewedClock(base: FakeClock, rate: number, wallOffsetMs = 0): Clock {
  return {
    now: () => base.now() * rate,
    wallNow: () => base.wallNow() + wallOffsetMs + base.now() * (rate - 1),
    setTimer: (callback, ms) => base.setTimer(callback, Math.ceil(ms / rate)),
  };
}
