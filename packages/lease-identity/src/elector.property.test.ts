import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMINGS, ElectionWorld } from './election-world.js';

type Step =
  | { op: 'advance'; ms: number }
  | { op: 'crash'; who: number }
  | { op: 'release'; who: number }
  | { op: 'restart'; who: number }
  | { op: 'cut'; who: number; mode: 'hang' | 'fail' }
  | { op: 'heal'; who: number }
  | { op: 'latency'; who: number; ms: number; answerMs: number; jitter: boolean };

// -1 targets whoever leads at that moment: faults on the leader are what safety is about.
const who = fc.oneof({ weight: 2, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: fc.nat(4) });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 8_000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), who }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('release' as const), who }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('restart' as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('cut' as const),
      who,
      mode: fc.constantFrom('hang' as const, 'fail' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('heal' as const), who }) },
  // Up to 9 s each way, independently: longer than a retry period, answers slower than
  // leaseDuration - renewDeadline, round trips longer than the renew deadline.
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('latency' as const),
      who,
      ms: fc.constantFrom(1, 300, 2_500, 6_000, 9_000),
      answerMs: fc.constantFrom(1, 300, 2_500, 6_000, 9_000),
      jitter: fc.boolean(),
    }),
  },
);

const scenario = fc.record({
  // Each candidate's clock rate: up to 10% fast or slow, within what lease 15 s / renew 10 s tolerates.
  rates: fc.array(fc.double({ min: 0.9, max: 1.1, noNaN: true }), { minLength: 3, maxLength: 5 }),
  steps: fc.array(step, { minLength: 10, maxLength: 60, size: 'max' }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
});

describe('leader election, property', () => {
  it('never has two candidates that believe they lead at the same instant, and elects one once all is well', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ rates, steps, seed }) => {
        const world = new ElectionWorld();
        world.random = (() => {
          let state = seed;
          return () => {
            state = (state * 16807) % 2147483647;
            return (state - 1) / 2147483646;
          };
        })();
        const violations: string[] = [];
        world.clock.onStep = (time) => {
          const leaders = world.leaders().map((candidate) => candidate.identity);
          const believers = world.believers().map((candidate) => candidate.identity);
          if (leaders.length > 1) violations.push(`${time} ms: isLeader() in ${leaders.join(', ')}`);
          if (believers.length > 1)
            violations.push(`${time} ms: leading per callbacks: ${believers.join(', ')}`);
        };
        const slots = rates.map((rate, index) => world.candidate({ identity: `c${index}-0`, rate }));
        const generation = slots.map(() => 0);
        for (const candidate of slots) await world.start(candidate);

        for (const next of steps) {
          const leader = slots.findIndex((candidate) => candidate.elector?.isLeader());
          const index = !('who' in next)
            ? 0
            : next.who === -1
              ? Math.max(0, leader)
              : next.who % slots.length;
          const slot = slots[index];
          if (!slot) continue;
          switch (next.op) {
            case 'advance':
              await world.clock.advance(next.ms);
              break;
            case 'crash':
              await world.stop(slot, { release: false });
              break;
            case 'release':
              await world.stop(slot, { release: true });
              break;
            case 'restart': {
              // A new process in that slot: same clock and connection behaviour, a new identity.
              await world.stop(slot, { release: false });
              generation[index] = (generation[index] ?? 0) + 1;
              const replacement = world.candidate({
                identity: `c${index}-${generation[index]}`,
                rate: rates[index],
              });
              replacement.connection.state = slot.connection.state;
              replacement.latencyMs = slot.latencyMs;
              replacement.answerLatencyMs = slot.answerLatencyMs;
              replacement.jitter = slot.jitter;
              slots[index] = replacement;
              await world.start(replacement);
              break;
            }
            case 'cut':
              slot.connection.state = next.mode;
              break;
            case 'heal':
              slot.connection.state = 'up';
              break;
            case 'latency':
              slot.latencyMs = next.ms;
              slot.answerLatencyMs = next.answerMs;
              slot.jitter = next.jitter;
              break;
          }
          expect(violations).toEqual([]);
        }

        // All well again: every slot up, fast, and running. Requests still in flight time out within the
        // renew deadline; then a leader is elected within lease duration + retry period.
        for (const [index, slot] of slots.entries()) {
          slot.connection.state = 'up';
          slot.latencyMs = 1;
          slot.answerLatencyMs = 1;
          slot.jitter = false;
          if (!slot.elector) {
            generation[index] = (generation[index] ?? 0) + 1;
            const replacement = world.candidate({
              identity: `c${index}-${generation[index]}`,
              rate: rates[index],
            });
            slots[index] = replacement;
            await world.start(replacement);
          }
        }
        const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = DEFAULT_TIMINGS;
        // Slow clocks (rate 0.9) stretch every wait by up to 1/0.9.
        const bound = (renewDeadlineMs + leaseDurationMs + retryPeriodMs) / 0.9 + 100;
        const elected = await world.clock.advanceUntil(() => world.leaders().length === 1, bound);
        expect(violations).toEqual([]);
        expect(elected).toBe(true);

        for (const slot of slots) await world.stop(slot);
        expect(world.clock.pendingTimers()).toBe(0);
        expect(violations).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  }, 60_000);
});
