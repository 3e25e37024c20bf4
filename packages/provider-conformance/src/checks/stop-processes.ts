import assert from 'node:assert/strict';
import type { InstanceApi } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';
import { assertSameInstance } from './instances.js';

/** A process name no NodeConfig has. */
const UNKNOWN_PROCESS = 'hacp-conformance-unknown';

type StopProcesses = NonNullable<InstanceApi['stopProcesses']>;

/** The provider's stopProcesses; the test skips itself where there is none (fails with the capability set). */
export function stopProcessesOf(sandbox: Sandbox): StopProcesses {
  const { instances } = sandbox.provider;
  if (typeof instances.stopProcesses === 'function') return instances.stopProcesses.bind(instances);
  assert.ok(
    sandbox.capabilities.stopProcesses !== true,
    'The stopProcesses capability is set, but instances.stopProcesses is missing.',
  );
  return sandbox.skip(
    'the provider does not offer instances.stopProcesses',
    'pass capabilities.stopProcesses: false to leave it out',
  );
}

/**
 * The optional `instances.stopProcesses`: NOT_FOUND for a missing instance; stopping processes
 * keeps the instance and its status; unknown names, repeats and stopped processes are fine.
 */
export function stopProcessesChecks({ check, capabilities }: CheckRegistry): void {
  if (capabilities.stopProcesses === false) return;

  check('stopProcesses of a missing instance is NOT_FOUND', async (sandbox) => {
    const stopProcesses = stopProcessesOf(sandbox);
    const ref = { name: sandbox.instanceName(), zone: sandbox.zone };
    await expectHacpError(
      stopProcesses(ref, [UNKNOWN_PROCESS], { requestId: sandbox.requestId() }),
      'NOT_FOUND',
      `stopProcesses of instance ${ref.name}, which was never created,`,
    );
  });

  check(
    'stopProcesses keeps the instance running; unknown names, a repeat and stopped processes are fine',
    async (sandbox) => {
      const stopProcesses = stopProcessesOf(sandbox);
      const instance = await sandbox.createInstance();
      const ref = { name: instance.name, zone: instance.zone };
      const before = await sandbox.provider.instances.get(ref);
      const names = sandbox.nodeConfig(instance.name).processes.map((process) => process.name);
      const requestId = sandbox.requestId();
      await expectSuccess(
        stopProcesses(ref, [...names, UNKNOWN_PROCESS], { requestId }),
        `stopProcesses of ${instance.name}'s processes ${JSON.stringify(names)} and one it does not run`,
      );
      await expectSuccess(
        stopProcesses(ref, [...names, UNKNOWN_PROCESS], { requestId }),
        'repeating a successful stopProcesses with its requestId',
      );
      await expectSuccess(
        stopProcesses(ref, names, { requestId: sandbox.requestId() }),
        'stopProcesses of processes already stopped',
      );
      const kept = await sandbox.provider.instances.get(ref);
      assertSameInstance(kept, instance, 'get after stopProcesses');
      // Stopped on purpose is not a failure: the machine runs on, as before.
      assert.equal(
        kept.status,
        before?.status,
        `After stopProcesses, ${instance.name} has status ${kept.status}, not ${before?.status} as before; the instance itself keeps running.`,
      );
    },
  );

  check('stopProcesses with an already aborted signal is ABORTED and keeps the instance', async (sandbox) => {
    const stopProcesses = stopProcessesOf(sandbox);
    const instance = await sandbox.createInstance();
    const ref = { name: instance.name, zone: instance.zone };
    await expectHacpError(
      stopProcesses(ref, [UNKNOWN_PROCESS], { requestId: sandbox.requestId(), signal: AbortSignal.abort() }),
      'ABORTED',
      'stopProcesses with an aborted signal',
    );
    const kept = await sandbox.provider.instances.get(ref);
    assertSameInstance(kept, instance, 'get after an aborted stopProcesses');
    assert.equal(kept.status, instance.status, `An aborted stopProcesses changed ${instance.name}'s status.`);
  });
}
