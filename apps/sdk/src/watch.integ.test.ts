// watch on the local provider with real etcd and HAProxy, with short intervals: a replica whose
// processes die is brought back within the bound; a zone that fails is left alone, with the reason,
// and after its restore all is healthy; a person's command and the watch's never run at once.
import { isHacpError } from '@hacp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockName } from './record.js';
import { expectMembersMatchReplicas, killReplicaProcesses, localWorld } from './test-support.js';
import type { WatchEvent } from './types.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World;
const stop = new AbortController();
let watching: Promise<void>;

beforeAll(async () => {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  await world.controlPlane.replicate({ zone: 'local-b' });
  await world.controlPlane.replicate({ zone: 'local-c' });
  watching = world.controlPlane.watch({
    signal: stop.signal,
    intervalMs: 500,
    limits: { unhealthyAfterMs: 60_000, backupEveryMs: 0, renewWithinDays: 0 },
  });
}, 180_000);
afterAll(async () => {
  stop.abort();
  await watching;
  await world?.cleanup();
});

const watchEvents = (since: number) =>
  world.events.slice(since).filter((event): event is WatchEvent => event.type === 'watch');
const replicaIn = async (zone: string) => {
  const found = (await world.controlPlane.status()).replicas.find((r) => r.zone === zone);
  if (found === undefined) throw new Error(`no replica in ${zone}`);
  return found;
};
const allHealthy = async () =>
  (await world.controlPlane.status()).replicas.every((r) => r.state === 'healthy');

describe('watch', () => {
  it('brings back a replica whose processes were killed, within a minute, through repair', async () => {
    const since = world.events.length;
    const victim = await replicaIn('local-b');
    await killReplicaProcesses(world, victim);
    await expect
      .poll(() => watchEvents(since).map((e) => e.action), { timeout: 60_000, interval: 500 })
      .toEqual(expect.arrayContaining(['repair', 'done']));
    await expect.poll(allHealthy, { timeout: 60_000, interval: 1000 }).toBe(true);
    const events = watchEvents(since);
    expect(events.find((e) => e.action === 'repair')?.message).toContain(`${victim.name} is terminated`);
    expect(events.some((e) => e.action === 'replace')).toBe(false);
    // Started again, not replaced: the same replicas.
    expect((await replicaIn('local-b')).name).toBe(victim.name);
  }, 150_000);

  it('leaves a failed zone alone and says why; after the restore all is healthy again', async () => {
    const before = (await world.controlPlane.status()).replicas.map((r) => r.name).sort();
    const since = world.events.length;
    await world.provider.failZone('local-c');
    await expect
      .poll(() => watchEvents(since).find((e) => e.code === 'ZONE_DOWN')?.message, { timeout: 30_000 })
      .toContain('hacp zone restore local-c');
    // A few looks later: nothing done about it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(watchEvents(since).filter((e) => ['repair', 'replace'].includes(e.action))).toEqual([]);
    expect((await world.controlPlane.status()).replicas.map((r) => r.name).sort()).toEqual(before);
    await world.provider.restoreZone('local-c');
    await expect.poll(allHealthy, { timeout: 60_000, interval: 1000 }).toBe(true);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
  }, 150_000);

  it("is refused LOCKED while a person's command runs, and a person's command is refused while the watch acts", async () => {
    // A person holds the cluster lock (as `hacp replicate` would) while a replica dies.
    const person = await world.provider.state.lock(lockName('kubernetes'), {
      holder: 'a-person',
      ttlMs: 60_000,
    });
    const since = world.events.length;
    const victim = await replicaIn('local-a');
    await killReplicaProcesses(world, victim);
    await expect
      .poll(() => watchEvents(since).find((e) => e.action === 'refused')?.code, { timeout: 30_000 })
      .toBe('LOCKED');
    await person.release();

    // Then the watch acts; the person's replicate during its repair is refused LOCKED.
    await expect
      .poll(() => watchEvents(since).filter((e) => e.action === 'repair').length, {
        timeout: 30_000,
        interval: 50,
      })
      .toBeGreaterThanOrEqual(2);
    const refused = await world.controlPlane.replicate({ zone: 'local-a' }).catch((error: unknown) => error);
    expect(isHacpError(refused, 'LOCKED')).toBe(true);
    await expect.poll(allHealthy, { timeout: 60_000, interval: 1000 }).toBe(true);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);
  }, 150_000);
});
