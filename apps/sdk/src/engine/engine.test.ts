/**
 * The engine's rules, each on the memory provider and the fake etcd: one observation and one etcd
 * connection per operation, the journal at commit points, the lock, the preflight checked again on
 * resume, what a refusal leaves (nothing changed), and the clocks of a new replica's etcd member.
 */
import { ErrorCode, HacpError, isHacpError, waitUntil } from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { lockName } from '../record.js';
import { grow, replicaIn, stopReplicaIn, withIntactDisks } from './scenarios.test-support.js';
import {
  CLUSTER,
  convergenceProblems,
  createWorld,
  failure,
  providerState,
  UNIT_TIMEOUTS,
  type World,
} from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

describe('one session per operation', () => {
  it('replicate 1→2 connects to etcd and lists instances a bounded number of times, and writes the journal at commit points only', async () => {
    world = await createWorld({ count: true });
    const counted = world;
    await grow(world, 1);
    counted.calls.clear();
    const connects = world.etcd.count('connect');
    const result = await world.controlPlane().replicate({ zone: 'local-b' });
    // Once to observe; again after the instance is created (so the new member is reached).
    expect(world.etcd.count('connect') - connects).toBeLessThanOrEqual(2);
    expect(counted.calls.get('instances.list')).toBeLessThanOrEqual(3);
    expect(counted.calls.get('instances.get') ?? 0).toBeLessThanOrEqual(1);
    const changed = result.steps.filter((step) => step.status === 'done').length;
    // The journal: created, once per network allocated, once per step that changed something, and
    // deleted at the end; never after checks and waits.
    const checks = result.steps.filter((step) =>
      /^(preflight|validate-zone|wait-healthy)/.test(step.id),
    ).length;
    expect(checks).toBeGreaterThan(0);
    expect(counted.calls.get('state.put')).toBeLessThanOrEqual(1 + 1 + changed - checks);
    expect(await convergenceProblems(world, 2)).toEqual([]);
  });

  it('leaves no etcd connection open, and close() closes what a read in flight opened', async () => {
    world = await createWorld();
    await grow(world, 2);
    const controlPlane = world.controlPlane();
    const release = world.etcd.holdOn('health');
    const healthCalls = world.etcd.count('health');
    const reading = controlPlane.status();
    await waitUntil({
      description: 'status to be reading etcd',
      timeoutMs: 30_000,
      check: async () =>
        (world?.etcd.count('health') ?? 0) > healthCalls ? { done: true, value: true } : { done: false },
    });
    expect(world.etcd.openPorts).toBe(1);
    await controlPlane.close();
    // Closed while the read still waits on etcd: the control plane closed the connection itself.
    expect(world.etcd.openPorts).toBe(0);
    release();
    await reading.catch(() => undefined);
    expect(world.etcd.openPorts).toBe(0);
  });
});

describe('refusals change nothing', () => {
  it('a command while another hacp holds the lock gets LOCKED (exit 3), not CONFLICT', async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    const held = await world.provider.state.lock(lockName(CLUSTER), {
      holder: 'another-hacp',
      ttlMs: 60_000,
    });
    try {
      const error = await failure(world.controlPlane().replicate({ zone: 'local-b' }));
      expect(isHacpError(error, ErrorCode.LOCKED)).toBe(true);
      expect((error as HacpError).exitCode).toBe(3);
    } finally {
      await held.release();
    }
    expect(await providerState(world)).toEqual(before);
  });

  it('an etcd member list that cannot be read is UNAVAILABLE, not "create the cluster first"', async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    world.etcd.failOn('members');
    const error = await failure(world.controlPlane().replicate({ zone: 'local-b' }));
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    expect((error as HacpError).retryable).toBe(true);
    expect(await providerState(world)).toEqual(before);
  });

  it('counts a replica whose etcd member is missing as unhealthy', async () => {
    world = await createWorld();
    await grow(world, 2);
    // The second replica's member is removed behind hacp's back; its instance runs on.
    const etcd = await world.etcd.connector({
      provider: world.provider,
      pki: undefined as never,
      instances: await world.provider.instances.list({ cluster: CLUSTER }),
    });
    const members = await etcd?.members();
    const second = members?.find((member) => member.name !== 'kubernetes-master');
    await etcd?.removeMember(second?.id ?? '');
    await etcd?.close();
    const status = await world.controlPlane().status();
    const replica = status.replicas.find((r) => r.name === second?.name);
    expect(replica?.state).toBe('unhealthy');
  });
});

