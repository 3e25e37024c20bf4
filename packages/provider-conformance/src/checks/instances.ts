import assert from 'node:assert/strict';
import type { Instance, InstanceNetwork, InstanceRef } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';

/** A command no machine has, so that starting it fails. */
export const MISSING_COMMAND = '/nonexistent/hacp-conformance-missing';

/** Asserts `actual` is the instance `expected` describes, as `what` returned it. */
export function assertSameInstance(
  actual: Instance | undefined,
  expected: Pick<Instance, 'name' | 'zone' | 'cluster' | 'internalIp'>,
  what: string,
): asserts actual is Instance {
  assert.ok(actual !== undefined, `${what} returned undefined; instance ${expected.name} should exist.`);
  for (const field of ['name', 'zone', 'cluster', 'internalIp'] as const) {
    assert.equal(
      actual[field],
      expected[field],
      `${what} returned ${field} ${JSON.stringify(actual[field])} for instance ${expected.name}; it should be ${JSON.stringify(expected[field])}.`,
    );
  }
}

async function assertGone(sandbox: Sandbox, ref: InstanceRef, cluster: string, after: string): Promise<void> {
  const found = await sandbox.provider.instances.get(ref);
  assert.equal(
    found,
    undefined,
    `After ${after}, get still returns instance ${ref.name}; it should not exist.`,
  );
  const listed = await sandbox.provider.instances.list({ cluster });
  assert.ok(
    listed.every((instance) => instance.name !== ref.name),
    `After ${after}, list({ cluster: ${cluster} }) still shows instance ${ref.name}.`,
  );
}

function assertNetwork(network: InstanceNetwork, name: string): void {
  assert.ok(
    typeof network.internalIp === 'string' && network.internalIp.length > 0,
    `allocateNetwork gave ${name} no internalIp.`,
  );
  assert.ok(
    typeof network.hostname === 'string' && network.hostname.length > 0,
    `allocateNetwork gave ${name} no hostname.`,
  );
  assert.ok(
    Number.isInteger(network.portOffset) && network.portOffset >= 0,
    `allocateNetwork gave ${name} the portOffset ${network.portOffset}; it should be an integer of 0 or more.`,
  );
  assert.ok(
    typeof network.rootDir === 'string' && network.rootDir.startsWith('/'),
    `allocateNetwork gave ${name} the rootDir ${JSON.stringify(network.rootDir)}; it should be an absolute path.`,
  );
}

