/**
 * The interruption cases: an operation interrupted at every step, then finished by a new run of hacp.
 */
import { isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { finish, grow, SCENARIOS } from './scenarios.test-support.js';
import { convergenceProblems, createWorld, type World } from './world.test-support.js';

/**
 * Every operation of `names` interrupted at every step (before it, during it, after it), then
 * finished by a new run of hacp, converges to the state its plan promises. Split over two files so
 * that vitest runs them side by side.
 */
export function describeInterruptions(names: readonly string[]): void {
  const scenarios = SCENARIOS.filter((scenario) => names.includes(scenario.name));
  if (scenarios.length !== names.length) throw new Error(`unknown scenarios among ${names.join(', ')}`);
  let world: World | undefined;
  afterEach(async () => {
    await world?.dispose();
    world = undefined;
  });
  describe.each(scenarios)('$name, interrupted', (scenario) => {
    it('converges after an interruption at every step, before, during or after it', {
      timeout: 300_000,
    }, async () => {
      world = await createWorld(scenario.world);
      await grow(world, scenario.before);
      await scenario.prepare?.(world);
      await scenario.run(world.controlPlane(), world);
      const steps = world.events.filter((event) => event.type === 'step-done').length;
      if (scenario.steps === undefined) expect(steps).toBeGreaterThan(3);
      else expect(steps).toBe(scenario.steps);
      for (let index = 1; index <= steps; index++) {
        for (const moment of scenario.moments ?? (['step-started', 'step-done'] as const)) {
          if (moment === 'step-done' && index === steps) continue;
          await scenario.undo(world.controlPlane(), world);
          expect(await convergenceProblems(world, scenario.before)).toEqual([]);
          await scenario.prepare?.(world);
          const controller = new AbortController();
          const interrupted = world.controlPlane({
            onEvent: (event) => {
              if (event.type === moment && event.index === index) controller.abort();
            },
          });
          const error = await scenario.run(interrupted, world, controller.signal).then(
            () => undefined,
            (thrown: unknown) => thrown,
          );
          if (error !== undefined && !isHacpError(error, 'ABORTED')) throw error;
          if (error !== undefined) await finish(world, scenario, false);
          const problems = await convergenceProblems(world, scenario.after);
          expect({ index, moment, problems }).toEqual({ index, moment, problems: [] });
        }
      }
    });
  });
}
