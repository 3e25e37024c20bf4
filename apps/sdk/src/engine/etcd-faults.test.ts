/** Every etcd call failing once leaves the cluster where a resume or a re-run converges. */
import { isHacpError } from '@hacp/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { FakeEtcdMethod } from './fake-etcd.test-support.js';
import { finish, grow, SCENARIOS, type Scenario } from './scenarios.test-support.js';
import { convergenceProblems, createWorld, type World } from './world.test-support.js';

const ETCD_CALLS: FakeEtcdMethod[] = [
  'connect',
  'members',
  'health',
  'status',
  'snapshot',
  'addLearner',
  'promoteWhenReady',
  'removeMember',
  'moveLeaderAway',
];

describe.each(SCENARIOS.filter((s) => s.name !== 'up'))('$name, etcd failing', (scenario) => {
  // One world per scenario, taken back to `before` replicas after each case (as the interruption
  // tests do): growing a fresh one, with a new PKI, cost more than the case itself.
  let world: World | undefined;
  afterAll(async () => {
    await world?.dispose();
  });

  it.each(ETCD_CALLS)('converges after %s fails once', { timeout: 60_000 }, async (method) => {
    world = await worldAt(world, scenario);
    world.etcd.failOn(method);
    const error = await scenario.run(world.controlPlane(), world).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    if (error !== undefined) expect(isHacpError(error)).toBe(true);
    if (error !== undefined)
      await finish(world, scenario, isHacpError(error) && error.details.rolledBack === true);
    expect(await convergenceProblems(world, scenario.after)).toEqual([]);
  });
});

/**
 * A world at the scenario's `before`: the last case's, undone, when that converges; else (the last
 * case failed) a fresh one, so that one failure does not spread to the cases after it.
 */
async function worldAt(world: World | undefined, scenario: Scenario): Promise<World> {
  if (world !== undefined) {
    const undone = await scenario.undo(world.controlPlane(), world).then(
      () => true,
      () => false,
    );
    if (undone && (await convergenceProblems(world, scenario.before)).length === 0) {
      world.events.length = 0;
      await scenario.prepare?.(world);
      return world;
    }
    await world.dispose();
  }
  const fresh = await createWorld(scenario.world);
  await grow(fresh, scenario.before);
  await scenario.prepare?.(fresh);
  return fresh;
}
