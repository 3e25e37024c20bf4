/** Every etcd call failing once leaves the cluster where a resume or a re-run converges. */
import { isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeEtcdMethod } from './fake-etcd.test-support.js';
import { finish, grow, SCENARIOS } from './scenarios.test-support.js';
import { convergenceProblems, createWorld, type World } from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

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
  it.each(ETCD_CALLS)('converges after %s fails once', { timeout: 60_000 }, async (method) => {
    world = await createWorld();
    await grow(world, scenario.before);
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
