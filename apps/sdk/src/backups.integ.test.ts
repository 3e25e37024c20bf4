import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { verifySnapshot } from '@hacp/etcd';
import { afterEach, describe, expect, it } from 'vitest';
import { createControlPlane } from './control-plane.js';
import { readRecord } from './record.js';
import { etcdOnlyByDefault, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

const ids = (backups: readonly { id: string }[]) => backups.map((backup) => backup.id);

describe('the backup catalogue on the local provider', () => {
  it('keeps two clusters of the same name apart, and down leaves one final backup named in its result', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    const first = (await readRecord(w.provider.state, 'kubernetes'))?.value;
    expect(first?.uid).toMatch(/^[0-9a-f-]{36}$/);

    const created = await w.controlPlane.backups.create();
    expect(created.backup).toMatchObject({
      identity: 'current',
      cluster: 'kubernetes',
      clusterUid: first?.uid,
      memberName: 'kubernetes-master',
      operation: 'backup create',
    });
    expect(created.backup.etcdClusterId).toMatch(/^[1-9][0-9]*$/);
    expect(await verifySnapshot(created.backup.path)).toMatchObject({ sha256: created.backup.sha256 });
    expect((await stat(created.backup.path)).mode & 0o777).toBe(0o600);
    const sidecar = JSON.parse(await readFile(created.backup.path.replace(/\.db$/, '.json'), 'utf8'));
    expect(sidecar).toMatchObject({
      id: created.backup.id,
      clusterUid: first?.uid,
      revision: expect.any(String),
    });

    const replicated = await w.controlPlane.replicate({ zone: 'local-b' });
    expect(replicated.backup?.path).toMatch(/\/backups\/op-.*-snapshot\.db$/);

    const down = await w.controlPlane.down();
    const last = down.backup;
    expect(last?.path).toBeDefined();
    expect(await verifySnapshot(last?.path as string)).toBeDefined();

    // No cluster now: what is left is listed, all of the earlier cluster.
    const left = await w.controlPlane.backups.list();
    expect(left.clusterUid).toBeUndefined();
    expect(left.backups).toHaveLength(3);
    expect(ids(left.backups)[0]).toBe(last?.id);
    expect(left.backups.map((b) => [b.identity, b.clusterUid, b.verified])).toEqual(
      Array(3).fill(['earlier', first?.uid, true]),
    );
    expect(left.backups.map((b) => b.operation)).toEqual(['down', 'replicate', 'backup create']);

    // A new cluster of the same name is another cluster.
    await w.controlPlane.up({ zone: 'local-a' });
    const second = (await readRecord(w.provider.state, 'kubernetes'))?.value;
    expect(second?.uid).not.toBe(first?.uid);
    const again = await w.controlPlane.backups.create();
    expect(again.backup.etcdClusterId).not.toBe(created.backup.etcdClusterId);
    const mine = await w.controlPlane.backups.list();
    expect(ids(mine.backups)).toEqual([again.backup.id]);
    expect(mine.hidden).toBe(3);
    const every = await w.controlPlane.backups.list({ all: true });
    expect(every.backups.map((b) => [b.id, b.identity])).toEqual([
      [again.backup.id, 'current'],
      ...left.backups.map((b) => [b.id, 'earlier']),
    ]);
  });

  it('applies the retention in force after each new backup, and prune keeps exactly what its flags say', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a' });
    await w.controlPlane.backups.create();
    await w.controlPlane.down();
    const earlier = ids((await w.controlPlane.backups.list()).backups);
    expect(earlier).toHaveLength(2);

    const keepTwo = etcdOnlyByDefault(
      createControlPlane({
        provider: w.provider,
        dataDir: w.dataDir,
        backupRetention: { keepLast: 2 },
        timeouts: { drain: 200 },
      }),
    );
    try {
      await keepTwo.up({ zone: 'local-a' });
      const taken: string[] = [];
      for (let n = 0; n < 3; n++) {
        const { backup, pruned } = await keepTwo.backups.create();
        taken.unshift(backup.id);
        expect(ids(pruned)).toEqual(n < 2 ? [] : [taken[2]]);
        expect(ids((await keepTwo.backups.list()).backups)).toEqual(taken.slice(0, 2));
      }
      // The earlier cluster's backups are never considered.
      const all = await keepTwo.backups.list({ all: true });
      expect(ids(all.backups.filter((b) => b.identity === 'earlier'))).toEqual(earlier);

      // Everything is recent: within an hour keeps both; the last one alone keeps the newest.
      const dry = await keepTwo.backups.prune({ keepLast: 1, dryRun: true });
      expect(ids(dry.deleted)).toEqual([taken[1]]);
      expect(ids((await keepTwo.backups.list()).backups)).toEqual(taken.slice(0, 2));
      expect(ids((await keepTwo.backups.prune({ keepWithin: '1h' })).kept)).toEqual(taken.slice(0, 2));
      const pruned = await keepTwo.backups.prune({ keepLast: 1 });
      expect(ids(pruned.kept)).toEqual([taken[0]]);
      expect(ids(pruned.deleted)).toEqual([taken[1]]);
      const files = await readdir(join(w.dataDir, 'backups'));
      expect(files.filter((f) => f.startsWith(taken[1] as string))).toEqual([]);
      expect(ids((await keepTwo.backups.list({ all: true })).backups)).toEqual([taken[0], ...earlier]);
    } finally {
      await keepTwo.down().catch(() => undefined);
      await keepTwo.close();
    }
  });
});