/** Instances: network allocation, idempotent create, get, list, delete, refusals, stop and start. */
export function instanceChecks({ check, capabilities }: CheckRegistry): void {
  check(
    'allocateNetwork returns an internal IP, hostname and port offset, the same when asked again',
    async (sandbox) => {
      const { instances } = sandbox.provider;
      const spec = sandbox.instanceSpec();
      const ref = { name: spec.name, zone: spec.zone, cluster: spec.cluster };
      const requestId = sandbox.requestId();
      const network = await instances.allocateNetwork(ref, { requestId });
      assertNetwork(network, spec.name);
      const again = await instances.allocateNetwork(ref, { requestId: sandbox.requestId() });
      assert.deepEqual(
        again,
        network,
        `allocateNetwork for ${spec.name} returned ${JSON.stringify(again)} the second time and ${JSON.stringify(network)} the first; it should be idempotent by name.`,
      );
    },
  );

  check('allocateNetwork of a name allocated to another cluster is ALREADY_EXISTS', async (sandbox) => {
    const { instances } = sandbox.provider;
    const spec = sandbox.instanceSpec();
    const network = await instances.allocateNetwork(spec, { requestId: sandbox.requestId() });
    const other = sandbox.otherCluster();
    await expectHacpError(
      instances.allocateNetwork({ ...spec, cluster: other }, { requestId: sandbox.requestId() }),
      'ALREADY_EXISTS',
      `allocateNetwork of ${spec.name} for cluster ${other} while cluster ${spec.cluster} has it`,
    );
    const kept = await instances.allocateNetwork(spec, { requestId: sandbox.requestId() });
    assert.deepEqual(kept, network, `A refused allocateNetwork changed the allocation of ${spec.name}.`);
  });

  check(
    'create returns the running instance on its allocated network, labelled with its cluster',
    async (sandbox) => {
      const { instances } = sandbox.provider;
      const spec = sandbox.instanceSpec({ labels: { purpose: 'conformance' } });
      const network = await instances.allocateNetwork(spec, { requestId: sandbox.requestId() });
      const instance = await instances.create(spec, { requestId: sandbox.requestId() });
      assertSameInstance(instance, { ...spec, internalIp: network.internalIp }, 'create');
      assert.ok(
        instance.status === 'running' || instance.status === 'provisioning',
        `create returned status ${instance.status}; a new instance is 'running' or 'provisioning'.`,
      );
      assert.equal(
        instance.hostname ?? instance.name,
        network.hostname,
        `create returned hostname ${instance.hostname ?? `(absent, meaning ${instance.name})`}; allocateNetwork said ${network.hostname}.`,
      );
      assert.equal(
        instance.portOffset ?? 0,
        network.portOffset,
        `create returned portOffset ${instance.portOffset ?? '(absent, meaning 0)'}; allocateNetwork said ${network.portOffset}.`,
      );
      assert.equal(
        instance.labels?.['hacp-cluster'],
        spec.cluster,
        `create returned labels ${JSON.stringify(instance.labels)}; providers add hacp-cluster=${spec.cluster}.`,
      );
      assert.equal(instance.labels.purpose, 'conformance', 'create dropped the labels the spec gave.');
      assert.ok(
        instance.createdAt instanceof Date && !Number.isNaN(instance.createdAt.getTime()),
        `create returned createdAt ${String(instance.createdAt)}, not a valid Date.`,
      );
    },
  );

  check('create again with the same spec returns the same instance', async (sandbox) => {
    const { instances } = sandbox.provider;
    const spec = sandbox.instanceSpec();
    const requestId = sandbox.requestId();
    const first = await instances.create(spec, { requestId });
    const retried = await expectSuccess(
      instances.create(spec, { requestId }),
      'repeating a successful create with its requestId',
    );
    assertSameInstance(retried, first, 'create repeated with the same requestId');
    const again = await expectSuccess(
      instances.create(spec, { requestId: sandbox.requestId() }),
      'creating an instance that exists with the same spec',
    );
    assertSameInstance(again, first, 'create of an existing instance with the same spec');
    const listed = await instances.list({ cluster: spec.cluster });
    assert.equal(
      listed.length,
      1,
      `After creating ${spec.name} three times, list shows ${listed.length} instances, not 1.`,
    );
  });

  check('get returns the instance; get of a missing one is undefined', async (sandbox) => {
    const { instances } = sandbox.provider;
    const created = await sandbox.createInstance();
    assertSameInstance(await instances.get(created), created, 'get');
    const missing = await instances.get({ name: sandbox.instanceName(), zone: sandbox.zone });
    assert.equal(missing, undefined, `get of an instance never created returned ${JSON.stringify(missing)}.`);
  });

  check("list returns only the cluster's instances, across zones, sorted by name", async (sandbox) => {
    const { instances } = sandbox.provider;
    const first = sandbox.instanceName();
    const second = sandbox.instanceName();
    // Created in reverse name order, so a list in creation order is caught.
    const b = await sandbox.createInstance({ name: second, zone: sandbox.zone });
    const a = await sandbox.createInstance({ name: first, zone: sandbox.secondZone });
    const other = sandbox.otherCluster();
    await sandbox.createInstance({ cluster: other });
    const listed = await instances.list({ cluster: sandbox.cluster });
    const names = listed.map((instance) => instance.name);
    assert.deepEqual(
      names,
      [first, second],
      `list({ cluster: ${sandbox.cluster} }) returned ${JSON.stringify(names)}; expected [${first}, ${second}] (this cluster only, sorted by name).`,
    );
    assertSameInstance(listed[0], a, 'list');
    assertSameInstance(listed[1], b, 'list');
  });

  check('delete removes the instance; deleting it again is fine', async (sandbox) => {
    const { instances } = sandbox.provider;
    const instance = await sandbox.createInstance();
    const ref = { name: instance.name, zone: instance.zone };
    const requestId = sandbox.requestId();
    await instances.delete(ref, { requestId });
    await assertGone(sandbox, ref, sandbox.cluster, 'delete');
    await expectSuccess(
      instances.delete(ref, { requestId }),
      'repeating a successful instance delete with its requestId',
    );
    await expectSuccess(
      instances.delete(ref, { requestId: sandbox.requestId() }),
      'deleting an instance that is already gone',
    );
    await assertGone(sandbox, ref, sandbox.cluster, 'deleting it again');
  });

  check('create in an invalid zone is ZONE_INVALID and creates nothing', async (sandbox) => {
    const { instances } = sandbox.provider;
    const name = sandbox.instanceName();
    const spec = { name, zone: 'nozone', cluster: sandbox.cluster, nodeConfig: sandbox.nodeConfig(name) };
    await expectHacpError(
      instances.create(spec, { requestId: sandbox.requestId() }),
      'ZONE_INVALID',
      "create in zone 'nozone'",
    );
    const listed = await instances.list({ cluster: sandbox.cluster });
    assert.deepEqual(
      listed,
      [],
      `After a create refused for its zone, list shows ${JSON.stringify(listed)}.`,
    );
    // Nothing was allocated either: the same name can be created in a valid zone.
    await expectSuccess(
      sandbox.createInstance({ name }),
      `creating ${name} in ${sandbox.zone} after its create in 'nozone' was refused`,
    );
  });

  check(
    'create with a name another cluster uses is ALREADY_EXISTS and leaves that instance alone',
    async (sandbox) => {
      const { instances } = sandbox.provider;
      const original = await sandbox.createInstance();
      const other = sandbox.otherCluster();
      await expectHacpError(
        sandbox.createInstance({ name: original.name, cluster: other }),
        'ALREADY_EXISTS',
        `create of ${original.name} for cluster ${other} while cluster ${original.cluster} has it`,
      );
      const kept = await instances.get(original);
      assertSameInstance(kept, original, 'get after the refused create');
      assert.equal(
        kept.status,
        original.status,
        `A refused create changed ${original.name}'s status to ${kept.status}.`,
      );
      const listed = await instances.list({ cluster: other });
      assert.deepEqual(
        listed,
        [],
        `After the refused create, list({ cluster: ${other} }) shows ${JSON.stringify(listed)}.`,
      );
    },
  );

  if (capabilities.failedStartRollsBack) {
    check('create whose process cannot start throws and leaves no instance', async (sandbox) => {
      const name = sandbox.instanceName();
      const base = sandbox.nodeConfig(name);
      const nodeConfig = {
        files: base.files,
        processes: [{ name: 'missing', command: MISSING_COMMAND, args: [] }],
      };
      await expectHacpError(
        sandbox.createInstance({ name, nodeConfig }),
        // Any code will do: what matters is that it throws a HacpError and rolls back.
        undefined,
        `create of ${name}, whose process runs ${MISSING_COMMAND}`,
      );
      await assertGone(
        sandbox,
        { name, zone: sandbox.zone },
        sandbox.cluster,
        'a create whose process could not start',
      );
    });
  }

  check(
    'an instance that says its data disk is intact hands it to the next create of its name after delete with keepDisk',
    async (sandbox) => {
      const { instances } = sandbox.provider;
      const instance = await sandbox.createInstance();
      // Optional: a provider that does not report the disk makes the SDK refuse member migration.
      if (instance.dataDiskIntact !== true) return;
      const ref = { name: instance.name, zone: instance.zone };
      await instances.delete(ref, { requestId: sandbox.requestId(), keepDisk: true });
      await assertGone(sandbox, ref, sandbox.cluster, 'delete with keepDisk');
      const again = await sandbox.createInstance({
        name: ref.name,
        zone: ref.zone,
        dataDiskHandedOver: true,
      });
      assert.equal(
        again.dataDiskIntact,
        true,
        `${ref.name}, made again on the disk its delete with keepDisk kept, does not say dataDiskIntact.`,
      );
      await instances.delete(ref, { requestId: sandbox.requestId() });
      await assertGone(sandbox, ref, sandbox.cluster, 'delete without keepDisk');
    },
  );

  if (capabilities.stopStart) {
    check('stop makes the instance stopped and start makes it running again', async (sandbox) => {
      const { instances } = sandbox.provider;
      assert.ok(
        instances.stop && instances.start,
        'The stopStart capability is set, but instances.stop or start is missing.',
      );
      const instance = await sandbox.createInstance();
      const ref = { name: instance.name, zone: instance.zone };
      await instances.stop(ref, { requestId: sandbox.requestId() });
      const stopped = await instances.get(ref);
      assertSameInstance(stopped, instance, 'get after stop');
      assert.equal(
        stopped.status,
        'stopped',
        `After stop, ${instance.name} has status ${stopped.status}, not 'stopped'.`,
      );
      await instances.start(ref, { requestId: sandbox.requestId() });
      const started = await instances.get(ref);
      assertSameInstance(started, instance, 'get after start');
      assert.equal(
        started.status,
        'running',
        `After start, ${instance.name} has status ${started.status}, not 'running'.`,
      );
    });

    check(
      'start of a running instance changes nothing; stop and start of a missing one are NOT_FOUND',
      async (sandbox) => {
        const { instances } = sandbox.provider;
        assert.ok(
          instances.stop && instances.start,
          'The stopStart capability is set, but stop or start is missing.',
        );
        const instance = await sandbox.createInstance();
        const ref = { name: instance.name, zone: instance.zone };
        await expectSuccess(
          instances.start(ref, { requestId: sandbox.requestId() }),
          'start of a running instance',
        );
        const after = await instances.get(ref);
        assertSameInstance(after, instance, 'get after start of a running instance');
        assert.equal(
          after.status,
          'running',
          `Start of the running ${instance.name} left it ${after.status}.`,
        );
        const missing = { name: sandbox.instanceName(), zone: sandbox.zone };
        await expectHacpError(
          instances.start(missing, { requestId: sandbox.requestId() }),
          'NOT_FOUND',
          `start of ${missing.name}, which does not exist`,
        );
        await expectHacpError(
          instances.stop(missing, { requestId: sandbox.requestId() }),
          'NOT_FOUND',
          `stop of ${missing.name}, which does not exist`,
        );
        await assertGone(sandbox, missing, sandbox.cluster, 'start and stop of a missing instance');
      },
    );
  }

  if (capabilities.deleteLeftovers) {
    check('deleteLeftovers deletes what is left of one cluster and nothing of another', async (sandbox) => {
      const { provider } = sandbox;
      assert.ok(
        provider.deleteLeftovers,
        'The deleteLeftovers capability is set, but provider.deleteLeftovers is missing.',
      );
      const instance = await sandbox.createInstance();
      // A network place allocated for an instance that was never made (or was deleted by hand).
      const leftover = { name: sandbox.instanceName(), zone: sandbox.zone, cluster: sandbox.cluster };
      sandbox.trackInstance(leftover);
      await provider.instances.allocateNetwork(leftover, { requestId: sandbox.requestId() });
      const other = sandbox.otherCluster();
      const kept = await sandbox.createInstance({ cluster: other });
      const options = { requestId: sandbox.requestId() };
      const deleted = await provider.deleteLeftovers(
        { cluster: sandbox.cluster, region: sandbox.region },
        options,
      );
      assert.ok(
        Array.isArray(deleted) && deleted.every((entry) => typeof entry === 'string'),
        'deleteLeftovers should return the list of what it deleted.',
      );
      assert.ok(
        deleted.some((entry) => entry.endsWith(`/${instance.name}`)),
        `deleteLeftovers returned ${JSON.stringify(deleted)}, which does not name instance ${instance.name}.`,
      );
      await assertGone(sandbox, instance, sandbox.cluster, 'deleteLeftovers');
      // The leftover's name is free again: another cluster can have it.
      await expectSuccess(
        provider.instances.allocateNetwork(
          { ...leftover, cluster: other },
          { requestId: sandbox.requestId() },
        ),
        `allocateNetwork of ${leftover.name} for another cluster after deleteLeftovers`,
      );
      const survivor = await provider.instances.get({ name: kept.name, zone: kept.zone });
      assertSameInstance(survivor, kept, "get of another cluster's instance after deleteLeftovers");
      const again = await provider.deleteLeftovers(
        { cluster: sandbox.cluster, region: sandbox.region },
        {
          requestId: sandbox.requestId(),
        },
      );
      assert.deepEqual(
        again,
        [],
        `A second deleteLeftovers deleted ${JSON.stringify(again)}; nothing was left.`,
      );
    });
  }
}
