import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterPki } from '@hacp/certs';
import { isHacpError } from '@hacp/core';
import { createMemoryProvider } from '@hacp/provider-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { PkiStore } from './pki-store.js';

let root: string | undefined;
afterEach(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
  root = undefined;
});

describe('up', () => {
  it('refuses a PKI folder that holds another cluster of the name, before anything is written', async () => {
    root = await mkdtemp(join(tmpdir(), 'hacp-sdk-up-'));
    const dataDir = join(root, 'clusters', 'kubernetes');
    // The PKI another provider's cluster "kubernetes" left in the same state folder.
    const store = new PkiStore(dataDir);
    const theirs = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '127.9.9.9' });
    await store.save(theirs);
    const provider = createMemoryProvider({ name: 'mine' });
    const controlPlane = createControlPlane({ provider, dataDir });
    let error: unknown;
    try {
      await controlPlane.up({ zone: 'local-a' });
    } catch (thrown) {
      error = thrown;
    }
    expect(isHacpError(error, 'ALREADY_EXISTS')).toBe(true);
    expect((error as Error).message).toContain('holds the PKI of another cluster named kubernetes');
    expect((error as { exitCode: number }).exitCode).toBe(2);
    // Nothing written: no journal, record or address in the provider, the CAs as they were.
    expect(await provider.state.list('')).toEqual([]);
    expect(await provider.addresses.get({ name: 'kubernetes-master-ip', region: 'local' })).toBeUndefined();
    const kept = await new PkiStore(dataDir).load();
    expect(kept.ca.certPem).toBe(theirs.ca.certPem);
    expect(kept.etcdCa.certPem).toBe(theirs.etcdCa.certPem);
    await controlPlane.close();
  });
});
