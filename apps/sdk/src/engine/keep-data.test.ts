/**
 * `replace` with keepData where the provider does not report a replica's data disk intact (GCE, the
 * memory provider): refused before anything changes, and the default replaces it with a new member.
 */
import { ErrorCode, isHacpError } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { grow, replicaIn, stopReplicaIn } from './scenarios.test-support.js';
import {
  convergenceProblems,
  createWorld,
  failure,
  providerState,
  type World,
} from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

describe('replace keepData on a provider that does not report the data disk', () => {
  it('is refused with INVALID_ARGUMENT naming --no-keep-data, changing nothing', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await replicaIn(world, 'local-b');
    const before = await providerState(world);
    const members = await world.etcd.snapshotMembers();

    const error = await failure(world.controlPlane().replace({ name, keepData: true }));
    expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect(error.message).toContain(`${name}'s data disk`);
    expect(error.actions.join(' ')).toContain('--no-keep-data');
    expect(error.exitCode).toBe(2);
    expect(await providerState(world)).toEqual(before);
    expect(await world.etcd.snapshotMembers()).toEqual(members);
  });

  it('plans the same refusal for `hacp plan replace --keep-data`', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await replicaIn(world, 'local-b');
    const error = await failure(world.controlPlane().plan({ operation: 'replace', name, keepData: true }));
    expect(isHacpError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });

  it('without keepData replaces a broken replica with a new member: nothing to migrate onto', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await stopReplicaIn(world, 'local-b');
    const plan = await world.controlPlane().plan({ operation: 'replace', name });
    expect(plan.steps.map((step) => step.action.kind)).not.toContain('migrate-member');
    expect(plan.steps.map((step) => step.action.kind)).toContain('add-learner');
    await world.controlPlane().replace({ name });
    expect(await convergenceProblems(world, 3)).toEqual([]);
  });
});
