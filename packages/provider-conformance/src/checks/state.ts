import assert from 'node:assert/strict';
import { isHacpError, type StateRecord } from '@hacp/core';
import { describeOutcome, expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';

/** Asserts the record at `key` is still `expected` after a refused call. */
async function assertRecord(
  sandbox: Sandbox,
  key: string,
  expected: { version: number; value: unknown } | undefined,
  after: string,
): Promise<void> {
  const record = await sandbox.provider.state.get(key);
  if (expected === undefined) {
    assert.equal(record, undefined, `After ${after}, state key ${key} should not exist, but it does.`);
    return;
  }
  assert.ok(record !== undefined, `After ${after}, state key ${key} is gone; it should be unchanged.`);
  assert.equal(
    record.version,
    expected.version,
    `After ${after}, state key ${key} has version ${record.version}; it should still be ${expected.version}.`,
  );
  assert.deepEqual(
    record.value,
    expected.value,
    `After ${after}, state key ${key} holds ${JSON.stringify(record.value)}; it should still hold ${JSON.stringify(expected.value)}.`,
  );
}

async function create(sandbox: Sandbox, key: string, value: unknown): Promise<StateRecord> {
  return sandbox.provider.state.put(key, value, { requestId: sandbox.requestId(), expectedVersion: 0 });
}

/** The StateStore's records: compare-and-swap puts and deletes, and prefix listing. */
export function stateChecks({ check }: CheckRegistry): void {
  check('get of a missing key is undefined', async (sandbox) => {
    const record = await sandbox.provider.state.get(sandbox.stateKey('missing'));
    assert.equal(
      record,
      undefined,
      `get of a key never written returned ${JSON.stringify(record)}, not undefined.`,
    );
  });

  check(
    'put with expectedVersion 0 creates the record at version 1, and each later put adds one',
    async (sandbox) => {
      const { state } = sandbox.provider;
      const key = sandbox.stateKey('record');
      const created = await create(sandbox, key, { step: 1 });
      assert.equal(created.key, key, `put returned a record for key ${created.key}, not ${key}.`);
      assert.equal(
        created.version,
        1,
        `put with expectedVersion 0 returned version ${created.version}, not 1.`,
      );
      assert.deepEqual(
        created.value,
        { step: 1 },
        'put returned a record whose value is not the one written.',
      );
      const updated = await state.put(
        key,
        { step: 2 },
        { requestId: sandbox.requestId(), expectedVersion: 1 },
      );
      assert.equal(
        updated.version,
        2,
        `put with expectedVersion 1 returned version ${updated.version}, not 2.`,
      );
      await assertRecord(sandbox, key, { version: 2, value: { step: 2 } }, 'two puts');
    },
  );

  check('stores nested JSON as written', async (sandbox) => {
    const key = sandbox.stateKey('nested');
    const value = {
      cluster: sandbox.cluster,
      replicas: [{ name: 'a', zone: 'local-a', voter: true, port: 2379 }, null, 'x', 1.5, -3],
      journal: { steps: [{ id: 'step-1', done: false, detail: { text: 'üñí "quoted" \\ /' } }] },
      empty: { list: [], object: {} },
    };
    const written = structuredClone(value);
    await create(sandbox, key, written);
    written.replicas.length = 0; // The store must have copied it: the caller's object is theirs to change.
    await assertRecord(
      sandbox,
      key,
      { version: 1, value },
      'writing nested JSON and changing the object written',
    );
  });

  check('put with a stale expectedVersion is CONFLICT and writes nothing', async (sandbox) => {
    const { state } = sandbox.provider;
    const key = sandbox.stateKey('record');
    await create(sandbox, key, 'first');
    await state.put(key, 'second', { requestId: sandbox.requestId(), expectedVersion: 1 });
    for (const expectedVersion of [1, 3]) {
      await expectHacpError(
        state.put(key, 'stale', { requestId: sandbox.requestId(), expectedVersion }),
        'CONFLICT',
        `a put with expectedVersion ${expectedVersion} while the stored version is 2`,
      );
      await assertRecord(
        sandbox,
        key,
        { version: 2, value: 'second' },
        `a put with expectedVersion ${expectedVersion}`,
      );
    }
  });

  check(
    'put with expectedVersion 0 on an existing record is CONFLICT and writes nothing',
    async (sandbox) => {
      const key = sandbox.stateKey('record');
      await create(sandbox, key, 'first');
      await expectHacpError(
        create(sandbox, key, 'again'),
        'CONFLICT',
        'a put with expectedVersion 0 on an existing key',
      );
      await assertRecord(
        sandbox,
        key,
        { version: 1, value: 'first' },
        'a put with expectedVersion 0 on an existing key',
      );
    },
  );

  check(
    'of concurrent writers with the same expectedVersion, exactly one wins and the others get CONFLICT',
    async (sandbox) => {
      const { state } = sandbox.provider;
      const key = sandbox.stateKey('contended');
      await create(sandbox, key, { writer: 'none' });
      const writers = ['w0', 'w1', 'w2', 'w3'];
      const outcomes = await Promise.allSettled(
        writers.map((writer) =>
          state.put(key, { writer }, { requestId: sandbox.requestId(), expectedVersion: 1 }),
        ),
      );
      const winners = writers.filter((_, index) => outcomes[index]?.status === 'fulfilled');
      assert.equal(
        winners.length,
        1,
        `${writers.length} concurrent puts with expectedVersion 1 should have one winner; ${winners.length} succeeded (${winners.join(', ')}).`,
      );
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          assert.ok(
            isHacpError(outcome.reason, 'CONFLICT'),
            `A put that lost a concurrent race should throw CONFLICT, but it threw ${describeOutcome(outcome.reason)}.`,
          );
        }
      }
      await assertRecord(sandbox, key, { version: 2, value: { writer: winners[0] } }, 'the concurrent puts');
    },
  );

  check('of concurrent creators (expectedVersion 0), exactly one wins', async (sandbox) => {
    const key = sandbox.stateKey('created-once');
    const creators = ['c0', 'c1', 'c2', 'c3'];
    const outcomes = await Promise.allSettled(creators.map((creator) => create(sandbox, key, { creator })));
    const winners = creators.filter((_, index) => outcomes[index]?.status === 'fulfilled');
    assert.equal(
      winners.length,
      1,
      `${creators.length} concurrent puts with expectedVersion 0 should have one winner; ${winners.length} succeeded (${winners.join(', ')}).`,
    );
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        assert.ok(
          isHacpError(outcome.reason, 'CONFLICT'),
          `A create that lost a concurrent race should throw CONFLICT, but it threw ${describeOutcome(outcome.reason)}.`,
        );
      }
    }
    await assertRecord(
      sandbox,
      key,
      { version: 1, value: { creator: winners[0] } },
      'the concurrent creates',
    );
  });

  check('delete with the wrong expectedVersion is CONFLICT and deletes nothing', async (sandbox) => {
    const { state } = sandbox.provider;
    const key = sandbox.stateKey('record');
    await create(sandbox, key, 'kept');
    for (const expectedVersion of [0, 2]) {
      await expectHacpError(
        state.delete(key, { requestId: sandbox.requestId(), expectedVersion }),
        'CONFLICT',
        `a delete with expectedVersion ${expectedVersion} while the stored version is 1`,
      );
      await assertRecord(
        sandbox,
        key,
        { version: 1, value: 'kept' },
        `a delete with expectedVersion ${expectedVersion}`,
      );
    }
  });

  check('delete removes the record; deleting a missing record is fine', async (sandbox) => {
    const { state } = sandbox.provider;
    const key = sandbox.stateKey('record');
    await create(sandbox, key, 'doomed');
    const requestId = sandbox.requestId();
    await state.delete(key, { requestId, expectedVersion: 1 });
    await assertRecord(sandbox, key, undefined, 'deleting it');
    await expectSuccess(
      state.delete(key, { requestId, expectedVersion: 1 }),
      'repeating a successful state delete with its requestId',
    );
    await expectSuccess(
      state.delete(sandbox.stateKey('never-written'), { requestId: sandbox.requestId(), expectedVersion: 1 }),
      'deleting a key that was never written',
    );
    // A key can be created again once deleted: nothing of it lingers.
    const recreated = await create(sandbox, key, 'again');
    assert.equal(
      recreated.version,
      1,
      `A key created again after delete got version ${recreated.version}, not 1.`,
    );
  });

  check('list(prefix) returns only the keys that start with the prefix, sorted', async (sandbox) => {
    const { state } = sandbox.provider;
    const prefix = `${sandbox.cluster}/`;
    for (const suffix of ['b', 'a/nested', 'ab', 'a'])
      await create(sandbox, sandbox.stateKey(suffix), suffix);
    const outside = `${sandbox.cluster}-other/a`;
    sandbox.trackStateKey(outside);
    await create(sandbox, outside, 'outside');
    const all = await state.list(prefix);
    const expected = ['a', 'a/nested', 'ab', 'b'].map((suffix) => prefix + suffix);
    assert.deepEqual(
      all,
      expected,
      `list("${prefix}") returned ${JSON.stringify(all)}; expected ${JSON.stringify(expected)}.`,
    );
    const narrower = await state.list(`${prefix}a`);
    const expectedNarrower = expected.slice(0, 3);
    assert.deepEqual(
      narrower,
      expectedNarrower,
      `list("${prefix}a") returned ${JSON.stringify(narrower)}; expected ${JSON.stringify(expectedNarrower)} (a prefix matches keys as strings, not as folders).`,
    );
    const none = await state.list(`${sandbox.cluster}/zzz`);
    assert.deepEqual(none, [], `list of a prefix no key has returned ${JSON.stringify(none)}, not [].`);
  });
}
