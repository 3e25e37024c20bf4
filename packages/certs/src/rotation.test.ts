import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPki, replicaNodeFiles, writePki } from './files.js';
import { certificatesOf, createClusterPki, issueReplicaCerts, withReplica } from './pki.js';
import { etcdTrustedCaPem, promoteNextEtcdCa, withNextEtcdCa, withoutPreviousEtcdCa } from './rotation.js';
import type { ClusterPki } from './types.js';

let root: string;
let pki: ClusterPki;

const signedBy = (certPem: string, caPem: string) =>
  new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
const caFile = (value: ClusterPki) =>
  replicaNodeFiles(value, 'kubernetes-master').find((file) => file.path === 'pki/etcd/ca.crt')?.contents;
const pemCount = (text: unknown) => String(text).split('-----BEGIN CERTIFICATE-----').length - 1;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hacp-rotation-'));
  const base = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
  pki = withReplica(
    base,
    await issueReplicaCerts(base, {
      replicaName: 'kubernetes-master',
      hostname: 'kubernetes-master',
      internalIp: '10.0.0.2',
    }),
  );
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('etcd CA rotation', () => {
  it('trusts both CAs, then signs every etcd leaf with the new one, then drops the old, each phase surviving a write and load', async () => {
    const dir = join(root, 'phases');
    const oldCa = pki.etcdCa.certPem;

    const trusting = await withNextEtcdCa(pki);
    expect(await withNextEtcdCa(trusting)).toBe(trusting);
    const next = trusting.etcdCaNext?.certPem as string;
    expect(new X509Certificate(next).subject).not.toBe(new X509Certificate(oldCa).subject);
    expect(trusting.etcdClient).toBe(pki.etcdClient);
    expect(pemCount(caFile(trusting))).toBe(2);
    await writePki(dir, trusting);
    const loaded1 = await loadPki(dir);
    expect(loaded1.etcdCaNext?.certPem).toBe(next);
    expect(etcdTrustedCaPem(loaded1)).toBe(etcdTrustedCaPem(trusting));
    expect(certificatesOf(loaded1).map((entry) => entry.name)).toContain('etcd-ca-next');

    const promoted = await promoteNextEtcdCa(loaded1);
    expect(promoted.etcdCa.certPem).toBe(next);
    expect(promoted.etcdCaPrevious).toBe(oldCa);
    expect(promoted.etcdCaNext).toBeUndefined();
    const replica = promoted.replicas['kubernetes-master'];
    for (const leaf of [
      promoted.etcdClient,
      replica?.etcdPeer,
      replica?.etcdServer,
      replica?.apiserverEtcdClient,
    ])
      expect(signedBy(leaf?.certPem as string, next)).toBe(true);
    // The leaves of the other CAs are kept as they were.
    expect(promoted.admin.certPem).toBe(pki.admin.certPem);
    expect(replica?.apiserver.certPem).toBe(pki.replicas['kubernetes-master']?.apiserver.certPem);
    expect(pemCount(caFile(promoted))).toBe(2);
    await writePki(dir, promoted);
    expect(existsSync(join(dir, 'pki/etcd/ca-next.crt'))).toBe(false);
    const loaded2 = await loadPki(dir);
    expect(loaded2.etcdCa.certPem).toBe(next);
    expect(loaded2.etcdCaPrevious).toBe(oldCa);

    const dropped = withoutPreviousEtcdCa(loaded2);
    expect(caFile(dropped)).toBe(next);
    await writePki(dir, dropped);
    expect(existsSync(join(dir, 'pki/etcd/ca-previous.crt'))).toBe(false);
    const loaded3 = await loadPki(dir);
    expect(loaded3.etcdCaPrevious).toBeUndefined();
    expect(loaded3.etcdCaNext).toBeUndefined();
    expect(etcdTrustedCaPem(loaded3)).toBe(next);
  });

  it('refuses to promote without a next CA, and the PKI is unchanged', async () => {
    await expect(promoteNextEtcdCa(pki)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(pki.etcdCaNext).toBeUndefined();
  });
});
