/**
 * Changes an operator made outside hacp (issue 19), on the memory provider and the fake etcd:
 * `status` names each with its warning, `repair` fixes it with the least change, refusals change
 * nothing, and the next `replicate` and `down` succeed and leave nothing.
 */
import { ErrorCode, isHacpError } from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import {
  grow,
  LOAD_BALANCER,
  stopReplicaIn,
  untargetReplicaIn,
  vanishReplicaIn,
} from './scenarios.test-support.js';
import {
  CLUSTER,
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

const codes = (warnings: readonly { code: string }[]) => warnings.map((warning) => warning.code);
const stepIds = (plan: { steps: readonly { id: string }[] }) => plan.steps.map((step) => step.id);

/** After a repair: replicate one more, then down, and nothing is left. */
async function replicateAndDown(target: World, replicas: number): Promise<void> {
  await target.controlPlane().replicate({ zone: 'local-c' });
  expect(await convergenceProblems(target, replicas + 1)).toEqual([]);
  await target.controlPlane().down();
  expect(await convergenceProblems(target, 0)).toEqual([]);
  expect(await target.provider.instances.list({ cluster: CLUSTER })).toEqual([]);
}

describe('an instance stopped outside hacp', () => {
  it('is named by status, and repair starts it again: the same instance, its member kept, nothing replaced', async () => {
    world = await createWorld();
    await grow(world, 3);
    const membersBefore = await world.etcd.snapshotMembers();
    const name = await stopReplicaIn(world, 'local-c');
    const status = await world.controlPlane().status();
    expect(status.replicas.find((replica) => replica.name === name)?.state).toBe('stopped');
    const warning = status.warnings.find((w) => w.code === 'REPLICA_STOPPED');
    expect(warning?.message).toContain(name);
    expect(warning?.message).toContain('hacp repair');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(stepIds(plan)).toEqual([`start-instance:${name}`, `wait-healthy:${name}`]);
    const repaired = await world.controlPlane().repair();
    expect(repaired.steps.map((step) => `${step.id}:${step.status}`)).toEqual([
      `start-instance:${name}:done`,
      `wait-healthy:${name}:done`,
    ]);
    expect(await convergenceProblems(world, 3)).toEqual([]);
    // The same members, ids included: the replica came back, it was not replaced.
    expect(await world.etcd.snapshotMembers()).toEqual(membersBefore);
    expect(world.etcd.count('addLearner')).toBe(2);
    const after = await world.controlPlane().status();
    expect(codes(after.warnings)).not.toContain('REPLICA_STOPPED');
  });

  it('that does not come back healthy from the start ends the repair there: no journal, replace named, nothing replaced', async () => {
    world = await createWorld();
    await grow(world, 3);
    const membersBefore = await world.etcd.snapshotMembers();
    const name = await stopReplicaIn(world, 'local-c');
    world.etcd.diskWiped(name);
    const error = await world
      .controlPlane()
      .repair()
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(isHacpError(error)).toBe(true);
    const failed = error as { message: string; actions: string[]; details: Record<string, unknown> };
    expect(failed.message).toMatch(new RegExp(`repair started ${name} again, but it did not become healthy`));
    expect(failed.actions.join(' ')).toContain(`hacp replace --replica ${name}`);
    expect(failed.details.resumable).toBeUndefined();
    // Not in flight: every other command may run; the member was kept, nothing was added.
    expect((await world.controlPlane().status()).operation).toBeUndefined();
    expect(await world.etcd.snapshotMembers()).toEqual(membersBefore);
    expect(world.etcd.count('addLearner')).toBe(2);
  });

  it('is replaced by repair where the provider cannot start an instance', async () => {
    world = await createWorld({
      wrap: (memory) =>
        ({ ...memory, instances: { ...memory.instances, start: undefined } }) as unknown as MemoryProvider,
    });
    await grow(world, 3);
    const name = await stopReplicaIn(world, 'local-c');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(stepIds(plan)).not.toContain(`start-instance:${name}`);
    expect(stepIds(plan)).toContain(`delete-instance:${name}`);
  });
});

describe('a zone down', () => {
  it('shows its replicas as zone-down, not stopped by hand, and repair leaves them: nothing changes', async () => {
    world = await createWorld();
    await grow(world, 3);
    const [name] = world.provider.failZone('local-c');
    const status = await world.controlPlane().status();
    expect(status.replicas.find((replica) => replica.name === name)?.state).toBe('zone-down');
    expect(codes(status.warnings)).toContain('ZONE_DOWN');
    expect(codes(status.warnings)).not.toContain('REPLICA_STOPPED');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(plan.steps).toEqual([]);
    expect(plan.warnings.find((w) => w.code === 'ZONE_DOWN')?.message).toMatch(
      /Zone local-c is down: .*`hacp zone restore local-c`/,
    );
    const before = await providerState(world);
    const repaired = await world.controlPlane().repair();
    expect(repaired.steps).toEqual([]);
    expect(await providerState(world)).toEqual(before);
    world.provider.restoreZone('local-c');
    expect(await convergenceProblems(world, 3)).toEqual([]);
  });

  it('refuses a replicate into it before anything is written', async () => {
    world = await createWorld();
    await grow(world, 2);
    expect(world.provider.failZone('local-c')).toEqual([]);
    const before = await providerState(world);
    const error = await failure(world.controlPlane().replicate({ zone: 'local-c' }));
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    expect(error.message).toMatch(/Zone local-c is down/);
    expect(await providerState(world)).toEqual(before);
  });

  it('refuses an up into it at its first step: no address, firewall, PKI or record made', async () => {
    world = await createWorld();
    world.provider.failZone('local-b');
    const before = await providerState(world);
    const error = await failure(world.controlPlane().up({ zone: 'local-b', multizone: true }));
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    expect(error.message).toBe(
      'Zone local-b is down: nothing can be created there until it is up again. Nothing was changed.',
    );
    expect(error.actions.join(' ')).toContain('local-a, local-c');
    expect(await providerState(world)).toEqual(before);
  });
});

describe('a healthy replica taken out of the load balancer outside hacp', () => {
  it('is named by status, and repair adds it back; replicate and down work after', async () => {
    world = await createWorld();
    await grow(world, 2);
    const name = await untargetReplicaIn(world, 'local-b');
    const status = await world.controlPlane().status();
    expect(status.endpoint.targets.map((target) => target.replica)).not.toContain(name);
    const warning = status.warnings.find((w) => w.code === 'TARGET_MISSING');
    expect(warning?.message).toContain(name);
    expect(warning?.message).toContain('hacp repair');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(stepIds(plan)).toEqual([`add-target:${name}`]);
    await world.controlPlane().repair();
    expect(await convergenceProblems(world, 2)).toEqual([]);
    expect(codes((await world.controlPlane().status()).warnings)).not.toContain('TARGET_MISSING');
    await replicateAndDown(world, 2);
  });
});

describe('an instance deleted outside hacp', () => {
  it('is named by status; replicate, remove and replace of another are refused, changing nothing', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await vanishReplicaIn(world, 'local-c');
    const status = await world.controlPlane().status();
    expect(status.warnings.find((w) => w.code === 'INSTANCE_MISSING')?.message).toContain(
      `hacp replace --replica ${name}`,
    );
    expect(status.warnings.find((w) => w.code === 'TARGET_WITHOUT_INSTANCE')?.message).toContain(name);
    const before = await providerState(world);
    // Its member is down: an add is refused by the preflight; a removal by the stale target.
    const add = await failure(world.controlPlane().replicate({ zone: 'local-c' }));
    expect(isHacpError(add, ErrorCode.QUORUM_AT_RISK)).toBe(true);
    const remove = await failure(world.controlPlane().remove({ zone: 'local-b' }));
    expect(isHacpError(remove, ErrorCode.CONFLICT)).toBe(true);
    expect(remove.message).toContain(`${name}, whose instance is gone`);
    expect(remove.actions.join(' ')).toContain('hacp repair');
    expect(remove.exitCode).toBe(1);
    expect(await providerState(world)).toEqual(before);
  });

  it('repair takes out its target and its member through a remaining one; replicate and down then leave nothing', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await vanishReplicaIn(world, 'local-c');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(stepIds(plan)).toEqual([
      `drop-target:${name}`,
      'snapshot',
      `remove-member:${name}`,
      `delete-instance:${name}`,
    ]);
    await world.controlPlane().repair();
    expect(await convergenceProblems(world, 2)).toEqual([]);
    const status = await world.controlPlane().status();
    expect(codes(status.warnings)).not.toContain('INSTANCE_MISSING');
    expect(codes(status.warnings)).not.toContain('TARGET_WITHOUT_INSTANCE');
    await replicateAndDown(world, 2);
  });

  it('replace --replica of it adds a new replica in its zone after its member and target go', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await vanishReplicaIn(world, 'local-c');
    const result = await world.controlPlane().replace({ name });
    expect(await convergenceProblems(world, 3)).toEqual([]);
    expect(result.replicas.map((replica) => replica.name)).not.toContain(name);
    expect(result.replicas.filter((replica) => replica.zone === 'local-c')).toHaveLength(1);
    await world.controlPlane().down();
    expect(await convergenceProblems(world, 0)).toEqual([]);
  });

  it('replace --replica of it whose add fails undoes the add only, and says how to add the successor', async () => {
    world = await createWorld();
    await grow(world, 3);
    const name = await vanishReplicaIn(world, 'local-c');
    world.etcd.failOn('addLearner', { error: new Error('etcd refused the learner') });
    const error = await failure(world.controlPlane().replace({ name }));
    expect(error.details.rolledBack).toBe(true);
    expect(error.actions.join(' ')).toContain('hacp replicate --zone local-c');
    expect(await convergenceProblems(world, 2)).toEqual([]);
    await world.controlPlane().replicate({ zone: 'local-c' });
    expect(await convergenceProblems(world, 3)).toEqual([]);
  });

  it('replace --replica of it is refused when its member cannot go without quorum, changing nothing', async () => {
    world = await createWorld();
    await grow(world, 2);
    const name = await vanishReplicaIn(world, 'local-b');
    const before = await providerState(world);
    const error = await failure(world.controlPlane().replace({ name }));
    // One of two voters is left: quorum is lost, and the way out is named.
    expect(isHacpError(error, ErrorCode.QUORUM_LOST)).toBe(true);
    expect(error.actions.at(-1)).toMatch(/run `hacp recover`/);
    expect(error.exitCode).toBe(3);
    expect(await providerState(world)).toEqual(before);
  });
});

