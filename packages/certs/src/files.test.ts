import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { inspect } from 'node:util';
import { assertNodeConfig, isHacpError, isSecret } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPki, loadPki, pkiFiles, replicaNodeFiles, writePki } from './files.js';
import { createClusterPki, issueReplicaCerts, withoutReplica, withReplica } from './pki.js';
import {
  decode,
  filesUnder,
  foldersUnder,
  type Kubeconfig,
  keyBodyLines,
  opensslVerify,
  parseYaml,
  recordingLogger,
  revealed,
  verifyEveryCertificate,
} from './test-support.js';
import type { ClusterPki, ReplicaCerts } from './types.js';

let root: string;
/** The PKI with two replicas, written once to `written`. */
let pki: ClusterPki;
let written: string;
/** Another cluster's PKI: same CA names, other keys. */
let other: ClusterPki;
const REPLICAS = ['demo-master', 'demo-master-a1b'];
/** The cluster-wide client pairs added for the components next to kube-apiserver, without .crt/.key. */
const CONTROL_PLANE_CLIENTS = [
  'pki/apiserver-kubelet-client',
  'pki/controller-manager',
  'pki/scheduler',
  'pki/addon-manager',
];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hacp-certs-files-'));
  const bare = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3' });
  const [master, second] = await Promise.all([
    issueReplicaCerts(bare, {
      replicaName: 'demo-master',
      hostname: 'demo-master',
      internalIp: '10.128.0.2',
      externalIp: '35.1.1.1',
    }),
    issueReplicaCerts(bare, {
      replicaName: 'demo-master-a1b',
      hostname: 'demo-master-a1b',
      internalIp: '10.128.0.3',
    }),
  ]);
  pki = withReplica(withReplica(bare, master), second);
  other = await createClusterPki({ clusterName: 'demo', endpointAddress: '34.1.2.3' });
  written = join(root, 'written');
  await writePki(written, pki);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

let fresh = 0;
/** A path under the test root that does not exist yet. */
const newDir = (name: string) => join(root, `${name}-${++fresh}`);
const mode = (path: string) => statSync(path).mode & 0o777;

/** What is wrong with the modes under `dir`: folders 0700, keys 0600, certificates, sa.pub and pki.json 0644. */
function wrongModes(dir: string): string[] {
  const wrong: string[] = [];
  const expectMode = (path: string, expected: number) => {
    const actual = mode(join(dir, path));
    if (actual !== expected)
      wrong.push(`${path || '.'}: ${actual.toString(8)} instead of ${expected.toString(8)}`);
  };
  expectMode('', 0o700);
  for (const folder of foldersUnder(dir)) expectMode(folder, 0o700);
  for (const file of filesUnder(dir)) expectMode(file, file.endsWith('.key') ? 0o600 : 0o644);
  return wrong;
}

/** Path, size, mode and mtime of everything under `dir`. */
function snapshot(dir: string): string[] {
  return [...foldersUnder(dir), ...filesUnder(dir)].map((path) => {
    const stats = statSync(join(dir, path));
    return `${path} ${stats.size} ${(stats.mode & 0o777).toString(8)} ${stats.mtimeMs}`;
  });
}

