import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '@hacp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
let backupId = '';
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

/** Three replicas in three zones, with `hacp/first` in a backup and `hacp/second` written after it. */
async function threeWithBackup(): Promise<World> {
  world = await localWorld();
  const w = world;
  await w.controlPlane.up({ zone: 'local-a', multizone: true });
  await w.controlPlane.replicate({ zone: 'local-b' });
  await w.controlPlane.replicate({ zone: 'local-c' });
  await w.etcdctl(['put', 'hacp/first', '1']);
  backupId = (await w.controlPlane.backups.create()).backup.id;
  await w.etcdctl(['put', 'hacp/second', '2']);
  return w;
}

/** Stops the replicas and deletes their etcd data, as a disk lost with its zone would be. */
async function lose(w: World, zones: readonly string[]): Promise<string[]> {
  const status = await w.controlPlane.status();
  const lost = status.replicas.filter((replica) => zones.includes(replica.zone));
  for (const replica of lost) {
    await w.provider.instances.stop(replica, { requestId: `lose-${replica.name}` });
    await rm(join(w.stateDir, 'replicas', replica.name, 'root', 'etcd-data'), {
      recursive: true,
      force: true,
    });
  }
  return lost.map((replica) => replica.name);
}

async function expectThreeHealthyVoters(w: World): Promise<void> {
  const status = await w.controlPlane.status();
  expectMembersMatchReplicas(status, 3);
  expect(status.replicas.map((r) => r.zone).sort()).toEqual(['local-a', 'local-b', 'local-c']);
  expect(status.endpoint.mode).toBe('load-balanced');
  expect(status.endpoint.targets.every((target) => target.healthy)).toBe(true);
}

