import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextCaKey, previousCaKey, rotatingCas, trustedCaPem } from './cas.js';
import { CLUSTER_LEAF_NAMES } from './cluster-leaves.js';
import { CLUSTER_SIGNING_CA_FILE, loadPki, replicaNodeFiles, writePki } from './files.js';
import { certificatesOf, createClusterPki, issueReplicaCerts, withReplica } from './pki.js';
import { promoteNextCa, withNextCa, withoutPreviousCa } from './rotation.js';
import type { CaKey, ClusterPki } from './types.js';

let root: string;
let pki: ClusterPki;
const REPLICA = 'kubernetes-master';

const signedBy = (certPem: string, caPem: string) =>
  new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
const nodeFile = (value: ClusterPki, path: string) =>
  replicaNodeFiles(value, REPLICA, { apiserverUrl: 'https://10.0.0.2:6443' }).find(
    (file) => file.path === path,
  )?.contents;
const text = (contents: unknown) =>
  typeof contents === 'string' ? contents : (contents as { reveal(): string }).reveal();
const pemCount = (contents: unknown) => text(contents).split('-----BEGIN CERTIFICATE-----').length - 1;
/** The CA data embedded in a replica's controller-manager.conf. */
const kubeconfigCa = (value: ClusterPki) => {
  const line = text(nodeFile(value, 'controller-manager.conf'))
    .split('\n')
    .find((entry) => entry.includes('certificate-authority-data:')) as string;
  return Buffer.from(line.split(': ')[1] as string, 'base64').toString('utf8');
};

/** Every leaf of the PKI, by a name, with its certificate. */
function leavesOf(value: ClusterPki): Map<string, string> {
  const leaves = new Map<string, string>(CLUSTER_LEAF_NAMES.map((name) => [name, value[name].certPem]));
  for (const [name, certs] of Object.entries(value.replicas))
    for (const leaf of ['etcdPeer', 'etcdServer', 'apiserver', 'apiserverEtcdClient'] as const)
      leaves.set(`${name}/${leaf}`, certs[leaf].certPem);
  return leaves;
}

