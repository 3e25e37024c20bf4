import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterPki, createClusterPki, promoteNextEtcdCa, withNextEtcdCa } from '@hacp/certs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PkiStore } from './pki-store.js';
import type { ClusterRecord } from './record.js';

let root: string;
let pki: ClusterPki;
let other: ClusterPki;

const recordNaming = (etcdCa: string) =>
  ({ cluster: 'kubernetes', caCertificates: { ca: pki.ca.certPem, etcdCa } }) as ClusterRecord;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hacp-pki-store-'));
  pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
  other = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('PkiStore.load against the record', () => {
  it("refuses a PKI whose etcd CA is not the record's, also mid-rotation, and accepts the one being replaced", async () => {
    const store = new PkiStore(join(root, 'rotating'));
    const promoted = await promoteNextEtcdCa(await withNextEtcdCa(pki));
    await store.save(promoted);
    // Until the rotation's last phase, the record names the CA being replaced.
    await expect(store.load(recordNaming(pki.etcdCa.certPem))).resolves.toBe(promoted);
    await expect(store.load(recordNaming(promoted.etcdCa.certPem))).resolves.toBe(promoted);
    await expect(store.load(recordNaming(other.etcdCa.certPem))).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
    });
  });

  it('refuses a PKI that only trusts the next etcd CA the record names (nothing signs with it yet)', async () => {
    const store = new PkiStore(join(root, 'trusting'));
    const trusting = await withNextEtcdCa(pki);
    await store.save(trusting);
    await expect(store.load(recordNaming(pki.etcdCa.certPem))).resolves.toBe(trusting);
    await expect(store.load(recordNaming(trusting.etcdCaNext?.certPem as string))).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
    });
  });
});