/** A provider whose endpoint stops serving (the local provider's HAProxy killed) until it is attached again. */
function dyingEndpoint(memory: MemoryProvider): MemoryProvider & { kill(): void } {
  let dead = false;
  return {
    ...memory,
    kill: () => {
      dead = true;
    },
    addresses: {
      ...memory.addresses,
      get: async (ref, options) => {
        const address = await memory.addresses.get(ref, options);
        return address === undefined ? undefined : { ...address, serving: !dead };
      },
      attach: async (ref, instance, options) => {
        dead = false;
        return memory.addresses.attach(ref, instance, options);
      },
    },
  };
}

describe('a dead endpoint', () => {
  it('is named by status, and repair makes it serve again before anything else', async () => {
    let endpoint: ReturnType<typeof dyingEndpoint> | undefined;
    world = await createWorld({
      wrap: (memory) => {
        endpoint = dyingEndpoint(memory);
        return endpoint;
      },
    });
    await grow(world, 1);
    endpoint?.kill();
    const status = await world.controlPlane().status();
    expect(status.warnings.map((warning) => warning.code)).toContain('ENDPOINT_NOT_SERVING');
    const plan = await world.controlPlane().plan({ operation: 'repair' });
    expect(plan.steps.map((step) => step.id)).toEqual(['restore-endpoint']);
    const repaired = await world.controlPlane().repair();
    expect(repaired.steps.map((step) => `${step.id}:${step.status}`)).toEqual(['restore-endpoint:done']);
    const after = await world.controlPlane().status();
    expect(after.warnings.map((warning) => warning.code)).not.toContain('ENDPOINT_NOT_SERVING');
  });
});

describe('resume', () => {
  it('checks the preflight again: a voter lost meanwhile refuses the add, and nothing is left of it', async () => {
    world = await createWorld();
    await grow(world, 2);
    const controller = new AbortController();
    const interrupted = world.controlPlane({
      onEvent: (event) => {
        if (event.type === 'step-done' && event.step === 'snapshot') controller.abort();
      },
    });
    const stopped = await failure(interrupted.replicate({ zone: 'local-c', signal: controller.signal }));
    expect(isHacpError(stopped, ErrorCode.ABORTED)).toBe(true);
    await world.provider.instances.stop(
      { name: 'kubernetes-master', zone: 'local-a' },
      { requestId: 'test-stop' },
    );
    const error = await failure(world.controlPlane().resume());
    expect(isHacpError(error, ErrorCode.QUORUM_AT_RISK)).toBe(true);
    const state = await providerState(world);
    expect(state.journal).toBeUndefined();
    expect(state.instances).toHaveLength(2);
    expect(state.members.some((member) => member.endsWith(':true'))).toBe(false);
  });

  it('a rolled-back add frees the network it allocated for an instance never created', async () => {
    world = await createWorld();
    await grow(world, 1);
    world.etcd.failOn('addLearner', {
      error: new HacpError({ code: ErrorCode.QUORUM_AT_RISK, message: 'fake etcd: refused' }),
    });
    const name = `${CLUSTER}-master-abc`;
    const error = await failure(world.controlPlane().replicate({ zone: 'local-b', name }));
    expect(isHacpError(error) && error.details.rolledBack).toBe(true);
    // The name is free again: another zone may have it.
    const network = await world.provider.instances.allocateNetwork(
      { name, zone: 'local-c', cluster: CLUSTER },
      { requestId: 'test-allocate' },
    );
    expect(network.internalIp).toBeTruthy();
    expect(await convergenceProblems(world, 1)).toEqual([]);
  });
});

