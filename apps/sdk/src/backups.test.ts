import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHacpError } from '@hacp/core';
import { createMemoryProvider, type MemoryProvider } from '@hacp/provider-conformance';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyRetention, listBackups } from './backups.js';
import { createControlPlane } from './control-plane.js';
import { type ClusterRecord, recordKey } from './record.js';

const CLUSTER = 'kubernetes';
const HOUR = 3_600_000;

/** A file `verifySnapshot` accepts: a bbolt header and the sha256 trailer over what precedes it. */
function snapshotBytes(seed: number): Buffer {
  const body = Buffer.alloc(4096, seed);
  body.writeUInt32LE(0xed0cdaed, 16);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

let dataDir: string;
let dir: string;
let provider: MemoryProvider;
const context = () => ({ provider, cluster: CLUSTER, dataDir });

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hacp-backups-'));
  dir = join(dataDir, 'backups');
  await mkdir(dir, { recursive: true });
  provider = createMemoryProvider();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function putRecord(record: Partial<ClusterRecord>) {
  const existing = await provider.state.get(recordKey(CLUSTER));
  await provider.state.put(
    recordKey(CLUSTER),
    { formatVersion: 1, cluster: CLUSTER, etcdToken: 'hacp-kubernetes-aaaa', ...record },
    { expectedVersion: existing?.version ?? 0, requestId: `record-${Math.random()}` },
  );
}

/** A backup file, with a sidecar for `uid` (none for a file of before sidecars). */
async function addBackup(id: string, options: { uid?: string; hoursAgo: number; seed?: number }) {
  const bytes = snapshotBytes(options.seed ?? 1);
  await writeFile(join(dir, `${id}.db`), bytes, { mode: 0o600 });
  const createdAt = new Date(Date.now() - options.hoursAgo * HOUR);
  if (options.uid === undefined) {
    await utimes(join(dir, `${id}.db`), createdAt, createdAt);
    return;
  }
  await writeFile(
    join(dir, `${id}.json`),
    JSON.stringify({
      formatVersion: 1,
      id,
      cluster: CLUSTER,
      clusterUid: options.uid,
      etcdClusterId: '123',
      memberId: '456',
      memberName: 'kubernetes-master',
      revision: '7',
      createdAt: createdAt.toISOString(),
      sizeBytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      operation: 'replicate',
      operationId: 'op-1',
      step: 'snapshot',
    }),
  );
}

describe('the backup catalogue', () => {
  it("lists the current cluster's backups newest first, and the others only with all", async () => {
    await putRecord({ uid: 'uid-now' });
    await addBackup('old-cluster', { uid: 'uid-before', hoursAgo: 30 });
    await addBackup('legacy', { hoursAgo: 40 });
    await addBackup('first', { uid: 'uid-now', hoursAgo: 2 });
    await addBackup('second', { uid: 'uid-now', hoursAgo: 1 });

    const mine = await listBackups(context());
    expect(mine.clusterUid).toBe('uid-now');
    expect(mine.backups.map((b) => [b.id, b.identity, b.verified])).toEqual([
      ['second', 'current', true],
      ['first', 'current', true],
    ]);
    expect(mine.hidden).toBe(2);
    expect(mine.backups[0]).toMatchObject({
      path: join(dir, 'second.db'),
      cluster: CLUSTER,
      clusterUid: 'uid-now',
      etcdClusterId: '123',
      memberName: 'kubernetes-master',
      revision: '7',
      operation: 'replicate',
      sizeBytes: 4096 + 32,
    });

    const every = await listBackups(context(), { all: true });
    expect(every.backups.map((b) => [b.id, b.identity])).toEqual([
      ['second', 'current'],
      ['first', 'current'],
      ['old-cluster', 'earlier'],
      ['legacy', 'unknown'],
    ]);
    expect(every.hidden).toBe(0);
  });

  it('lists everything left, by identity, when the cluster no longer exists', async () => {
    await addBackup('a', { uid: 'uid-1', hoursAgo: 3 });
    await addBackup('b', { uid: 'uid-2', hoursAgo: 2 });
    await addBackup('c', { hoursAgo: 1 });
    const left = await listBackups(context());
    expect(left.clusterUid).toBeUndefined();
    expect(left.backups.map((b) => [b.id, b.identity, b.clusterUid])).toEqual([
      ['c', 'unknown', undefined],
      ['b', 'earlier', 'uid-2'],
      ['a', 'earlier', 'uid-1'],
    ]);
  });

  it('ties a record without a uid to its etcd token, the identity its backups recorded', async () => {
    await putRecord({ etcdToken: 'hacp-kubernetes-bbbb' });
    await addBackup('by-token', { uid: 'hacp-kubernetes-bbbb', hoursAgo: 1 });
    const listed = await listBackups(context());
    expect(listed.clusterUid).toBe('hacp-kubernetes-bbbb');
    expect(listed.backups.map((b) => b.identity)).toEqual(['current']);
  });

  it('says which backups do not verify, and why', async () => {
    await putRecord({ uid: 'uid-now' });
    await addBackup('altered', { uid: 'uid-now', hoursAgo: 3 });
    await addBackup('other-bytes', { uid: 'uid-now', hoursAgo: 2 });
    await addBackup('truncated', { uid: 'uid-now', hoursAgo: 1 });
    const altered = snapshotBytes(1);
    altered[100] = 0xff;
    await writeFile(join(dir, 'altered.db'), altered);
    // Intact, but not the file its sidecar describes.
    await writeFile(join(dir, 'other-bytes.db'), snapshotBytes(2));
    await writeFile(join(dir, 'truncated.db'), snapshotBytes(1).subarray(0, 1000));
    const listed = await listBackups(context());
    expect(listed.backups.map((b) => [b.id, b.verified])).toEqual([
      ['truncated', false],
      ['other-bytes', false],
      ['altered', false],
    ]);
    expect(listed.backups[0]?.problem).toMatch(/only 1000 bytes/);
    expect(listed.backups[1]?.problem).toMatch(/sha256 differs/);
    expect(listed.backups[2]?.problem).toMatch(/trailer does not match/);
    expect((await listBackups(context(), { verify: false })).backups[0]?.verified).toBeUndefined();
  });

  it("applies retention to the current cluster's backups only, never to others or unknown ones", async () => {
    await addBackup('legacy', { hoursAgo: 500 });
    await addBackup('earlier', { uid: 'uid-before', hoursAgo: 400 });
    for (const hoursAgo of [300, 200, 100, 3, 2, 1])
      await addBackup(`now-${hoursAgo}`, { uid: 'uid-now', hoursAgo });
    const before = (await readdir(dir)).sort();

    const dry = await applyRetention({
      dataDir,
      cluster: CLUSTER,
      clusterUid: 'uid-now',
      rules: { keepLast: 2, keepWithinMs: 150 * HOUR },
      dryRun: true,
    });
    expect(dry.deleted.map((b) => b.id)).toEqual(['now-200', 'now-300']);
    expect((await readdir(dir)).sort()).toEqual(before);

    const done = await applyRetention({
      dataDir,
      cluster: CLUSTER,
      clusterUid: 'uid-now',
      rules: { keepLast: 2, keepWithinMs: 150 * HOUR },
    });
    expect(done.kept.map((b) => b.id)).toEqual(['now-1', 'now-2', 'now-3', 'now-100']);
    expect(done.deleted.map((b) => b.id)).toEqual(['now-200', 'now-300']);
    const after = await readdir(dir);
    expect(after).not.toContain('now-200.db');
    expect(after).not.toContain('now-200.json');
    expect(after).toEqual(expect.arrayContaining(['legacy.db', 'earlier.db', 'earlier.json', 'now-100.db']));
  });
});

describe('the retention setting', () => {
  it('refuses a bad value when the control plane is made, before anything is read or deleted', async () => {
    await putRecord({ uid: 'uid-now' });
    for (const id of ['a', 'b', 'c']) await addBackup(id, { uid: 'uid-now', hoursAgo: 1000 });
    const before = (await readdir(dir)).sort();
    for (const backupRetention of [{ keepWithin: '7 days' }, { keepLast: 0 }]) {
      let error: unknown;
      try {
        createControlPlane({ provider, dataDir, backupRetention });
      } catch (thrown) {
        error = thrown;
      }
      expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/backupRetention\.keep(Within|Last)/);
    }
    const controlPlane = createControlPlane({ provider, dataDir });
    await expect(controlPlane.backups.prune({ keepWithin: '1 week' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect((await readdir(dir)).sort()).toEqual(before);
    // With no rule given, prune applies the retention in force: the default keeps the last 10.
    const pruned = await controlPlane.backups.prune();
    expect(pruned.retention).toEqual({ keepLast: 10, keepWithin: '7d' });
    expect(pruned.deleted).toEqual([]);
    expect((await controlPlane.backups.prune({ keepLast: 1 })).deleted.map((b) => b.id)).toEqual(['b', 'a']);
  });
});
