import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { V1Lease } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLeaderElector, type LeaderElector } from './elector.js';
import {
  eventually,
  interceptedApi,
  partitionableApi,
  TARGETS,
  type TargetEnv,
  timedApi,
} from './integ-target.js';
import type { LeaseClient } from './lease-store.js';

// Short real durations that keep client-go's proportions (lease > renew deadline > 1.2 × retry).
const TIMINGS = { leaseDurationMs: 2_000, renewDeadlineMs: 1_200, retryPeriodMs: 200 } as const;
// What a loaded two-core machine may add on top of a bound: scheduling, TLS handshakes, GC pauses;
// the API's own latency comes on top (see `bound` below).
const MARGIN_MS = 400;
// How long a test waits for what a bound promises before it looks at the measured time.
const PATIENCE_MS = 30_000;
const SIX_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** Leadership terms as the callbacks reported them, on one clock, to check that none overlap. */
class Terms {
  readonly terms: { identity: string; from: number; to: number | undefined; reason?: string }[] = [];

  callbacks(identity: string) {
    return {
      onStartedLeading: () => {
        this.terms.push({ identity, from: performance.now(), to: undefined });
      },
      onStoppedLeading: ({ reason }: { reason: string }) => {
        const open = this.terms.findLast((term) => term.identity === identity && term.to === undefined);
        if (open) Object.assign(open, { to: performance.now(), reason });
      },
    };
  }

  leaders(): string[] {
    return this.terms.filter((term) => term.to === undefined).map((term) => term.identity);
  }

  /** Pairs of terms of different candidates that overlap in time: must always be empty. */
  overlaps(): string[] {
    const found: string[] = [];
    for (const [i, a] of this.terms.entries()) {
      for (const b of this.terms.slice(i + 1)) {
        if (a.identity === b.identity) continue;
        if (a.from < (b.to ?? Number.POSITIVE_INFINITY) && b.from < (a.to ?? Number.POSITIVE_INFINITY)) {
          found.push(`${a.identity} [${a.from}, ${a.to}] overlaps ${b.identity} [${b.from}, ${b.to}]`);
        }
      }
    }
    return found;
  }
}

