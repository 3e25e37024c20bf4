/**
 * `scale` on the memory provider and the fake etcd: interrupted at every step of every change
 * (before, during or after it), the same scale run again converges to the count, one replica per
 * zone going up, the first replica alone going down.
 */
import { isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER, convergenceProblems, createWorld, type World } from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

const zonesOf = async (target: World) =>
  (await target.provider.instances.list({ cluster: CLUSTER })).map((instance) => instance.zone).sort();

/** Scale to `replicas`, cut short at the `nth` event of kind `moment` (counted over every change). */
async function interruptedScale(
  target: World,
  replicas: number,
  moment: 'step-started' | 'step-done',
  nth: number,
): Promise<void> {
  const controller = new AbortController();
  let seen = 0;
  const cut = target.controlPlane({
    onEvent: (event) => {
      if (event.type === moment && ++seen === nth) controller.abort();
    },
  });
  const error = await cut.scale({ replicas, signal: controller.signal }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (error !== undefined && !isHacpError(error, 'ABORTED')) throw error;
}

describe('scale, interrupted', () => {
  it('at every step of 1 → 3 and of 3 → 1, converges when run again', { timeout: 300_000 }, async () => {
    world = await createWorld();
    const w = world;
    await w.controlPlane().up({ zone: 'local-a', multizone: true, kubernetes: false });
    const steps = { up: 0, down: 0 };
    const counting = (key: keyof typeof steps) =>
      w.controlPlane({
        onEvent: (event) => {
          if (event.type === 'step-done') steps[key]++;
        },
      });
    await counting('up').scale({ replicas: 3 });
    await counting('down').scale({ replicas: 1 });
    expect(steps.up).toBeGreaterThan(10);
    expect(steps.down).toBeGreaterThan(10);

    for (const [to, from, count] of [
      [3, 1, steps.up],
      [1, 3, steps.down],
    ] as const) {
      for (let nth = 1; nth <= count; nth++) {
        for (const moment of ['step-started', 'step-done'] as const) {
          await w.controlPlane().scale({ replicas: from });
          expect(await convergenceProblems(w, from)).toEqual([]);
          await interruptedScale(w, to, moment, nth);
          const again = await w.controlPlane().scale({ replicas: to });
          expect(again.to).toBe(to);
          const problems = await convergenceProblems(w, to);
          expect({ to, nth, moment, problems }).toEqual({ to, nth, moment, problems: [] });
          expect(await zonesOf(w)).toEqual(to === 3 ? ['local-a', 'local-b', 'local-c'] : ['local-a']);
          if (to === 1)
            expect((await w.provider.instances.list({ cluster: CLUSTER }))[0]?.name).toBe(
              `${CLUSTER}-master`,
            );
        }
      }
    }
  });
});
