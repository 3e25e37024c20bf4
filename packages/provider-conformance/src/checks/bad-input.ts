import assert from 'node:assert/strict';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry } from '../sandbox.js';

/** Malformed arguments: refused with INVALID_ARGUMENT or ZONE_INVALID before anything changes. */
export function badInputChecks({ check }: CheckRegistry): void {
  check('an invalid instance name is INVALID_ARGUMENT and creates nothing', async (sandbox) => {
    const { instances } = sandbox.provider;
    const name = 'Bad_Name';
    const ref = { name, zone: sandbox.zone, cluster: sandbox.cluster };
    await expectHacpError(
      instances.allocateNetwork(ref, { requestId: sandbox.requestId() }),
      'INVALID_ARGUMENT',
      `allocateNetwork for instance name "${name}"`,
    );
    await expectHacpError(
      instances.create({ ...ref, nodeConfig: sandbox.nodeConfig(name) }, { requestId: sandbox.requestId() }),
      'INVALID_ARGUMENT',
      `create of instance name "${name}"`,
    );
    const listed = await instances.list({ cluster: sandbox.cluster });
    assert.deepEqual(
      listed,
      [],
      `After creates refused for their name, list shows ${JSON.stringify(listed)}.`,
    );
  });

  check('an invalid cluster name is INVALID_ARGUMENT and creates nothing', async (sandbox) => {
    const { instances } = sandbox.provider;
    const name = sandbox.instanceName();
    const spec = { name, zone: sandbox.zone, cluster: 'Bad_Cluster', nodeConfig: sandbox.nodeConfig(name) };
    await expectHacpError(
      instances.create(spec, { requestId: sandbox.requestId() }),
      'INVALID_ARGUMENT',
      'create for cluster "Bad_Cluster"',
    );
    // Nothing was allocated to the bad cluster: the valid one can have the name.
    await expectSuccess(
      sandbox.createInstance({ name }),
      `creating ${name} in cluster ${sandbox.cluster} after its create for "Bad_Cluster" was refused`,
    );
  });

  check("zone 'nozone' is ZONE_INVALID for allocateNetwork and allocates nothing", async (sandbox) => {
    const { instances } = sandbox.provider;
    const name = sandbox.instanceName();
    await expectHacpError(
      instances.allocateNetwork(
        { name, zone: 'nozone', cluster: sandbox.cluster },
        { requestId: sandbox.requestId() },
      ),
      'ZONE_INVALID',
      "allocateNetwork in zone 'nozone'",
    );
    sandbox.trackInstance({ name, zone: sandbox.zone });
    await expectSuccess(
      instances.allocateNetwork(
        { name, zone: sandbox.zone, cluster: sandbox.cluster },
        { requestId: sandbox.requestId() },
      ),
      `allocating ${name} in ${sandbox.zone} after its allocation in 'nozone' was refused`,
    );
  });

  check('an empty state key is INVALID_ARGUMENT and writes nothing', async (sandbox) => {
    const { state } = sandbox.provider;
    await expectHacpError(
      state.put('', 'value', { requestId: sandbox.requestId(), expectedVersion: 0 }),
      'INVALID_ARGUMENT',
      'a put of the empty key',
    );
    const keys = await state.list('');
    assert.ok(!keys.includes(''), 'A put of the empty key was refused, yet list("") shows the empty key.');
  });

  check('an expectedVersion of -1 or 1.5 is INVALID_ARGUMENT and changes nothing', async (sandbox) => {
    const { state } = sandbox.provider;
    const key = sandbox.stateKey('record');
    await state.put(key, 'kept', { requestId: sandbox.requestId(), expectedVersion: 0 });
    for (const expectedVersion of [-1, 1.5]) {
      await expectHacpError(
        state.put(key, 'changed', { requestId: sandbox.requestId(), expectedVersion }),
        'INVALID_ARGUMENT',
        `a put with expectedVersion ${expectedVersion}`,
      );
      await expectHacpError(
        state.delete(key, { requestId: sandbox.requestId(), expectedVersion }),
        'INVALID_ARGUMENT',
        `a delete with expectedVersion ${expectedVersion}`,
      );
    }
    const record = await state.get(key);
    assert.ok(
      record !== undefined,
      `After puts and deletes refused for their expectedVersion, ${key} is gone.`,
    );
    assert.equal(record.version, 1, `After refused puts, ${key} has version ${record.version}, not 1.`);
    assert.equal(record.value, 'kept', `After refused puts, ${key} holds ${JSON.stringify(record.value)}.`);
  });

  check('a lock ttlMs of 0 is INVALID_ARGUMENT and takes no lock', async (sandbox) => {
    const { state } = sandbox.provider;
    const name = sandbox.lockName();
    await expectHacpError(
      state.lock(name, { holder: `${sandbox.cluster}-a`, ttlMs: 0 }),
      'INVALID_ARGUMENT',
      'taking a lock with ttlMs 0',
    );
    sandbox.trackLock(
      await expectSuccess(
        state.lock(name, { holder: `${sandbox.cluster}-b`, ttlMs: 30_000 }),
        `taking lock ${name} after a take with ttlMs 0 was refused`,
      ),
    );
  });
}

/** An aborted call throws ABORTED and leaves things as a failure does. */
export function abortChecks({ check }: CheckRegistry): void {
  check('a put or create with an already aborted signal is ABORTED and changes nothing', async (sandbox) => {
    const { state, instances } = sandbox.provider;
    const signal = AbortSignal.abort();
    const key = sandbox.stateKey('aborted');
    await expectHacpError(
      state.put(key, 'value', { requestId: sandbox.requestId(), expectedVersion: 0, signal }),
      'ABORTED',
      'a put with an aborted signal',
    );
    const record = await state.get(key);
    assert.equal(record, undefined, `An aborted put wrote ${key} anyway: ${JSON.stringify(record)}.`);
    const spec = sandbox.instanceSpec();
    await expectHacpError(
      instances.create(spec, { requestId: sandbox.requestId(), signal }),
      'ABORTED',
      'a create with an aborted signal',
    );
    const listed = await instances.list({ cluster: sandbox.cluster });
    assert.deepEqual(listed, [], `An aborted create left instances behind: ${JSON.stringify(listed)}.`);
  });
}