describe('a load balancer that lost its address outside hacp (GCE: its forwarding rule deleted)', () => {
  it('is detached with the ENDPOINT_DETACHED warning, and repair gives the address back', async () => {
    world = await createWorld();
    await grow(world, 3);
    await world.provider.loadBalancers.releaseAddress(LOAD_BALANCER, { requestId: 'drift-release' });
    const status = await world.controlPlane().status();
    expect(status.endpoint.mode).toBe('detached');
    expect(status.operation).toBeUndefined();
    const warning = status.warnings.find((w) => w.code === 'ENDPOINT_DETACHED');
    expect(warning?.message).toContain('hacp repair');
    expect(codes(status.warnings)).not.toContain('ENDPOINT_NOT_SERVING');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(stepIds(plan)).toEqual(['restore-endpoint']);
    await world.controlPlane().repair();
    expect(await convergenceProblems(world, 3)).toEqual([]);
    const after = await world.controlPlane().status();
    expect(after.endpoint.mode).toBe('load-balanced');
    expect(codes(after.warnings)).not.toContain('ENDPOINT_DETACHED');
  });

  it('a single replica whose address was detached (GCE: its access config deleted): repair attaches it again', async () => {
    world = await createWorld();
    await grow(world, 1);
    const status = await world.controlPlane().status();
    await world.provider.addresses.detach(
      { name: `${CLUSTER}-master-ip`, region: 'local' },
      { requestId: 'drift-detach' },
    );
    const detached = await world.controlPlane().status();
    expect(detached.warnings.find((w) => w.code === 'ENDPOINT_DETACHED')?.message).toContain('hacp repair');
    expect(stepIds(await world.controlPlane().plan({ operation: 'repair' }))).toEqual(['restore-endpoint']);
    await world.controlPlane().repair();
    expect(await convergenceProblems(world, 1)).toEqual([]);
    const after = await world.controlPlane().status();
    expect(after.endpoint).toMatchObject({ mode: 'attached', attachedTo: status.replicas[0]?.name });
    expect(codes(after.warnings)).not.toContain('ENDPOINT_DETACHED');
  });

  it('is not warned about while an operation really is moving the address', async () => {
    let failEnsure = true;
    world = await createWorld({
      wrap: (memory) => ({
        ...memory,
        loadBalancers: {
          ...memory.loadBalancers,
          ensure: async (spec, options) => {
            if (failEnsure) {
              failEnsure = false;
              throw new Error('the cloud refused the forwarding rule');
            }
            return memory.loadBalancers.ensure(spec, options);
          },
        },
      }),
    });
    await grow(world, 1);
    const error = await failure(world.controlPlane().replicate({ zone: 'local-b' }));
    expect(error.details.resumable).toBe(true);
    const status = await world.controlPlane().status();
    expect(status.endpoint.mode).toBe('detached');
    expect(status.operation?.operation).toBe('replicate');
    expect(codes(status.warnings)).not.toContain('ENDPOINT_DETACHED');
    await world.controlPlane().resume();
    expect(await convergenceProblems(world, 2)).toEqual([]);
  });
});

describe('down', () => {
  it('deletes what is left of the cluster that its record does not list', async () => {
    world = await createWorld();
    await grow(world, 2);
    // A network place of the cluster left behind (the internal address of an instance deleted by hand).
    const leftover = { name: `${CLUSTER}-master-0ff`, zone: 'local-b', cluster: CLUSTER };
    await world.provider.instances.allocateNetwork(leftover, { requestId: 'leftover' });
    const result = await world.controlPlane().down();
    expect(result.steps.find((step) => step.id === 'delete-leftovers')?.status).toBe('done');
    expect(await convergenceProblems(world, 0)).toEqual([]);
    // The name is free again: another cluster can have it.
    await expect(
      world.provider.instances.allocateNetwork({ ...leftover, cluster: 'other' }, { requestId: 'other' }),
    ).resolves.toMatchObject({ hostname: leftover.name });
  });
});