describe('recover on the local provider', () => {
  it('brings a cluster that lost quorum back from its survivor, with all its data', async () => {
    const w = await threeWithBackup();
    const lost = await lose(w, ['local-b', 'local-c']);
    // status names the way out (no member is healthy: none can serve a linearizable read).
    const before = await w.controlPlane.status();
    expect(before.faultTolerance).toMatchObject({ voters: 3, healthy: 0 });
    const lostWarning = before.warnings.find((warning) => warning.code === 'QUORUM_LOST');
    expect(lostWarning?.message).toMatch(
      /etcd has lost quorum \(0 of 3 etcd voters are healthy, and it needs 2\)/,
    );
    expect(lostWarning?.message).toMatch(/Run `hacp repair` to start .* again.*run `hacp recover`/);
    await expect(w.controlPlane.replicate({ zone: 'local-b' })).rejects.toMatchObject({
      code: ErrorCode.QUORUM_LOST,
    });

    const plan = await w.controlPlane.plan({ operation: 'recover' });
    const loss = plan.warnings.find((warning) => warning.code === 'RECOVERY_LOSES_DATA');
    expect(loss?.message).toMatch(/^kubernetes-master's member has the most data/);
    expect(plan.steps.map((step) => step.id)).toContain('create-instance:kubernetes-master');

    const result = await w.controlPlane.recover();
    expect(result.replicas.map((r) => r.name).sort()).toEqual(['kubernetes-master', ...lost].sort());
    await expectThreeHealthyVoters(w);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/first'])).toBe('1');
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/second'])).toBe('2');
    await w.etcdctl(['put', 'hacp/after', '3']);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/after'])).toBe('3');
  }, 300_000);

  it('restores the newest backup when no member survives, and says what is lost', async () => {
    const w = await threeWithBackup();
    await lose(w, ['local-a', 'local-b', 'local-c']);

    const plan = await w.controlPlane.plan({ operation: 'recover' });
    const loss = plan.warnings.find((warning) => warning.code === 'RECOVERY_LOSES_DATA');
    expect(loss?.message).toContain(
      `No etcd member survived: the newest backup that verifies, ${backupId} (taken `,
    );
    expect(loss?.message).toMatch(
      /, revision \d+\), is restored\. Every write made after it was taken is lost\.$/,
    );
    expect(plan.steps.some((step) => step.action.kind === 'restore-backup')).toBe(true);

    await w.controlPlane.recover();
    await expectThreeHealthyVoters(w);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/first'])).toBe('1');
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/second'])).toBe('');
    await w.etcdctl(['put', 'hacp/after', '3']);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/after'])).toBe('3');
  }, 300_000);

  it('names the way out of every dead end of a single replica whose zone failed, and changes nothing', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.etcdctl(['put', 'hacp/kept', '1']);
    await w.provider.failZone('local-a');
    const zoneRestore = /run `hacp zone restore local-a`/;
    const instances = async () =>
      (await w.provider.instances.list({ cluster: 'kubernetes' })).map((i) => [
        i.name,
        i.status,
        i.createdAt,
      ]);
    const before = await instances();

    const status = await w.controlPlane.status();
    const lost = status.warnings.find((warning) => warning.code === 'QUORUM_LOST');
    expect(lost?.message).toMatch(/etcd has lost quorum \(no etcd member answers\)/);
    expect(lost?.message).toMatch(zoneRestore);
    for (const refused of [
      () => w.controlPlane.replicate({ zone: 'local-b' }),
      () => w.controlPlane.replace({ name: 'kubernetes-master' }),
    ]) {
      const error = await refused().catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: ErrorCode.QUORUM_LOST });
      expect((error as { actions: string[] }).actions[0]).toMatch(zoneRestore);
    }
    const repair = await w.controlPlane.plan({ operation: 'repair' });
    expect(repair.steps).toEqual([]);
    expect(repair.warnings.map((warning) => warning.message).join(' ')).toMatch(/comes back with the zone/);
    const up = await w.controlPlane.up({ zone: 'local-a' }).catch((thrown: unknown) => thrown);
    expect(up).toMatchObject({ code: ErrorCode.ALREADY_EXISTS });
    expect((up as { actions: string[] }).actions.join(' ')).toMatch(
      /`hacp status` says how to bring it back/,
    );
    expect(await w.controlPlane.recover().catch((thrown: unknown) => thrown)).toMatchObject({
      code: ErrorCode.CONFLICT,
      actions: [expect.stringMatching(/^Run `hacp zone restore local-a`/), expect.any(String)],
    });

    expect(await instances()).toEqual(before);
    await w.provider.restoreZone('local-a');
    expectMembersMatchReplicas(await w.controlPlane.status(), 1);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/kept'])).toBe('1');
  }, 120_000);

  it('refuses a cluster that has quorum, and one whose lost replicas are in a failed zone, changing nothing', async () => {
    world = await localWorld();
    const w = world;
    await w.controlPlane.up({ zone: 'local-a', multizone: true });
    await w.controlPlane.replicate({ zone: 'local-b' });
    await w.controlPlane.replicate({ zone: 'local-c' });
    const before = (await w.provider.instances.list({ cluster: 'kubernetes' })).map((i) => [
      i.name,
      i.createdAt,
    ]);

    await expect(w.controlPlane.recover()).rejects.toMatchObject({
      code: ErrorCode.CONFLICT,
      message: expect.stringMatching(
        /has quorum \(3 of 3 etcd voters healthy\): there is nothing to recover/,
      ),
    });
    await w.provider.failZone('local-b');
    await w.provider.failZone('local-c');
    const refused = await w.controlPlane.recover().catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: ErrorCode.CONFLICT });
    expect((refused as { actions: string[] }).actions[0]).toMatch(/hacp zone restore local-b/);

    await w.provider.restoreZone('local-b');
    await w.provider.restoreZone('local-c');
    const after = (await w.provider.instances.list({ cluster: 'kubernetes' })).map((i) => [
      i.name,
      i.createdAt,
    ]);
    expect(after).toEqual(before);
    expectMembersMatchReplicas(await w.controlPlane.status(), 3);
  }, 240_000);
});
