import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CaKey,
  type ClusterPki,
  createClusterPki,
  nextCaKey,
  promoteNextCa,
  withNextCa,
} from '@hacp/certs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PkiStore } from './pki-store.js';
import type { ClusterRecord } from './record.js';

let root: string;
let pki: ClusterPki;
let other: ClusterPki;

/** A record naming the PKI's CAs, but `certPem` for the CA `key`. */
const recordNaming = (key: CaKey, certPem: string) =>
  ({
    cluster: 'kubernetes',
    caCertificates: {
      ca: pki.ca.certPem,
      etcdCa: pki.etcdCa.certPem,
      frontProxyCa: pki.frontProxyCa.certPem,
      [key]: certPem,
    },
  }) as ClusterRecord;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hacp-pki-store-'));
  pki = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
  other = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe.each(['etcdCa', 'ca', 'frontProxyCa'] as const)('PkiStore.load against the record (%s)', (key) => {
  it("refuses a PKI whose CA is not the record's, also mid-rotation, and accepts the one being replaced", async () => {
    const store = new PkiStore(join(root, `rotating-${key}`));
    const promoted = await promoteNextCa(await withNextCa(pki, { ca: key }), { ca: key });
    await store.save(promoted);
    // Until the rotation's last phase, the record names the CA being replaced.
    await expect(store.load(recordNaming(key, pki[key].certPem))).resolves.toBe(promoted);
    await expect(store.load(recordNaming(key, promoted[key].certPem))).resolves.toBe(promoted);
    await expect(store.load(recordNaming(key, other[key].certPem))).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
    });
  });

  it('refuses a PKI that only trusts the next CA the record names (nothing signs with it yet)', async () => {
    const store = new PkiStore(join(root, `trusting-${key}`));
    const trusting = await withNextCa(pki, { ca: key });
    await store.save(trusting);
    await expect(store.load(recordNaming(key, pki[key].certPem))).resolves.toBe(trusting);
    await expect(
      store.load(recordNaming(key, trusting[nextCaKey(key)]?.certPem as string)),
    ).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
  });
});

describe('PkiStore.load against a record written before hacp recorded the front-proxy CA', () => {
  it('checks the CAs that record names', async () => {
    const store = new PkiStore(join(root, 'older-record'));
    await store.save(pki);
    const older = {
      cluster: 'kubernetes',
      caCertificates: { ca: pki.ca.certPem, etcdCa: pki.etcdCa.certPem },
    };
    await expect(store.load(older as ClusterRecord)).resolves.toBe(pki);
    const wrong = { ...older, caCertificates: { ...older.caCertificates, ca: other.ca.certPem } };
    await expect(store.load(wrong as ClusterRecord)).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
  });
});