describe('the names of new replicas', () => {
  it('are chosen in the plan: `plan replicate` shows the name replicate creates, and the next plan another', async () => {
    world = await createWorld();
    await grow(world, 1);
    const planned = await world.controlPlane().plan({ operation: 'replicate', zone: 'local-b' });
    const again = await world.controlPlane().plan({ operation: 'replicate', zone: 'local-b' });
    const name = (plan: typeof planned) =>
      plan.steps.find((step) => step.action.kind === 'create-instance')?.action as { replica: string };
    expect(name(again).replica).toBe(name(planned).replica);
    const done = await world.controlPlane().replicate({ zone: 'local-b' });
    expect(done.replicas.map((replica) => replica.name)).toContain(name(planned).replica);
    const next = await world.controlPlane().plan({ operation: 'replicate', zone: 'local-c' });
    expect(name(next).replica).not.toBe(name(planned).replica);
    expect(name(next).replica).toMatch(/^kubernetes-master-[0-9a-f]{3}$/);
  });
});

describe('the firewall rules', () => {
  it('are the ones the plan names: up ensures them, and down deletes them', async () => {
    world = await createWorld();
    const planned = await world.controlPlane().plan({ operation: 'up', zone: 'local-a', multizone: true });
    const ensure = planned.steps.find((step) => step.action.kind === 'ensure-firewall')?.action;
    const rules = ensure?.kind === 'ensure-firewall' ? ensure.rules : undefined;
    expect(rules?.map((rule) => rule.name)).toEqual([`${CLUSTER}-master-etcd`, `${CLUSTER}-master-https`]);
    await grow(world, 1);
    expect(world.provider.firewallRules()).toEqual(rules);
    await world.controlPlane().down();
    expect(world.provider.firewallRules()).toEqual([]);
  });
});