/** Each CA, the file the replicas trust it in, and the leaves it signs (what phase 2 reissues). */
const CASES: { key: CaKey; trustFile: string; signs: string[] }[] = [
  {
    key: 'etcdCa',
    trustFile: 'pki/etcd/ca.crt',
    signs: ['etcdClient', `${REPLICA}/etcdPeer`, `${REPLICA}/etcdServer`, `${REPLICA}/apiserverEtcdClient`],
  },
  {
    key: 'ca',
    trustFile: 'pki/ca.crt',
    signs: [
      'admin',
      'apiserverKubeletClient',
      'controllerManager',
      'scheduler',
      'addonManager',
      `${REPLICA}/apiserver`,
    ],
  },
  { key: 'frontProxyCa', trustFile: 'pki/front-proxy-ca.crt', signs: ['frontProxyClient'] },
];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hacp-rotation-'));
  const base = await createClusterPki({ clusterName: 'kubernetes', endpointAddress: '10.0.0.9' });
  pki = withReplica(
    base,
    await issueReplicaCerts(base, { replicaName: REPLICA, hostname: REPLICA, internalIp: '10.0.0.2' }),
  );
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.each(CASES)('$key rotation', ({ key, trustFile, signs }) => {
  it('trusts both CAs, then signs its leaves (only those) with the new one, then drops the old, each phase surviving a write and load', async () => {
    const dir = join(root, key);
    const oldCa = pki[key].certPem;
    const before = leavesOf(pki);

    const trusting = await withNextCa(pki, { ca: key });
    expect(await withNextCa(trusting, { ca: key })).toBe(trusting);
    expect(rotatingCas(trusting)).toEqual([key]);
    const next = trusting[nextCaKey(key)]?.certPem as string;
    expect(new X509Certificate(next).subject).not.toBe(new X509Certificate(oldCa).subject);
    expect(leavesOf(trusting)).toEqual(before);
    expect(pemCount(nodeFile(trusting, trustFile))).toBe(2);
    await writePki(dir, trusting);
    const loaded1 = await loadPki(dir);
    expect(loaded1[nextCaKey(key)]?.certPem).toBe(next);
    expect(trustedCaPem(loaded1, key)).toBe(trustedCaPem(trusting, key));
    const reported = certificatesOf(loaded1).map((entry) => entry.name);
    expect(reported.filter((name) => name.endsWith('-next'))).toHaveLength(1);

    const promoted = await promoteNextCa(loaded1, { ca: key });
    expect(promoted[key].certPem).toBe(next);
    expect(promoted[previousCaKey(key)]).toBe(oldCa);
    expect(promoted[nextCaKey(key)]).toBeUndefined();
    const after = leavesOf(promoted);
    const changed = [...after.keys()].filter((name) => after.get(name) !== before.get(name)).sort();
    expect(changed).toEqual([...signs].sort());
    for (const name of signs) expect(signedBy(after.get(name) as string, next)).toBe(true);
    expect(pemCount(nodeFile(promoted, trustFile))).toBe(2);
    await writePki(dir, promoted);
    expect(existsSync(join(dir, `${trustFile.replace('.crt', '')}-next.crt`))).toBe(false);
    const loaded2 = await loadPki(dir);
    expect(loaded2[key].certPem).toBe(next);
    expect(loaded2[previousCaKey(key)]).toBe(oldCa);

    const dropped = withoutPreviousCa(loaded2, key);
    expect(nodeFile(dropped, trustFile)).toBe(next);
    expect(rotatingCas(dropped)).toEqual([]);
    await writePki(dir, dropped);
    expect(existsSync(join(dir, `${trustFile.replace('.crt', '')}-previous.crt`))).toBe(false);
    const loaded3 = await loadPki(dir);
    expect(loaded3[previousCaKey(key)]).toBeUndefined();
    expect(loaded3[nextCaKey(key)]).toBeUndefined();
    expect(trustedCaPem(loaded3, key)).toBe(next);
  });

  it('refuses to promote without a next CA, and the PKI is unchanged', async () => {
    await expect(promoteNextCa(pki, { ca: key })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(pki[nextCaKey(key)]).toBeUndefined();
  });
});

describe('cluster CA rotation on a replica', () => {
  it('puts both CAs in the kubeconfigs and the trust bundle, and the signing CA alone beside its key', async () => {
    const trusting = await withNextCa(pki, { ca: 'ca' });
    expect(kubeconfigCa(pki)).toBe(pki.ca.certPem);
    expect(kubeconfigCa(trusting)).toBe(trustedCaPem(trusting, 'ca'));
    expect(pemCount(kubeconfigCa(trusting))).toBe(2);
    expect(nodeFile(trusting, CLUSTER_SIGNING_CA_FILE)).toBe(pki.ca.certPem);
    const promoted = await promoteNextCa(trusting, { ca: 'ca' });
    expect(nodeFile(promoted, CLUSTER_SIGNING_CA_FILE)).toBe(trusting.caNext?.certPem);
    expect(text(nodeFile(promoted, 'pki/ca.key'))).toBe(promoted.ca.keyPem.reveal());
    // The front-proxy and etcd CA keys stay off the replicas, as before.
    const paths = replicaNodeFiles(promoted, REPLICA).map((file) => file.path);
    expect(paths).not.toContain('pki/etcd/ca.key');
    expect(paths).not.toContain('pki/front-proxy-ca.key');
  });
});

describe('loading a PKI while a rotation writes it', () => {
  it('gives a whole PKI of one phase or another, never STATE_CORRUPT', async () => {
    const dir = join(root, 'concurrent');
    await writePki(dir, pki);
    const trusting = await withNextCa(pki, { ca: 'etcdCa' });
    const promoted = await promoteNextCa(trusting, { ca: 'etcdCa' });
    const phases = [trusting, promoted, withoutPreviousCa(promoted, 'etcdCa')];
    const known = new Set([pki, ...phases].map((value) => value.etcdClient.certPem));
    let writing = true;
    const writer = (async () => {
      for (const phase of phases) await writePki(dir, phase);
      writing = false;
    })();
    const loaded: string[] = [];
    while (writing) loaded.push((await loadPki(dir)).etcdClient.certPem);
    await writer;
    expect(loaded.length).toBeGreaterThan(0);
    for (const certPem of loaded) expect(known.has(certPem)).toBe(true);
  });
});
