/**
 * `scale` (issue 21 part 1) on the local provider with real etcd and HAProxy: 1 → 3 gives one
 * replica per zone, 3 → 5 gives 2/2/1, back to 1 keeps the first; an interrupted scale run again
 * finishes the change in flight and converges; refusals change nothing.
 */
import { ErrorCode } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { readJournal } from './record.js';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';
import type { ClusterStatus, ControlPlaneEvent } from './types.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

const perZone = (status: ClusterStatus) => {
  const counts: Record<string, number> = {};
  for (const replica of status.replicas) counts[replica.zone] = (counts[replica.zone] ?? 0) + 1;
  return counts;
};

describe('scale (issue 21 part 1)', () => {
  it('1 → 3 is one replica per zone, 3 → 5 is 2/2/1, and back to 1 keeps the first', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.etcdctl(['put', 'hacp/scale', 'kept']);

    const three = await w.controlPlane.scale({ replicas: 3 });
    expect(three).toMatchObject({ operation: 'scale', from: 1, to: 3 });
    expect(three.changes.map((change) => change.operation)).toEqual(['replicate', 'replicate']);
    const atThree = await w.controlPlane.status();
    expectMembersMatchReplicas(atThree, 3);
    expect(perZone(atThree)).toEqual({ 'local-a': 1, 'local-b': 1, 'local-c': 1 });

    const five = await w.controlPlane.scale({ replicas: 5 });
    expect(five.changes).toHaveLength(2);
    const atFive = await w.controlPlane.status();
    expectMembersMatchReplicas(atFive, 5);
    expect(Object.values(perZone(atFive)).sort()).toEqual([1, 2, 2]);

    // Nothing to do at the count it has.
    expect((await w.controlPlane.scale({ replicas: 5 })).changes).toEqual([]);

    const one = await w.controlPlane.scale({ replicas: 1 });
    expect(one.changes.map((change) => change.operation)).toEqual(['remove', 'remove', 'remove', 'remove']);
    expect(one.replicas).toEqual([{ name: 'kubernetes-master', zone: 'local-a' }]);
    const atOne = await w.controlPlane.status();
    expectMembersMatchReplicas(atOne, 1);
    expect(atOne.endpoint).toMatchObject({ mode: 'attached', attachedTo: 'kubernetes-master' });
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/scale'])).toBe('kept');
  }, 400_000);

  it('refuses an even count and more than 7 with the reason, changing nothing', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    const before = await w.provider.instances.list({ cluster: 'kubernetes' });
    for (const [options, pattern] of [
      [{ replicas: 2 }, /2 is an even count: two replicas are less available than one/],
      [{ replicas: 9 }, /more than 7, etcd's recommended largest cluster/],
      [{ replicas: 3, zones: ['elsewhere-a'] }, /elsewhere/],
    ] as const) {
      const error = await w.controlPlane.scale(options).catch((thrown: unknown) => thrown);
      expect(error, JSON.stringify(options)).toMatchObject({ message: expect.stringMatching(pattern) });
    }
    expect(await w.controlPlane.scale({ replicas: 2 }).catch((e: { code: string }) => e.code)).toBe(
      ErrorCode.INVALID_ARGUMENT,
    );
    expect(await w.provider.instances.list({ cluster: 'kubernetes' })).toEqual(before);
    expect(await readJournal(w.provider.state, 'kubernetes')).toBeUndefined();
  }, 120_000);

  it('interrupted in the middle of its second change, run again, finishes that change and converges', async () => {
    const interrupt = new AbortController();
    let started = 0;
    const onEvent = (event: ControlPlaneEvent) => {
      if (event.type === 'operation-started') started++;
      // Cut the second replicate short once its learner is added: a member and no instance yet.
      if (started === 2 && event.type === 'step-done' && event.step.startsWith('add-learner:'))
        interrupt.abort();
    };
    world = await localWorld({ onEvent });
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    const cut = await w.controlPlane
      .scale({ replicas: 3, signal: interrupt.signal })
      .catch((thrown: unknown) => thrown);
    expect(cut).toMatchObject({ code: ErrorCode.ABORTED });
    expect((await readJournal(w.provider.state, 'kubernetes'))?.value.operation).toBe('replicate');

    const again = await w.controlPlane.scale({ replicas: 3 });
    expect(again.changes[0]).toMatchObject({ operation: 'replicate', resumed: true });
    expect(again.to).toBe(3);
    const status = await w.controlPlane.status();
    expectMembersMatchReplicas(status, 3);
    expect(perZone(status)).toEqual({ 'local-a': 1, 'local-b': 1, 'local-c': 1 });
    expect(status.operation).toBeUndefined();
  }, 300_000);
});