describe("a new replica's etcd member", () => {
  // The fake etcd keeps @hacp/etcd's clocks: `memberStart` until a sign of life, then `learnerStall`.
  const timeouts = { ...UNIT_TIMEOUTS, learnerStall: 200, memberStart: 3_000 };

  it('is promoted when it starts after several stall bounds, within the member-start bound', async () => {
    world = await createWorld();
    await grow(world, 1);
    world.etcd.learnerStarts({ startsAfterMs: 1_000 });
    const started = Date.now();
    const result = await world.controlPlane({ timeouts }).replicate({ zone: 'local-b' });
    // It waited out five stall bounds for the member to start, and was not evicted.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(result.steps.find((step) => step.id.startsWith('promote-learner'))?.status).toBe('done');
    expect(await convergenceProblems(world, 2)).toEqual([]);
  });

  it('that never starts is evicted with MEMBER_NOT_STARTED at the member-start bound, and the replica rolled back', async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    world.etcd.learnerStarts('never');
    const started = Date.now();
    const error = (await failure(
      world.controlPlane({ timeouts: { ...timeouts, memberStart: 1_000 } }).replicate({ zone: 'local-b' }),
    )) as HacpError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(isHacpError(error, ErrorCode.MEMBER_NOT_STARTED)).toBe(true);
    expect(error.exitCode).toBe(1);
    expect(error.details).toMatchObject({
      rolledBack: true,
      replica: expect.stringMatching(/^kubernetes-master-/),
    });
    expect(error.message).toMatch(/etcd member never started within 1 s/);
    expect(error.actions.join('\n')).toMatch(
      /gcloud compute instances get-serial-port-output kubernetes-master-\w+ --zone local-b/,
    );
    expect(error.actions.join('\n')).toContain('timeouts.memberStart');
    expect(await providerState(world)).toEqual(before);
    expect(await convergenceProblems(world, 1)).toEqual([]);
  });

  it("whose boot failed ends the replicate at once with the provider's error, not at the member-start bound, and the replica rolled back", async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    world.etcd.learnerStarts('never');
    const { instances } = world.provider;
    const booted = instances.bootProgress.bind(instances);
    const bootFailed = new HacpError({
      code: ErrorCode.UNAVAILABLE,
      message: 'The boot failed: its script said so.',
      actions: ['Read its log.'],
      retryable: false,
    });
    instances.bootProgress = async (ref, options) => {
      if (ref.name !== 'kubernetes-master') throw bootFailed;
      return booted(ref, options);
    };
    const started = Date.now();
    const error = (await failure(
      world.controlPlane({ timeouts: { ...timeouts, memberStart: 60_000 } }).replicate({ zone: 'local-b' }),
    )) as HacpError;
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(isHacpError(error, ErrorCode.UNAVAILABLE)).toBe(true);
    expect(error.message).toContain('The boot failed: its script said so.');
    expect(error.details).toMatchObject({ rolledBack: true });
    expect(await providerState(world)).toEqual(before);
    expect(await convergenceProblems(world, 1)).toEqual([]);
  });

  it('counts as started only once its boot has nothing pending, saying what it waits for', async () => {
    world = await createWorld();
    await grow(world, 1);
    const { instances } = world.provider;
    const booted = instances.bootProgress.bind(instances);
    // Pending for the first two looks of wait-healthy.
    let asked = 0;
    const waitingHealthy = () =>
      world?.events.some((event) => event.type === 'step-started' && event.step.startsWith('wait-healthy'));
    instances.bootProgress = async (ref, options) => {
      if (ref.name === 'kubernetes-master' || !waitingHealthy()) return booted(ref, options);
      asked++;
      return { pending: asked < 3 ? ['its health endpoint to answer'] : [] };
    };
    const result = await world.controlPlane({ timeouts }).replicate({ zone: 'local-b' });
    expect(result.steps.find((step) => step.id.startsWith('wait-healthy'))?.status).toBe('done');
    expect(asked).toBeGreaterThanOrEqual(3);
    expect(world.events).toContainEqual(
      expect.objectContaining({
        type: 'waiting',
        message: expect.stringMatching(
          /^kubernetes-master-\w+'s boot to finish: its health endpoint to answer$/,
        ),
      }),
    );
  });

  it('that starts and then makes no progress is evicted with LEARNER_STALLED at the stall bound', async () => {
    world = await createWorld();
    await grow(world, 1);
    const before = await providerState(world);
    world.etcd.learnerStarts('stalls');
    const started = Date.now();
    const error = (await failure(
      world.controlPlane({ timeouts }).replicate({ zone: 'local-b' }),
    )) as HacpError;
    // The stall bound, not the member-start bound, ended it.
    expect(Date.now() - started).toBeLessThan(timeouts.memberStart);
    expect(isHacpError(error, ErrorCode.LEARNER_STALLED)).toBe(true);
    expect(error.details).toMatchObject({ rolledBack: true });
    expect(await providerState(world)).toEqual(before);
    expect(await convergenceProblems(world, 1)).toEqual([]);
  });
});

// The memory provider, as a plugin may, does not report a replica's data disk intact (Instance.dataDiskIntact).
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

describe('replace keepData where the provider reports the data disk intact', () => {
  it('migrates a stopped replica by itself: its member and its id kept, nothing added or removed', async () => {
    world = await createWorld({ wrap: withIntactDisks });
    await grow(world, 3);
    const ids = async () =>
      (await world?.etcd.snapshotMembers())?.map((member) => `${member.name}:${member.id}:${member.learner}`);
    const members = await ids();
    const name = await stopReplicaIn(world, 'local-b');
    const plan = await world.controlPlane().plan({ operation: 'replace', name });
    expect(plan.steps[0]?.title).toContain('its data disk survived');
    const result = await world.controlPlane().replace({ name });
    expect(result.steps.map((step) => step.id)).toContain(`migrate-member:${name}`);
    expect(world.etcd.count('addLearner')).toBe(2);
    expect(world.etcd.count('removeMember')).toBe(0);
    expect(await convergenceProblems(world, 3)).toEqual([]);
    // The same members and ids; only the migrated one's peer URL follows its new network place.
    expect(await ids()).toEqual(members);
  });
});
