/**
 * The clocks of a learner's promotion. A new replica's etcd answers only once its machine has booted
 * and started it (on a cloud: the instance insert, the boot, the disk's mkfs, the image pulls), so
 * until its first sign of life only the generous start bound runs (Cluster API's node-startup
 * timeout); from then on, the stall bound runs from its last progress and the catch-up bound from
 * that first sign.
 */

/** What one look at the learner showed. */
export interface LearnerObservation {
  /**
   * Its process has reached the cluster: it published its name (the member list has it with client
   * URLs), it answered, the leader has an active peer connection to it or streams it a snapshot.
   */
  alive: boolean;
  /** It made progress since the last look: its applied index grew, or a snapshot is on its way. */
  progressed: boolean;
}

/** Where the learner stands after a look. */
export type LearnerVerdict =
  | { state: 'waiting' }
  /** No sign of life within `memberStartTimeoutMs` of the clock's start. */
  | { state: 'not-started'; waitedMs: number }
  /** Alive once, then no progress for `stallAfterMs`. */
  | { state: 'stalled'; stalledMs: number }
  /** Alive and progressing, still not promotable `timeoutMs` after its first sign of life. */
  | { state: 'timed-out'; catchingUpMs: number };

/** The bounds, in ms, and the clock to read (tests pass their own). */
export interface LearnerClockSettings {
  memberStartTimeoutMs: number;
  stallAfterMs: number;
  timeoutMs: number;
  now?: () => number;
}

/** A learner's clocks: one `observe` per look; the verdict says whether to keep waiting. */
export interface LearnerClock {
  observe(observation: LearnerObservation): LearnerVerdict;
  /** When the first sign of life was seen; undefined before. */
  aliveSince(): number | undefined;
}

/**
 * Starts a learner's clocks now.
 *
 * @example
 * const clock = learnerClock({ memberStartTimeoutMs: 600_000, stallAfterMs: 60_000, timeoutMs: 300_000 });
 * const verdict = clock.observe({ alive: member.started, progressed: false });
 * if (verdict.state === 'not-started') ... // evict: it never started
 */
export function learnerClock(settings: LearnerClockSettings): LearnerClock {
  const now = settings.now ?? Date.now;
  const startedAt = now();
  let aliveAt: number | undefined;
  let lastProgressAt = startedAt;
  return {
    observe({ alive, progressed }) {
      const at = now();
      if (aliveAt === undefined && (alive || progressed)) {
        aliveAt = at;
        lastProgressAt = at;
      }
      if (aliveAt === undefined) {
        const waitedMs = at - startedAt;
        return waitedMs >= settings.memberStartTimeoutMs
          ? { state: 'not-started', waitedMs }
          : { state: 'waiting' };
      }
      if (progressed) lastProgressAt = at;
      const stalledMs = at - lastProgressAt;
      if (stalledMs >= settings.stallAfterMs) return { state: 'stalled', stalledMs };
      const catchingUpMs = at - aliveAt;
      if (catchingUpMs >= settings.timeoutMs) return { state: 'timed-out', catchingUpMs };
      return { state: 'waiting' };
    },
    aliveSince: () => aliveAt,
  };
}