function copyOfWritten(name: string): string {
  const copy = newDir(name);
  cpSync(written, copy, { recursive: true });
  return copy;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** The PKI with `certs` stored under another replica name, as a hand-edited or buggy caller might. */
function withReplicaNamed(base: ClusterPki, name: string, certs: ReplicaCerts): ClusterPki {
  return withReplica(base, { ...certs, identity: { ...certs.identity, replicaName: name } });
}

describe('writePki', () => {
  it("writes exactly pkiFiles' files, keys in kubeadm's layout", () => {
    const files = pkiFiles(pki);
    expect(filesUnder(written)).toEqual(files.map((file) => file.path).sort());
    for (const file of files) {
      const contents = typeof file.contents === 'string' ? file.contents : file.contents.reveal();
      expect(readFileSync(join(written, file.path), 'utf8'), file.path).toBe(contents);
    }
    expect(readFileSync(join(written, 'replicas/demo-master/pki/etcd/peer.key'), 'utf8')).toBe(
      pki.replicas['demo-master']!.etcdPeer.keyPem.reveal(),
    );
    expect(readFileSync(join(written, 'pki.json'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('writes certificates that openssl verifies against their CA, every one of them', () => {
    const result = verifyEveryCertificate(written, REPLICAS);
    expect(result.files).toEqual(result.expected);
    expect(result.expected).toHaveLength(10 + 4 * REPLICAS.length);
    expect(result.failures).toEqual([]);
  });

  it('writes certificates that do not verify against the wrong CA', () => {
    const cases = [
      ['replicas/demo-master/pki/etcd/peer.crt', 'pki/ca.crt'],
      ['replicas/demo-master/pki/apiserver.crt', 'pki/etcd/ca.crt'],
      ['replicas/demo-master/pki/apiserver-etcd-client.crt', 'pki/front-proxy-ca.crt'],
      ['pki/admin.crt', 'pki/front-proxy-ca.crt'],
      ['pki/front-proxy-client.crt', 'pki/ca.crt'],
      ['pki/etcd/healthcheck-client.crt', 'pki/ca.crt'],
    ];
    for (const [cert, ca] of cases) {
      const result = opensslVerify({ caFile: join(written, ca!), certFile: join(written, cert!) });
      expect(result.ok, `${cert} against ${ca}`).toBe(false);
    }
  });

  it("writes certificates that do not verify against another cluster's CA of the same name", async () => {
    const otherDir = newDir('other');
    await writePki(otherDir, other);
    const result = opensslVerify({
      caFile: join(otherDir, 'pki/etcd/ca.crt'),
      certFile: join(written, 'replicas/demo-master/pki/etcd/peer.crt'),
    });
    expect(result.ok).toBe(false);
    // openssl matches the issuer by key identifier first, so the other key is refused at lookup.
    expect(result.output).toMatch(/unable to get local issuer certificate|signature failure/);
    const peer = new X509Certificate(pki.replicas['demo-master']!.etcdPeer.certPem);
    expect(peer.verify(new X509Certificate(other.etcdCa.certPem).publicKey)).toBe(false);
    expect(peer.verify(new X509Certificate(pki.etcdCa.certPem).publicKey)).toBe(true);
  });

  it('writes certificates fit for their purpose, and only for it', () => {
    const server = ['replicas/demo-master/pki/apiserver.crt', 'replicas/demo-master/pki/etcd/server.crt'];
    const client = [
      'pki/admin.crt',
      'pki/etcd/healthcheck-client.crt',
      'replicas/demo-master/pki/apiserver-etcd-client.crt',
      'replicas/demo-master/pki/etcd/peer.crt',
    ];
    const serverOnly = ['replicas/demo-master/pki/apiserver.crt'];
    const clientOnly = [
      'pki/admin.crt',
      'replicas/demo-master/pki/apiserver-etcd-client.crt',
      ...CONTROL_PLANE_CLIENTS.map((base) => `${base}.crt`),
    ];
    client.push(...CONTROL_PLANE_CLIENTS.map((base) => `${base}.crt`));
    const verify = (cert: string, purpose: 'sslserver' | 'sslclient') =>
      opensslVerify({
        caFile: join(written, cert.includes('etcd') ? 'pki/etcd/ca.crt' : 'pki/ca.crt'),
        certFile: join(written, cert),
        purpose,
      }).ok;
    for (const cert of server) expect(verify(cert, 'sslserver'), cert).toBe(true);
    for (const cert of client) expect(verify(cert, 'sslclient'), cert).toBe(true);
    for (const cert of serverOnly) expect(verify(cert, 'sslclient'), cert).toBe(false);
    for (const cert of clientOnly) expect(verify(cert, 'sslserver'), cert).toBe(false);
    expect(
      opensslVerify({
        caFile: join(written, 'pki/front-proxy-ca.crt'),
        certFile: join(written, 'pki/front-proxy-client.crt'),
        purpose: 'sslclient',
      }).ok,
    ).toBe(true);
  });

  it("writes an apiserver cert that openssl accepts for each of the replica's names and no other replica's", () => {
    const apiserver = (ip: string | undefined, hostname: string | undefined) =>
      opensslVerify({
        caFile: join(written, 'pki/ca.crt'),
        certFile: join(written, 'replicas/demo-master/pki/apiserver.crt'),
        purpose: 'sslserver',
        ...(ip ? { ip } : {}),
        ...(hostname ? { hostname } : {}),
      }).ok;
    for (const ip of ['34.1.2.3', '10.128.0.2', '35.1.1.1', '10.0.0.1', '127.0.0.1']) {
      expect(apiserver(ip, undefined), ip).toBe(true);
    }
    for (const name of ['kubernetes', 'kubernetes.default.svc.cluster.local', 'localhost', 'demo-master']) {
      expect(apiserver(undefined, name), name).toBe(true);
    }
    expect(apiserver('10.128.0.3', undefined)).toBe(false);
    expect(apiserver(undefined, 'demo-master-a1b')).toBe(false);
  });

  it('makes every folder 0700, keys 0600, certificates, sa.pub and pki.json 0644', () => {
    expect(foldersUnder(written)).toEqual(
      [
        'pki',
        'pki/etcd',
        'replicas',
        ...REPLICAS.flatMap((name) => [
          `replicas/${name}`,
          `replicas/${name}/pki`,
          `replicas/${name}/pki/etcd`,
        ]),
      ].sort(),
    );
    expect(mode(join(written, 'pki/sa.key'))).toBe(0o600);
    expect(mode(join(written, 'pki/sa.pub'))).toBe(0o644);
    expect(mode(join(written, 'pki.json'))).toBe(0o644);
    expect(wrongModes(written)).toEqual([]);
  });

  it('writes the control-plane client pairs: keys 0600, certificates 0644, each verified by openssl against ca.crt as a client', () => {
    for (const base of CONTROL_PLANE_CLIENTS) {
      expect(mode(join(written, `${base}.crt`)), base).toBe(0o644);
      expect(mode(join(written, `${base}.key`)), base).toBe(0o600);
      const result = opensslVerify({
        caFile: join(written, 'pki/ca.crt'),
        certFile: join(written, `${base}.crt`),
        purpose: 'sslclient',
      });
      expect(result.output, base).toContain(': OK');
      expect(
        opensslVerify({ caFile: join(written, 'pki/etcd/ca.crt'), certFile: join(written, `${base}.crt`) })
          .ok,
        base,
      ).toBe(false);
    }
    expect(readFileSync(join(written, 'pki/scheduler.key'), 'utf8')).toBe(pki.scheduler.keyPem.reveal());
    const metadata = JSON.parse(readFileSync(join(written, 'pki.json'), 'utf8'));
    expect(Object.keys(metadata.leaves).sort()).toEqual(
      [
        'addonManager',
        'admin',
        'apiserverKubeletClient',
        'controllerManager',
        'etcdClient',
        'frontProxyClient',
        'scheduler',
      ].sort(),
    );
  });

  it('keeps those modes under a permissive umask', async () => {
    const dir = newDir('umask');
    const previous = process.umask(0);
    try {
      const probe = newDir('probe');
      mkdirSync(probe, { mode: 0o777 });
      expect(mode(probe)).toBe(0o777); // the umask really is permissive
      await writePki(join(dir, 'nested'), pki);
    } finally {
      process.umask(previous);
    }
    expect(mode(dir)).toBe(0o700);
    expect(wrongModes(join(dir, 'nested'))).toEqual([]);
    expect(filesUnder(join(dir, 'nested'))).toHaveLength(pkiFiles(pki).length);
  });

  it('tightens a folder that existed 0755, and a key left 0644', async () => {
    const dir = newDir('existing');
    mkdirSync(join(dir, 'pki/etcd'), { recursive: true });
    for (const folder of ['', 'pki', 'pki/etcd']) chmodSync(join(dir, folder), 0o755);
    writeFileSync(join(dir, 'pki/ca.key'), 'old', { mode: 0o644 });
    chmodSync(join(dir, 'pki/ca.key'), 0o644);
    await writePki(dir, pki);
    expect(wrongModes(dir)).toEqual([]);
    expect(readFileSync(join(dir, 'pki/ca.key'), 'utf8')).toBe(pki.ca.keyPem.reveal());
  });

  it('replaces only the files that changed, and tightens a right key left 0644', async () => {
    const dir = newDir('again');
    await writePki(dir, withoutReplica(pki, 'demo-master-a1b'));
    chmodSync(join(dir, 'pki/ca.key'), 0o644);
    const inode = (path: string) => statSync(join(dir, path)).ino;
    const before = { ca: inode('pki/ca.crt'), admin: inode('pki/admin.key'), meta: inode('pki.json') };
    await writePki(dir, pki);
    expect({ ca: inode('pki/ca.crt'), admin: inode('pki/admin.key') }).toEqual({
      ca: before.ca,
      admin: before.admin,
    });
    expect(inode('pki.json')).not.toBe(before.meta);
    expect(wrongModes(dir)).toEqual([]);
    expect(verifyEveryCertificate(dir, REPLICAS).failures).toEqual([]);
  });

  it('writes to a relative or unnormalised folder', async () => {
    const target = newDir('relative');
    const relativeTarget = `./${relative(process.cwd(), target)}`;
    await writePki(relativeTarget, pki);
    expect(wrongModes(target)).toEqual([]);
    expect(verifyEveryCertificate(target, REPLICAS).failures).toEqual([]);

    const unnormalised = newDir('dotted');
    await writePki(`${root}/x/../${basename(unnormalised)}`, pki);
    expect(filesUnder(unnormalised)).toHaveLength(pkiFiles(pki).length);
    expect(existsSync(join(root, 'x'))).toBe(false);
  });

  it("removes a dropped replica's folder and keeps the others", async () => {
    const dir = newDir('shrink');
    await writePki(dir, pki);
    const kept = readFileSync(join(dir, 'replicas/demo-master/pki/apiserver.crt'), 'utf8');
    await writePki(dir, withoutReplica(pki, 'demo-master-a1b'));
    expect(readdirSync(join(dir, 'replicas'))).toEqual(['demo-master']);
    expect(readFileSync(join(dir, 'replicas/demo-master/pki/apiserver.crt'), 'utf8')).toBe(kept);
    expect(readFileSync(join(dir, 'pki.json'), 'utf8')).not.toContain('demo-master-a1b');
    expect(Object.keys((await loadPki(dir)).replicas)).toEqual(['demo-master']);
    expect(wrongModes(dir)).toEqual([]);
  });

  it("removes a dropped replica whose name is an Object.prototype member's", async () => {
    const dir = newDir('prototype');
    await writePki(dir, withReplicaNamed(pki, 'constructor', pki.replicas['demo-master']!));
    expect(readdirSync(join(dir, 'replicas')).sort()).toEqual([
      'constructor',
      'demo-master',
      'demo-master-a1b',
    ]);
    await writePki(dir, pki);
    expect(readdirSync(join(dir, 'replicas')).sort()).toEqual(REPLICAS);
  });
});

describe('writePki refuses bad input and writes nothing', () => {
  it.each(['Bad/Name', '../outside', 'UPPER', '.', '-x'])(
    'refuses replica name %j with INVALID_ARGUMENT on replicaName, creating nothing',
    async (name) => {
      const dir = newDir('bad');
      const before = readdirSync(root).sort();
      const error = await failure(writePki(dir, withReplicaNamed(pki, name, pki.replicas['demo-master']!)));
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('replicaName');
      expect(existsSync(dir)).toBe(false);
      expect(readdirSync(root).sort()).toEqual(before);
      const shown = `${String(error)} ${inspect(error, { depth: 10 })}`;
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    },
  );

  it('leaves an existing PKI untouched', async () => {
    const dir = copyOfWritten('untouched');
    const before = snapshot(dir);
    const error = await failure(
      writePki(dir, withReplicaNamed(pki, 'Bad/Name', pki.replicas['demo-master']!)),
    );
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(snapshot(dir)).toEqual(before);
  });

  it('refuses an empty folder name', async () => {
    const error = await failure(writePki('  ', pki));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('dir');
  });
});

describe('loadPki', () => {
  it('gives back the same certificates, keys, settings, profiles and replica identities', async () => {
    const loaded = await loadPki(written);
    expect(revealed(loaded)).toEqual(revealed(pki));
    expect(isSecret(loaded.ca.keyPem)).toBe(true);
    expect(isSecret(loaded.serviceAccount.privateKeyPem)).toBe(true);
    expect(loaded.replicas['demo-master']!.identity).toEqual(pki.replicas['demo-master']!.identity);
  });

  it('changes nothing on disk', async () => {
    const before = snapshot(written);
    await loadPki(written);
    expect(snapshot(written)).toEqual(before);
  });

  it('reports NOT_FOUND for a folder without a PKI', async () => {
    const missing = newDir('missing');
    const error = await failure(loadPki(missing));
    expect(isHacpError(error, 'NOT_FOUND')).toBe(true);
    expect(await hasPki(missing)).toBe(false);
    expect(await hasPki(written)).toBe(true);
    expect(existsSync(missing)).toBe(false);
  });

  it('reports STATE_CORRUPT naming the key that does not belong to its certificate', async () => {
    const dir = copyOfWritten('swapped');
    copyFileSync(join(dir, 'pki/admin.key'), join(dir, 'pki/ca.key'));
    const error = await failure(loadPki(dir));
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toContain('pki/ca.key');
    const shown = `${String(error)} ${JSON.stringify(error)} ${inspect(error, { depth: 10 })}`;
    expect(shown).not.toContain('PRIVATE KEY');
    for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
  });

  it('reports STATE_CORRUPT for a leaf that its CA did not sign', async () => {
    // A valid pair from the wrong CA: the admin cert, signed by the cluster CA, as an etcd peer cert.
    const dir = copyOfWritten('foreign');
    copyFileSync(join(dir, 'pki/admin.crt'), join(dir, 'replicas/demo-master/pki/etcd/peer.crt'));
    copyFileSync(join(dir, 'pki/admin.key'), join(dir, 'replicas/demo-master/pki/etcd/peer.key'));
    const error = await failure(loadPki(dir));
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toContain('replicas/demo-master/pki/etcd/peer.crt');
  });

  it('reports STATE_CORRUPT for a newer format version', async () => {
    const dir = copyOfWritten('version');
    const metadata = JSON.parse(readFileSync(join(dir, 'pki.json'), 'utf8'));
    writeFileSync(join(dir, 'pki.json'), JSON.stringify({ ...metadata, formatVersion: 2 }));
    const error = await failure(loadPki(dir));
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toContain('format version 2');
  });

  it('reports STATE_CORRUPT for a missing file, a damaged key and unreadable metadata, without key material', async () => {
    const missing = copyOfWritten('missing-file');
    rmSync(join(missing, 'pki/front-proxy-client.key'));
    const damaged = copyOfWritten('damaged');
    const key = readFileSync(join(damaged, 'pki/etcd/ca.key'), 'utf8');
    writeFileSync(join(damaged, 'pki/etcd/ca.key'), key.slice(0, key.length / 2));
    const garbled = copyOfWritten('garbled');
    writeFileSync(join(garbled, 'pki.json'), '{ not json');
    const cases = [
      [missing, 'pki/front-proxy-client.key'],
      [damaged, 'pki/etcd/ca.key'],
      [garbled, 'pki.json'],
    ] as const;
    for (const [dir, file] of cases) {
      const error = await failure(loadPki(dir));
      expect(isHacpError(error, 'STATE_CORRUPT'), file).toBe(true);
      expect((error as Error).message, file).toContain(file);
      const shown = `${String(error)} ${inspect(error, { depth: 10 })}`;
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    }
  });
});

describe('loadPki of a folder written before the control-plane client certificates', () => {
  const ADDED = ['apiserverKubeletClient', 'controllerManager', 'scheduler', 'addonManager'] as const;

  /** A copy of `written` as the earlier layout left it: no profiles for the added leaves, no files. */
  function olderFolder(name: string, options: { keepFiles?: boolean } = {}): string {
    const dir = copyOfWritten(name);
    const path = join(dir, 'pki.json');
    const metadata = JSON.parse(readFileSync(path, 'utf8'));
    for (const leaf of ADDED) delete metadata.leaves[leaf];
    writeFileSync(path, `${JSON.stringify(metadata, null, 2)}\n`);
    if (!options.keepFiles) {
      for (const base of CONTROL_PLANE_CLIENTS) {
        rmSync(join(dir, `${base}.crt`));
        rmSync(join(dir, `${base}.key`));
      }
    }
    return dir;
  }

  it('issues the missing leaves in memory from the cluster CA, keeps every other certificate, and changes nothing on disk', async () => {
    const dir = olderFolder('older');
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'pki.json'), 'utf8')).leaves).sort()).toEqual([
      'admin',
      'etcdClient',
      'frontProxyClient',
    ]);
    const before = snapshot(dir);
    const logger = recordingLogger();
    const loaded = await loadPki(dir, { logger });
    expect(snapshot(dir)).toEqual(before);
    for (const leaf of ADDED) {
      const cert = new X509Certificate(loaded[leaf].certPem);
      expect(cert.verify(new X509Certificate(pki.ca.certPem).publicKey), leaf).toBe(true);
      expect(cert.subject, leaf).toBe(new X509Certificate(pki[leaf].certPem).subject);
      expect(loaded[leaf].profile, leaf).toEqual(pki[leaf].profile);
      expect(loaded[leaf].keyPem.reveal(), leaf).not.toBe(pki[leaf].keyPem.reveal());
      expect(isSecret(loaded[leaf].keyPem), leaf).toBe(true);
    }
    const { apiserverKubeletClient, controllerManager, scheduler, addonManager, ...kept } = loaded;
    const {
      apiserverKubeletClient: _a,
      controllerManager: _c,
      scheduler: _s,
      addonManager: _m,
      ...old
    } = pki;
    expect(revealed(kept)).toEqual(revealed(old));
    const text = logger.lines.join('\n');
    expect(text).toContain('apiserver-kubelet-client');
    expect(text).toContain('addon-manager');
    for (const line of keyBodyLines(loaded)) expect(text).not.toContain(line);
  });

  it('issues them for the leaf validity of the folder, from now', async () => {
    const dir = olderFolder('older-dates');
    const now = new Date('2030-01-02T03:04:05Z');
    const loaded = await loadPki(dir, { now });
    const cert = new X509Certificate(loaded.scheduler.certPem);
    expect(Date.parse(cert.validTo) - now.getTime()).toBe(365 * 86_400_000);
  });

  it('persists them at the next writePki, with their modes, and loads them back unchanged', async () => {
    const dir = olderFolder('older-written');
    const loaded = await loadPki(dir);
    await writePki(dir, loaded);
    expect(wrongModes(dir)).toEqual([]);
    for (const base of CONTROL_PLANE_CLIENTS) expect(existsSync(join(dir, `${base}.key`)), base).toBe(true);
    expect(verifyEveryCertificate(dir, REPLICAS).failures).toEqual([]);
    expect(revealed(await loadPki(dir))).toEqual(revealed(loaded));
  });

  it('uses the files a writePki cut short left without their profiles', async () => {
    const dir = olderFolder('older-files', { keepFiles: true });
    const loaded = await loadPki(dir);
    for (const leaf of ADDED) expect(loaded[leaf].certPem, leaf).toBe(pki[leaf].certPem);
  });

  it('still reports STATE_CORRUPT when a folder with their profiles lacks their files', async () => {
    const dir = copyOfWritten('lost-scheduler');
    rmSync(join(dir, 'pki/scheduler.crt'));
    rmSync(join(dir, 'pki/scheduler.key'));
    const error = await failure(loadPki(dir));
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toContain('pki/scheduler');
  });

  it('still reports STATE_CORRUPT for a leaf the earlier layout had, such as admin', async () => {
    const dir = olderFolder('older-no-admin');
    rmSync(join(dir, 'pki/admin.crt'));
    const error = await failure(loadPki(dir));
    expect(isHacpError(error, 'STATE_CORRUPT')).toBe(true);
    expect((error as Error).message).toContain('pki/admin.crt');
  });
});

describe('replicaNodeFiles', () => {
  it('holds what kube-apiserver, etcd and kube-controller-manager need, and not the etcd or front-proxy CA keys', () => {
    const files = replicaNodeFiles(pki, 'demo-master');
    expect(files.map((file) => file.path).sort()).toEqual(
      [
        'pki/ca.crt',
        'pki/ca.key',
        'pki/cluster-signing-ca.crt',
        'pki/sa.key',
        'pki/sa.pub',
        'pki/etcd/ca.crt',
        'pki/front-proxy-ca.crt',
        'pki/front-proxy-client.crt',
        'pki/front-proxy-client.key',
        'pki/apiserver-kubelet-client.crt',
        'pki/apiserver-kubelet-client.key',
        'pki/apiserver.crt',
        'pki/apiserver.key',
        'pki/apiserver-etcd-client.crt',
        'pki/apiserver-etcd-client.key',
        'pki/etcd/server.crt',
        'pki/etcd/server.key',
        'pki/etcd/peer.crt',
        'pki/etcd/peer.key',
      ].sort(),
    );
    const paths = files.map((file) => file.path);
    expect(paths).not.toContain('pki/etcd/ca.key');
    expect(paths).not.toContain('pki/front-proxy-ca.key');
    expect(() => assertNodeConfig({ files, processes: [] })).not.toThrow();
  });

  it('gives keys mode 0600 as Secrets and certificates 0644, with the right contents', () => {
    const files = replicaNodeFiles(pki, 'demo-master');
    for (const file of files) {
      if (file.path.endsWith('.key')) {
        expect(file.mode, file.path).toBe(0o600);
        expect(isSecret(file.contents), file.path).toBe(true);
      } else {
        expect(file.mode, file.path).toBe(0o644);
        expect(typeof file.contents, file.path).toBe('string');
      }
    }
    const byPath = new Map(files.map((file) => [file.path, file.contents]));
    const own = pki.replicas['demo-master']!;
    expect(byPath.get('pki/apiserver.crt')).toBe(own.apiserver.certPem);
    expect(byPath.get('pki/etcd/peer.crt')).toBe(own.etcdPeer.certPem);
    expect((byPath.get('pki/etcd/server.key') as { reveal(): string }).reveal()).toBe(
      own.etcdServer.keyPem.reveal(),
    );
    expect(byPath.get('pki/apiserver.crt')).not.toBe(pki.replicas['demo-master-a1b']!.apiserver.certPem);
  });

  it('holds the kubelet client pair for kube-apiserver, and no kubeconfig without apiserverUrl', () => {
    const byPath = new Map(replicaNodeFiles(pki, 'demo-master').map((file) => [file.path, file]));
    expect(byPath.get('pki/apiserver-kubelet-client.crt')).toEqual({
      path: 'pki/apiserver-kubelet-client.crt',
      mode: 0o644,
      contents: pki.apiserverKubeletClient.certPem,
    });
    const key = byPath.get('pki/apiserver-kubelet-client.key')!;
    expect(key.mode).toBe(0o600);
    expect(isSecret(key.contents)).toBe(true);
    expect((key.contents as { reveal(): string }).reveal()).toBe(pki.apiserverKubeletClient.keyPem.reveal());
    expect([...byPath.keys()].filter((path) => path.endsWith('.conf'))).toEqual([]);
    // The components' own pairs travel only inside their kubeconfigs.
    expect(byPath.has('pki/scheduler.key')).toBe(false);
  });

  it("adds the components' kubeconfigs at the root for apiserverUrl: 0600 Secrets, embedding the CA and each client's pair", () => {
    const apiserverUrl = 'https://10.128.0.2:6443';
    const files = replicaNodeFiles(pki, 'demo-master', { apiserverUrl });
    expect(() => assertNodeConfig({ files, processes: [] })).not.toThrow();
    expect(files).toHaveLength(replicaNodeFiles(pki, 'demo-master').length + 3);
    const kubeconfigs = files.filter((file) => file.path.endsWith('.conf'));
    expect(kubeconfigs.map((file) => file.path).sort()).toEqual([
      'addon-manager.conf',
      'controller-manager.conf',
      'scheduler.conf',
    ]);
    const expected = {
      'controller-manager.conf': ['system:kube-controller-manager', pki.controllerManager],
      'scheduler.conf': ['system:kube-scheduler', pki.scheduler],
      'addon-manager.conf': ['system:addon-manager', pki.addonManager],
    } as const;
    for (const file of kubeconfigs) {
      expect(file.mode, file.path).toBe(0o600);
      expect(isSecret(file.contents), file.path).toBe(true);
      expect(String(file.contents), file.path).not.toContain('client-key-data');
      const [user, leaf] = expected[file.path as keyof typeof expected];
      const config = parseYaml((file.contents as { reveal(): string }).reveal()) as unknown as Kubeconfig;
      expect(config.clusters[0]!.name, file.path).toBe('demo');
      expect(config.clusters[0]!.cluster.server, file.path).toBe(apiserverUrl);
      expect(decode(config.clusters[0]!.cluster['certificate-authority-data']), file.path).toBe(
        pki.ca.certPem,
      );
      expect(config.users[0]!.name, file.path).toBe(user);
      expect(decode(config.users[0]!.user['client-certificate-data']), file.path).toBe(leaf.certPem);
      expect(decode(config.users[0]!.user['client-key-data']), file.path).toBe(leaf.keyPem.reveal());
    }
  });

  it.each(['http://10.128.0.2:6443', 'not a url'])(
    'refuses apiserverUrl %j with INVALID_ARGUMENT on apiserverUrl',
    (apiserverUrl) => {
      let error: unknown;
      try {
        replicaNodeFiles(pki, 'demo-master', { apiserverUrl });
      } catch (caught) {
        error = caught;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe('apiserverUrl');
      const shown = `${String(error)} ${inspect(error, { depth: 10 })}`;
      for (const line of keyBodyLines(pki)) expect(shown).not.toContain(line);
    },
  );

  it.each(['kubernetes-master', 'toString', 'constructor'])('reports REPLICA_NOT_FOUND for %s', (name) => {
    let error: unknown;
    try {
      replicaNodeFiles(pki, name);
    } catch (caught) {
      error = caught;
    }
    expect(isHacpError(error, 'REPLICA_NOT_FOUND')).toBe(true);
    expect((error as { details: { replica: string } }).details.replica).toBe(name);
  });
});