for (const target of TARGETS) {
  describe.skipIf(target.skip)(`leader election ${target.title}`, () => {
    let env: TargetEnv;
    let electors: LeaderElector[] = [];
    /** The candidates' API, timed: a bound is `ms`, the margin and two of the slowest round trips. */
    let latency: ReturnType<typeof timedApi>;
    /** Each candidate's own calls, timed (through `latency`, so that it sees them too). */
    let callsOf: Map<string, ReturnType<typeof timedApi>>;
    /** How late this process ran its timers at worst: a busy machine's share of any bound. */
    let lag: ReturnType<typeof monitorEventLoopDelay>;
    const lagMs = () => lag.max / 1e6;
    const bound = (ms: number) => ms + MARGIN_MS + lagMs() + 2 * latency.slowestMs();

    beforeAll(async () => {
      env = await target.start();
    });
    afterAll(async () => {
      await env?.stop();
    });
    beforeEach(() => {
      latency = timedApi(env.api());
      callsOf = new Map();
      lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
    });
    afterEach(async () => {
      lag.disable();
      await Promise.all(electors.map((elector) => elector.stop()));
      electors = [];
    });

    async function start(options: {
      terms: Terms;
      name: string;
      identity: string;
      client?: LeaseClient;
      releaseOnCancel?: boolean;
    }) {
      const own = timedApi(latency.api);
      callsOf.set(options.identity, own);
      const elector = await createLeaderElector({
        client: options.client ?? own.api,
        name: options.name,
        namespace: env.namespace,
        identity: options.identity,
        ...TIMINGS,
        releaseOnCancel: options.releaseOnCancel ?? false,
        ...options.terms.callbacks(options.identity),
      });
      electors.push(elector);
      return elector;
    }

    it('elects exactly one of five candidates, and writes a client-go record with six-digit MicroTimes', async () => {
      const terms = new Terms();
      const name = env.unique('election');
      const startedAt = performance.now();
      await Promise.all(['a', 'b', 'c', 'd', 'e'].map((identity) => start({ terms, name, identity })));
      expect(await eventually(() => terms.leaders().length === 1, PATIENCE_MS)).toBe(true);
      // The winner waits at most a jittered retry period (client-go's 1.2) beyond its own calls and
      // the time this process could not run.
      const first = terms.terms[0];
      const ownCalls = callsOf.get(first?.identity ?? '')?.busyMsBefore(first?.from ?? 0) ?? 0;
      expect((first?.from ?? Number.NaN) - startedAt).toBeLessThanOrEqual(
        1.2 * TIMINGS.retryPeriodMs + MARGIN_MS + lagMs() + ownCalls,
      );
      await eventually(() => false, 1_000);

      expect(terms.overlaps()).toEqual([]);
      if (terms.leaders().length === 0) {
        // The leader's renewals all took longer than its renew deadline (a real apiserver beside a
        // CPU-heavy job can): it must step down then, as client-go's does, and a new term follows.
        // Nothing else may end a term here (checked below).
        expect(await eventually(() => terms.leaders().length === 1, PATIENCE_MS)).toBe(true);
        await eventually(() => false, 1_000);
      }
      expect(terms.terms.filter((term) => term.to !== undefined).map((term) => term.reason)).toEqual(
        terms.terms.filter((term) => term.to !== undefined).map(() => 'renew-deadline'),
      );
      expect(terms.leaders()).toHaveLength(1);
      expect(electors.filter((elector) => elector.isLeader()).map((elector) => elector.identity)).toEqual(
        terms.leaders(),
      );
      const lease: V1Lease = await env.api().readNamespacedLease({ name, namespace: env.namespace });
      expect(lease.spec?.holderIdentity).toBe(terms.leaders()[0]);
      expect(lease.spec?.leaseDurationSeconds).toBe(2);
      // client-go counts a transition each time the holder changes.
      const holderChanges = terms.terms.filter(
        (term, i) => i > 0 && term.identity !== terms.terms[i - 1]?.identity,
      ).length;
      expect(lease.spec?.leaseTransitions).toBe(holderChanges);
      expect(String(lease.spec?.acquireTime)).toMatch(SIX_DIGITS);
      expect(String(lease.spec?.renewTime)).toMatch(SIX_DIGITS);
      expect(Date.parse(String(lease.spec?.renewTime))).toBeGreaterThan(
        Date.parse(String(lease.spec?.acquireTime)),
      );
      for (const elector of electors) expect(elector.leader()).toBe(terms.leaders()[0]);
    });

    it('hands leadership to another within leaseDuration + retryPeriod after the leader is killed', async () => {
      const terms = new Terms();
      const name = env.unique('killed');
      const leader = await start({ terms, name, identity: 'first' });
      await Promise.all(['b', 'c', 'd'].map((identity) => start({ terms, name, identity })));
      expect(leader.isLeader()).toBe(true);
      await eventually(() => false, 700);

      // A killed process writes nothing more: stop without release, and never count its own "stopped".
      const killedAt = performance.now();
      electors = electors.filter((elector) => elector !== leader);
      void leader.stop({ release: false });
      const next = await eventually(() => terms.terms.some((term) => term.identity !== 'first'), PATIENCE_MS);
      expect(next).toBe(true);
      const takeover = (terms.terms.find((term) => term.identity !== 'first')?.from ?? Number.NaN) - killedAt;
      // Followers wait out the lease from their last sight of a renewal (at most one retry period old).
      expect(takeover).toBeGreaterThanOrEqual(TIMINGS.leaseDurationMs - TIMINGS.retryPeriodMs - 50);
      expect(takeover).toBeLessThanOrEqual(bound(TIMINGS.leaseDurationMs + TIMINGS.retryPeriodMs));
      expect(terms.overlaps()).toEqual([]);
      const lease = await env.api().readNamespacedLease({ name, namespace: env.namespace });
      expect(lease.spec?.leaseTransitions).toBe(1);
      expect(lease.spec?.holderIdentity).not.toBe('first');
    });

    it('hands leadership over within one retry period when the leader releases it', async () => {
      const terms = new Terms();
      const name = env.unique('released');
      const leader = await start({ terms, name, identity: 'first', releaseOnCancel: true });
      await Promise.all(['b', 'c'].map((identity) => start({ terms, name, identity })));
      await eventually(() => false, 500);

      const stoppedAt = performance.now();
      electors = electors.filter((elector) => elector !== leader);
      await leader.stop();
      expect(terms.terms[0]).toMatchObject({ identity: 'first', reason: 'stopped' });
      expect(await eventually(() => terms.leaders().length === 1, PATIENCE_MS)).toBe(true);
      const takeover = (terms.terms[1]?.from ?? Number.NaN) - stoppedAt;
      expect(takeover).toBeLessThanOrEqual(bound(TIMINGS.retryPeriodMs));
      expect(terms.overlaps()).toEqual([]);
    });

    it('makes a leader cut off from the API stop leading before anyone else starts', async () => {
      const terms = new Terms();
      const name = env.unique('partitioned');
      const link = partitionableApi(env.api());
      const leader = await start({ terms, name, identity: 'cut-off', client: link.api });
      await Promise.all(['b', 'c'].map((identity) => start({ terms, name, identity })));
      await eventually(() => false, 500);

      const cutAt = performance.now();
      link.cut();
      expect(
        await eventually(() => terms.leaders().some((identity) => identity !== 'cut-off'), PATIENCE_MS),
      ).toBe(true);
      const [first, second] = terms.terms;
      expect(first).toMatchObject({ identity: 'cut-off', reason: 'renew-deadline' });
      expect((first?.to ?? Number.NaN) - cutAt).toBeLessThanOrEqual(bound(TIMINGS.renewDeadlineMs));
      expect(first?.to).toBeLessThan(second?.from ?? Number.NaN);
      expect(leader.isLeader()).toBe(false);
      expect(terms.overlaps()).toEqual([]);

      // Healed, it follows the new leader instead of fighting for the lease.
      link.heal();
      await eventually(() => false, 1_000);
      expect(leader.isLeader()).toBe(false);
      expect(leader.leader()).toBe(second?.identity);
    });

    it('does not let a renewal that is only answered after the deadline extend leadership', async () => {
      const terms = new Terms();
      const name = env.unique('slow');
      let slow = false;
      // Renewals land, but their answers come back 1.5 s later: past the 1.2 s renew deadline.
      const api = latency.api;
      const lagging = interceptedApi(api, () => undefined);
      const delayed = {
        ...lagging,
        replaceNamespacedLease: async (...args: Parameters<typeof api.replaceNamespacedLease>) => {
          const result = await api.replaceNamespacedLease(...args);
          if (slow) await eventually(() => false, 1_500);
          return result;
        },
      };
      const leader = await start({ terms, name, identity: 'lagging', client: delayed });
      await eventually(() => false, 300);
      expect(leader.isLeader()).toBe(true);
      slow = true;
      const slowFrom = performance.now();
      expect(await eventually(() => !leader.isLeader(), PATIENCE_MS)).toBe(true);
      expect(performance.now() - slowFrom).toBeLessThanOrEqual(bound(TIMINGS.renewDeadlineMs));
      // isLeader() turns false at the deadline itself; the callback follows on the deadline's timer.
      expect(await eventually(() => terms.terms[0]?.reason !== undefined, PATIENCE_MS)).toBe(true);
      expect(terms.terms[0]?.reason).toBe('renew-deadline');
    });
  });
}
