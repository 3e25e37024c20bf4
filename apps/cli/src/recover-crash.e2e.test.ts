// recover is crash-safe like the other operations: killed with SIGKILL right after each step of its
// plan (from the survivor, and from a backup), `hacp recover --yes` run again finishes it, with the
// data its source had, and writes through the endpoint work after.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashAfterEveryStep, expectConverged, type Status } from './crash-steps.test-support.js';
import { type ClusterCli, clusterCli, hacp, killReplica, tempStateDir } from './e2e-support.js';

let stateDir: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  stateDir = await tempStateDir();
});
afterAll(async () => {
  for (const cluster of ['survive', 'restore']) {
    await hacp(['down', '--yes', '--cluster', cluster], { stateDir: stateDir.dir });
  }
  await stateDir.remove();
});

/** Kills the replica's processes by pid and deletes its etcd data, as a disk lost with its zone. */
async function lose(c: ClusterCli, replica: string): Promise<void> {
  await killReplica(c, stateDir.dir, replica);
  await rm(join(stateDir.dir, 'replicas', replica, 'root', 'etcd-data'), { recursive: true, force: true });
  const status = await c.ok<Status & { warnings: { code: string }[] }>(['status']);
  expect(status.warnings.map((warning) => warning.code)).toContain('QUORUM_LOST');
}

describe('hacp recover killed with -9 after each step', () => {
  it('from the survivor: converges when run again, with the data the survivor had', async () => {
    const c = clusterCli(stateDir.dir, 'survive');
    await c.ok(['up', '--zone', 'local-a', '--multizone']);
    await c.ok(['replicate', '--zone', 'local-b', '--name', 'survive-master-b0b']);
    await c.etcd(['put', 'survive/key', 'kept']);
    await lose(c, 'survive-master-b0b');

    const killedAfter = await crashAfterEveryStep(c, stateDir.dir, ['recover', '--yes'], {
      converged: async () => {
        const status = await expectConverged(c, 2);
        expect(status.replicas.map((r) => r.zone).sort()).toEqual(['local-a', 'local-b']);
        expect(await c.etcd(['get', '--print-value-only', 'survive/key'])).toBe('kept');
      },
      undo: () => lose(c, 'survive-master-b0b'),
      doneExit: 1,
    });
    // The steps only recover has: the survivor restarted alone, then without the flag.
    expect(killedAfter).toContain('create-instance:survive-master');
    expect(killedAfter).toContain('add-learner:survive-master-b0b');
    await c.etcd(['put', 'survive/after', 'written']);
    expect(await c.etcd(['get', '--print-value-only', 'survive/after'])).toBe('written');
  });

  it('from a backup: converges when run again, with the data of the backup', async () => {
    const c = clusterCli(stateDir.dir, 'restore');
    await c.ok(['up', '--zone', 'local-a']);
    await c.etcd(['put', 'restore/first', '1']);
    await c.ok(['backup', 'create']);
    await c.etcd(['put', 'restore/second', '2']);
    await lose(c, 'restore-master');

    const killedAfter = await crashAfterEveryStep(c, stateDir.dir, ['recover', '--yes'], {
      converged: async () => {
        await expectConverged(c, 1);
        expect(await c.etcd(['get', '--print-value-only', 'restore/first'])).toBe('1');
        expect(await c.etcd(['get', '--print-value-only', 'restore/second'])).toBe('');
      },
      undo: () => lose(c, 'restore-master'),
      doneExit: 1,
    });
    expect(killedAfter).toContain('restore-backup:restore-master');
    await c.etcd(['put', 'restore/after', '3']);
    expect(await c.etcd(['get', '--print-value-only', 'restore/after'])).toBe('3');
  });
});
