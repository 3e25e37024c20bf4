import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, type HacpError, isHacpError } from '@hacp/core';
import { freePorts } from '@hacp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMembershipClient } from './client.js';
import { verifySnapshot } from './snapshot.js';
import { startTestCluster, type TestCluster, testPki, writeKeys } from './test-support.js';

async function rejection(promise: Promise<unknown>): Promise<HacpError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isHacpError(error)) throw new Error(`expected a HacpError, got ${String(error)}`);
  return error;
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('snapshots and disaster recovery', () => {
  let test: TestCluster;
  let folder: string;
  let file: string;
  beforeAll(async () => {
    test = await startTestCluster(3);
    await writeKeys(test.cluster, 'kept', 100);
    folder = join(test.cluster.dir, 'backups');
    file = join(folder, 'before-change.db');
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('streams a verified snapshot to a 0600 file in a 0700 folder', async () => {
    const taken = await test.etcd.snapshot(file);
    expect(taken.file).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    expect(taken.sizeBytes).toBe((await stat(file)).size);
    expect(taken.sha256).toBe(await sha256(file));
    expect(Number(taken.revision)).toBeGreaterThanOrEqual(100);
    expect((await test.etcd.members()).map((member) => member.id)).toContain(taken.memberId);
    expect(taken.clusterId).toMatch(/^[1-9][0-9]*$/);
    expect(await verifySnapshot(file)).toEqual({ sizeBytes: taken.sizeBytes, sha256: taken.sha256 });
    // No temporary file is left beside it.
    expect(await readdir(folder)).toEqual(['before-change.db']);
  });

  it('never overwrites an existing snapshot', async () => {
    const digest = await sha256(file);
    const error = await rejection(test.etcd.snapshot(file));
    expect(error.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(await sha256(file)).toBe(digest);
    expect(await readdir(folder)).toEqual(['before-change.db']);
  });

  it('finds an altered or truncated snapshot: STATE_CORRUPT', async () => {
    const altered = join(folder, 'altered.db');
    await copyFile(file, altered);
    const bytes = await readFile(altered);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0xff;
    await writeFile(altered, bytes);
    expect((await rejection(verifySnapshot(altered))).code).toBe(ErrorCode.STATE_CORRUPT);

    const truncated = join(folder, 'truncated.db');
    await copyFile(file, truncated);
    await truncate(truncated, (await stat(truncated)).size - 100);
    const error = await rejection(verifySnapshot(truncated));
    expect(error.code).toBe(ErrorCode.STATE_CORRUPT);
    expect(error.message).toContain('truncated.db');

    const missing = await rejection(verifySnapshot(join(folder, 'missing.db')));
    expect(missing.code).toBe(ErrorCode.NOT_FOUND);
  });

  it('refuses to restore into a data dir that holds anything, or from a damaged snapshot', async () => {
    const occupied = join(test.cluster.dir, 'occupied');
    await mkdir(occupied, { recursive: true });
    await writeFile(join(occupied, 'keep-me'), 'precious');
    const options = { name: 'restored', peerUrl: 'https://127.0.0.1:2380', token: 'hacp-restored-test' };
    const error = await rejection(test.etcd.restoreSingleMember(file, occupied, options));
    expect(error.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(await readFile(join(occupied, 'keep-me'), 'utf8')).toBe('precious');

    const target = join(test.cluster.dir, 'never-created');
    const damaged = await rejection(
      test.etcd.restoreSingleMember(join(folder, 'truncated.db'), target, options),
    );
    expect(damaged.code).toBe(ErrorCode.STATE_CORRUPT);
    await expect(stat(target)).rejects.toThrow();
  });

  it('restores into a new one-member cluster that serves the data', async () => {
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const peerUrl = `https://127.0.0.1:${peerPort}`;
    // The testkit puts a spawned member's data at <dir>/<name>/data: restore there, then start it.
    const dataDir = join(test.cluster.dir, 'restored', 'data');
    const restored = await test.etcd.restoreSingleMember(file, dataDir, {
      name: 'restored',
      peerUrl,
      token: 'hacp-restored-test',
    });
    expect(restored).toMatchObject({ state: 'new', initialCluster: `restored=${peerUrl}` });
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    await test.cluster.spawnMember({
      name: 'restored',
      initialCluster: [restored.initialCluster],
      state: 'new',
      clientPort,
      peerPort,
    });
    const pki = await testPki();
    const recovered = createMembershipClient({
      endpoints: [`https://127.0.0.1:${clientPort}`],
      tls: { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem },
    });
    try {
      const members = await waitForMembers(recovered);
      expect(members).toHaveLength(1);
      expect(members[0]).toMatchObject({ name: 'restored', peerUrls: [peerUrl], learner: false });
      // A new cluster: none of the old member ids.
      const oldIds = (await test.etcd.members()).map((member) => member.id);
      expect(oldIds).not.toContain(members[0]?.id);
      const client = test.cluster.client({ members: ['restored'] });
      expect(await client.getAll().prefix('kept/').count()).toBe(100);
      expect(await client.get('kept/99').string()).toBe('value-99');
      // Its snapshots carry its own cluster ID, not the one the snapshot was taken from.
      const original = await test.etcd.snapshot(join(folder, 'original-again.db'));
      const fromRestored = await recovered.snapshot(join(folder, 'from-restored.db'));
      expect(fromRestored.clusterId).not.toBe(original.clusterId);
    } finally {
      recovered.close();
    }
  });
});

async function waitForMembers(client: ReturnType<typeof createMembershipClient>) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await client.members();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
