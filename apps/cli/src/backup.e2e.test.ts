// The backup catalogue with the built CLI and real etcd: create, list (schema-checked), prune, a
// bad retention refused with nothing deleted, and down's last backup kept and named.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, snapshotTree, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

interface Backup {
  id: string;
  path: string;
  identity: string;
  operation?: string;
  verified?: boolean;
  revision?: string;
}

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await hacp(['down', '--yes', '--cluster', 'kept'], { stateDir: stateDir.dir });
  await stateDir.remove();
});

describe('hacp backup end to end on the local provider', () => {
  it('creates, lists, prunes, refuses a bad retention, and down keeps its last backup', async () => {
    const c = clusterCli(stateDir.dir, 'kept');
    await c.ok(['up', '--zone', 'local-a']);
    await c.etcd(['put', 'kept/1', 'one']);

    const taken: string[] = [];
    for (let n = 0; n < 2; n++) {
      const run = await c.run(['backup', 'create', '--json']);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      assertEnvelope('backup-create', run.json);
      const { backup } = (run.json as { result: { backup: Backup } }).result;
      expect(backup).toMatchObject({ identity: 'current', operation: 'backup create' });
      expect(existsSync(backup.path)).toBe(true);
      taken.unshift(backup.id);
    }
    const text = await c.run(['backup', 'create']);
    expect(text.code).toBe(0);
    const [, id, path] = /^Took backup (\S+) from kept-master at revision \d+ \(.+\)\.\nPath: (\S+)\n$/.exec(
      text.stdout,
    ) ?? [undefined, undefined, undefined];
    expect(path).toBe(join(stateDir.dir, 'clusters', 'kept', 'backups', `${id}.db`));
    taken.unshift(id as string);

    const listed = await c.run(['backup', 'list', '--json']);
    expect(listed.code).toBe(0);
    assertEnvelope('backup-list', listed.json);
    const { backups } = (listed.json as { result: { backups: Backup[] } }).result;
    expect(backups.map((b) => b.id)).toEqual(taken);
    expect(backups.every((b) => b.verified === true && Number(b.revision) > 0)).toBe(true);
    const table = await c.run(['backup', 'list']);
    expect(table.stdout).toMatch(/ID +TAKEN \(UTC\) +SIZE +REVISION +TAKEN BY +VERIFIED/);
    expect(table.stdout).toContain(`${taken[0]}  `);

    // A bad retention exits 2 and deletes nothing, from a flag or from the environment.
    const before = snapshotTree(join(stateDir.dir, 'clusters', 'kept', 'backups'));
    const badFlag = await c.run(['backup', 'prune', '--keep-within', '7days', '--json']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.json).toMatchObject({ status: 2, error: { code: 'INVALID_ARGUMENT' } });
    assertEnvelope('error', badFlag.json);
    const badEnv = await c.run(['backup', 'create', '--json'], { HACP_BACKUP_KEEP_WITHIN: 'soon' });
    expect(badEnv.code).toBe(2);
    expect((badEnv.json as { error: { message: string } }).error.message).toContain(
      'HACP_BACKUP_KEEP_WITHIN',
    );
    expect(snapshotTree(join(stateDir.dir, 'clusters', 'kept', 'backups'))).toEqual(before);

    const pruned = await c.run(['backup', 'prune', '--keep-last', '1', '--json']);
    expect(pruned.code).toBe(0);
    assertEnvelope('backup-prune', pruned.json);
    const result = (pruned.json as { result: { kept: Backup[]; deleted: Backup[] } }).result;
    expect(result.kept.map((b) => b.id)).toEqual([taken[0]]);
    expect(result.deleted.map((b) => b.id)).toEqual(taken.slice(1));
    expect((await readdir(join(stateDir.dir, 'clusters', 'kept', 'backups'))).sort()).toEqual([
      `${taken[0]}.db`,
      `${taken[0]}.json`,
    ]);

    const down = await hacp(['down', '--yes', '--cluster', 'kept'], { stateDir: stateDir.dir });
    expect(down.code, down.stderr).toBe(0);
    const last = /Last etcd backup \(kept\): (\S+)/.exec(down.stdout)?.[1];
    expect(last).toBeDefined();
    expect(existsSync(last as string)).toBe(true);
    const after = await c.ok<{ backups: Backup[] }>(['backup', 'list']);
    expect(after.backups.map((b) => [b.path, b.identity, b.operation])).toEqual([
      [last, 'earlier', 'down'],
      [join(stateDir.dir, 'clusters', 'kept', 'backups', `${taken[0]}.db`), 'earlier', 'backup create'],
    ]);
  });
});
