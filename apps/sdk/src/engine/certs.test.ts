/**
 * `certs renew` where the provider cannot rewrite a running replica's files (GCE has no syncFiles
 * or stopProcesses): refused before anything changes, naming `hacp replace` as the way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, isHacpError } from '@hacp/core';
import type { MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { grow } from './scenarios.test-support.js';
import { createWorld, failure, providerState, type World } from './world.test-support.js';

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/** The memory provider without the instance methods GCE lacks. */
function withoutFileUpdates(memory: MemoryProvider): MemoryProvider {
  const { syncFiles: _sync, stopProcesses: _stop, ...instances } = memory.instances;
  return { ...memory, instances: instances as MemoryProvider['instances'] };
}

describe('certs renew on a provider that cannot update running replicas', () => {
  it('is refused with PROVIDER_ERROR, naming hacp replace for each replica, and nothing changes', async () => {
    world = await createWorld({ wrap: withoutFileUpdates });
    await grow(world, 2);
    const before = await providerState(world);
    const pki = await readFile(join(world.dataDir, 'pki', 'pki', 'etcd', 'healthcheck-client.crt'), 'utf8');
    const error = await failure(world.controlPlane().certs.renew());
    expect(isHacpError(error, ErrorCode.PROVIDER_ERROR)).toBe(true);
    expect(error.message).toContain('cannot rewrite the certificates of a running replica');
    expect(error.message).toContain('instances.syncFiles, instances.stopProcesses');
    const replicas = (await world.provider.instances.list({ cluster: 'kubernetes' })).map((i) => i.name);
    for (const name of replicas) expect(error.actions.join(' ')).toContain(`hacp replace --replica ${name}`);
    expect(await providerState(world)).toEqual(before);
    expect(await readFile(join(world.dataDir, 'pki', 'pki', 'etcd', 'healthcheck-client.crt'), 'utf8')).toBe(
      pki,
    );
  });
});
