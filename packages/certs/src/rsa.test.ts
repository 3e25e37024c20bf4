import { createPrivateKey, createPublicKey, X509Certificate as NodeCertificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPki, writePki } from './files.js';
import { certificatesOf, createClusterPki, issueReplicaCerts, renewLeaves, withReplica } from './pki.js';
import {
  leavesOf,
  openssl,
  opensslVerify,
  printedExtensions,
  privateKeysOf,
  revealed,
  verifyEveryCertificate,
} from './test-support.js';
import type { ClusterPki } from './types.js';

const RSA_TIMEOUT = 60_000;

describe('an RSA 2048 PKI', () => {
  let pki: ClusterPki;
  let dir: string;

  beforeAll(async () => {
    const bare = await createClusterPki({
      clusterName: 'demo',
      endpointAddress: '34.1.2.3',
      keyAlgorithm: 'rsa-2048',
    });
    pki = withReplica(
      bare,
      await issueReplicaCerts(bare, {
        replicaName: 'demo-master',
        hostname: 'demo-master',
        internalIp: '10.128.0.2',
      }),
    );
    dir = mkdtempSync(join(tmpdir(), 'hacp-certs-rsa-'));
    await writePki(dir, pki);
  }, RSA_TIMEOUT);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has RSA 2048 keys and certificates only', () => {
    expect(pki.settings.keyAlgorithm).toBe('rsa-2048');
    const keys = privateKeysOf(pki).map((key) => createPrivateKey(key.reveal()));
    expect(keys).toHaveLength(11 + 4);
    for (const key of keys) {
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    }
    for (const { name, certPem } of certificatesOf(pki)) {
      const publicKey = new NodeCertificate(certPem).publicKey;
      expect(publicKey.asymmetricKeyType, name).toBe('rsa');
      expect(publicKey.asymmetricKeyDetails?.modulusLength, name).toBe(2048);
    }
    expect(createPublicKey(pki.serviceAccount.publicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('signs with SHA-256 and RSA', () => {
    const text = openssl(['x509', '-noout', '-text'], pki.replicas['demo-master']!.apiserver.certPem);
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).toContain('Public-Key: (2048 bit)');
  });

  it('writes certificates that openssl verifies against their CA, every one of them, and not against a wrong one', () => {
    const result = verifyEveryCertificate(dir, ['demo-master']);
    expect(result.files).toEqual(result.expected);
    expect(result.failures).toEqual([]);
    const wrong = opensslVerify({
      caFile: join(dir, 'pki/ca.crt'),
      certFile: join(dir, 'replicas/demo-master/pki/etcd/peer.crt'),
    });
    expect(wrong.ok).toBe(false);
  });

  it('gives leaves keyEncipherment, as RSA key exchange needs, and CAs not', () => {
    for (const [name, leaf] of Object.entries(leavesOf(pki))) {
      expect(printedExtensions(leaf.certPem).keyUsage, name).toEqual({
        critical: true,
        values: ['Digital Signature', 'Key Encipherment'],
      });
    }
    for (const ca of [pki.ca, pki.etcdCa, pki.frontProxyCa]) {
      const keyUsage = printedExtensions(ca.certPem).keyUsage?.values;
      expect(keyUsage).toContain('Certificate Sign');
      expect(keyUsage).not.toContain('Key Encipherment');
    }
  });

  it('loads back unchanged', async () => {
    expect(revealed(await loadPki(dir))).toEqual(revealed(pki));
  });

  it(
    'renews leaves as RSA 2048 from the same CAs',
    async () => {
      const renewed = await renewLeaves(pki);
      for (const [name, leaf] of Object.entries(leavesOf(renewed))) {
        const key = createPrivateKey(leaf.keyPem.reveal());
        expect(key.asymmetricKeyDetails?.modulusLength, name).toBe(2048);
        expect(leaf.keyPem.reveal(), name).not.toBe(leavesOf(pki)[name]!.keyPem.reveal());
      }
      const renewedDir = mkdtempSync(join(tmpdir(), 'hacp-certs-rsa-renewed-'));
      try {
        await writePki(renewedDir, renewed);
        expect(verifyEveryCertificate(renewedDir, ['demo-master']).failures).toEqual([]);
      } finally {
        rmSync(renewedDir, { recursive: true, force: true });
      }
    },
    RSA_TIMEOUT,
  );
});

describe('an RSA 4096 PKI', () => {
  // The one RSA 4096 PKI of the suite: generating these keys takes seconds each.
  it(
    'has 4096-bit keys',
    async () => {
      const pki = await createClusterPki({
        clusterName: 'big',
        endpointAddress: '34.1.2.3',
        keyAlgorithm: 'rsa-4096',
      });
      const keys = privateKeysOf(pki).map((key) => createPrivateKey(key.reveal()));
      expect(keys).toHaveLength(11);
      for (const key of keys) {
        expect(key.asymmetricKeyType).toBe('rsa');
        expect(key.asymmetricKeyDetails?.modulusLength).toBe(4096);
      }
      expect(
        new NodeCertificate(pki.admin.certPem).verify(new NodeCertificate(pki.ca.certPem).publicKey),
      ).toBe(true);
      expect(openssl(['x509', '-noout', '-text'], pki.ca.certPem)).toContain('Public-Key: (4096 bit)');
    },
    RSA_TIMEOUT * 2,
  );
});
