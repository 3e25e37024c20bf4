/**
 * A replicate whose hacp was killed while the new instance was being created (the kill campaign's
 * window, issue 18): the provider reports the half-made instance `terminated` and makes it afresh,
 * with an empty disk, on the next create. Its learner had already started, so it is added again.
 */
import {
  ErrorCode,
  HacpError,
  type Instance,
  type InstanceApi,
  type InstanceRef,
  type InstanceSpec,
  type MutationOptions,
} from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { grow } from './scenarios.test-support.js';
import { convergenceProblems, createWorld, type World } from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/**
 * The memory provider with the local provider's rule for a create whose creator died: `terminated`
 * until the next create, which makes it afresh on the same network (its etcd's data gone).
 * `dieInCreate` makes the next create start the instance, let its learner start, and then die.
 */
function halfCreating(memory: MemoryProvider, etcdOf: () => World['etcd']) {
  const halfMade = new Set<string>();
  let dying: (() => void) | undefined;
  const shown = (instance: Instance): Instance =>
    halfMade.has(instance.name) ? { ...instance, status: 'terminated' } : instance;
  const instances: InstanceApi = {
    ...memory.instances,
    get: async (ref: InstanceRef, options?: { signal?: AbortSignal }) => {
      const instance = await memory.instances.get(ref, options);
      return instance === undefined ? undefined : shown(instance);
    },
    list: async (filter, options) => (await memory.instances.list(filter, options)).map(shown),
    async create(spec: InstanceSpec, options: MutationOptions) {
      if (halfMade.has(spec.name)) {
        halfMade.delete(spec.name);
        etcdOf().diskWiped(spec.name);
        await memory.instances.start(spec, options);
        return (await memory.instances.get(spec)) as Instance;
      }
      const made = await memory.instances.create(spec, options);
      if (dying === undefined) return made;
      // Its etcd starts and joins as the learner; then the process creating it is killed.
      await etcdOf().snapshotMembers();
      await memory.instances.stop(spec, options);
      halfMade.add(spec.name);
      dying();
      throw new HacpError({ code: ErrorCode.ABORTED, message: 'killed while creating' });
    },
  };
  return {
    provider: { ...memory, instances } as MemoryProvider,
    dieInCreate(kill: () => void) {
      dying = () => {
        dying = undefined;
        kill();
      };
    },
  };
}

describe('a create killed half-way, then resumed', () => {
  it('adds the learner again when its etcd had started, so the replica made afresh can join', async () => {
    let half: ReturnType<typeof halfCreating> | undefined;
    world = await createWorld({
      wrap: (memory) => {
        half = halfCreating(memory, () => (world as World).etcd);
        return half.provider;
      },
    });
    await grow(world, 1);
    const killed = new AbortController();
    half?.dieInCreate(() => killed.abort());
    const interrupted = world.controlPlane().replicate({ zone: 'local-b', signal: killed.signal });
    await expect(interrupted).rejects.toMatchObject({ code: 'ABORTED' });
    const [learner] = (await world.etcd.snapshotMembers()).filter((member) => member.learner);
    expect(learner?.started).toBe(true);

    await world.controlPlane().resume();
    expect(await convergenceProblems(world, 2)).toEqual([]);
    expect(world.etcd.calls.filter((call) => call.method === 'removeMember')).toEqual([
      { method: 'removeMember', subject: learner?.id },
    ]);
    expect(world.etcd.count('addLearner')).toBe(2);
  });
});
