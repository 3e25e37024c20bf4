// recover and backup restore with the built CLI and real etcd: a cluster with quorum is refused with
// nothing changed, a restore without --yes (and without a terminal) is refused, saying what it would
// lose, and `backup restore --yes` brings the cluster back to the backup's data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterCli, hacp, tempStateDir } from './e2e-support.js';
import { assertEnvelope } from './schemas.js';

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  await hacp(['down', '--yes', '--cluster', 'back'], { stateDir: stateDir.dir });
  await stateDir.remove();
});

interface Status {
  replicas: { name: string; zone: string; state: string }[];
}

describe('hacp recover and backup restore end to end on the local provider', () => {
  it('refuses what it must with nothing changed, and restores a chosen backup', async () => {
    const c = clusterCli(stateDir.dir, 'back');
    await c.ok(['up', '--zone', 'local-a']);
    await c.etcd(['put', 'back/first', '1']);
    const created = await c.run(['backup', 'create', '--json']);
    const id = (created.json as { result: { backup: { id: string } } }).result.backup.id;
    await c.etcd(['put', 'back/second', '2']);
    const before = await c.ok<Status>(['status']);

    const healthy = await c.run(['recover', '--json']);
    expect(healthy.code).toBe(1);
    assertEnvelope('error', healthy.json);
    expect(healthy.json).toMatchObject({ error: { code: 'CONFLICT' } });
    expect((healthy.json as { error: { message: string } }).error.message).toMatch(
      /has quorum \(1 of 1 etcd voters healthy\): there is nothing to recover/,
    );

    const unconfirmed = await c.run(['backup', 'restore', id]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('pass --yes');
    expect(unconfirmed.stderr).toContain(`restoring backup ${id} (taken `);
    const unknown = await c.run(['backup', 'restore', 'no-such-backup', '--yes', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(await c.ok<Status>(['status'])).toMatchObject({ replicas: before.replicas });
    expect(await c.etcd(['get', '--print-value-only', 'back/second'])).toBe('2');

    const restored = await c.run(['backup', 'restore', id, '--yes', '--json']);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    assertEnvelope('backup-restore', restored.json);
    expect(restored.json).toMatchObject({
      result: { operation: 'recover', replicas: [{ name: 'back-master', zone: 'local-a' }] },
    });
    expect(await c.etcd(['get', '--print-value-only', 'back/first'])).toBe('1');
    expect(await c.etcd(['get', '--print-value-only', 'back/second'])).toBe('');
    await c.etcd(['put', 'back/after', '3']);
    expect(await c.etcd(['get', '--print-value-only', 'back/after'])).toBe('3');
    const after = await c.ok<Status>(['status']);
    expect(after.replicas.map((r) => r.state)).toEqual(['healthy']);
  });
});
