// watch with real etcd and HAProxy: a place whose replica keeps failing (its etcd frozen with
// SIGSTOP, a hung host: the instance runs, the member does not answer) is replaced once it has been
// unhealthy for --unhealthy-after, and once --max-retries replacements failed too, left alone with a
// RETRIES_EXHAUSTED event; thawed, it is healthy again and the watch says nothing more about it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';
import type { WatchEvent } from './types.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World;
const stop = new AbortController();
let watching: Promise<void> | undefined;
const frozen = new Set<number>();

beforeAll(async () => {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  await world.controlPlane.replicate({ zone: 'local-b' });
  await world.controlPlane.replicate({ zone: 'local-c' });
}, 180_000);
/** Thaws every process the test froze (those deleted with their replica are gone already). */
function thaw(): void {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone with its replica
    }
  }
  frozen.clear();
}

afterAll(async () => {
  stop.abort();
  await watching;
  thaw();
  await world?.cleanup();
});

const watchEvents = () => world.events.filter((event): event is WatchEvent => event.type === 'watch');

/** Freezes the etcd of the replica in `zone` (SIGSTOP by its pid); its name. */
async function freezeIn(zone: string): Promise<string> {
  const replica = (await world.controlPlane.status()).replicas.find((r) => r.zone === zone);
  if (replica === undefined) throw new Error(`no replica in ${zone}`);
  const etcd = (await world.provider.processes(replica)).find((p) => p.name === 'etcd');
  if (etcd?.pid === undefined) throw new Error(`${replica.name} runs no etcd`);
  process.kill(etcd.pid, 'SIGSTOP');
  frozen.add(etcd.pid);
  return replica.name;
}

describe('watch and a place that keeps failing', () => {
  it('replaces it --max-retries times, then leaves it with RETRIES_EXHAUSTED', async () => {
    watching = world.controlPlane.watch({
      signal: stop.signal,
      intervalMs: 500,
      limits: {
        unhealthyAfterMs: 3000,
        maxRetries: 1,
        retryPeriodMs: 1000,
        backupEveryMs: 0,
        renewWithinDays: 0,
      },
    });
    const first = await freezeIn('local-c');
    await expect
      .poll(() => watchEvents().filter((e) => e.action === 'done').length, {
        timeout: 120_000,
        interval: 500,
      })
      .toBe(1);
    const replaced = watchEvents().find((e) => e.action === 'replace');
    expect(replaced?.replica).toBe(first);
    // Its disk survived the hang: replace migrates its member onto a new instance of the same name
    // (or, were the disk gone, a new replica takes its place); either way three healthy voters.
    await expect
      .poll(async () => (await world.controlPlane.status()).replicas.every((r) => r.state === 'healthy'), {
        timeout: 60_000,
        interval: 1000,
      })
      .toBe(true);
    expectMembersMatchReplicas(await world.controlPlane.status(), 3);

    // Its successor fails the same way: one replacement was the limit.
    const second = await freezeIn('local-c');
    await expect
      .poll(() => watchEvents().find((e) => e.code === 'RETRIES_EXHAUSTED')?.message, { timeout: 60_000 })
      .toContain(`${second}'s place was replaced 1 time and is unhealthy again: the watch leaves it`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(watchEvents().filter((e) => e.action === 'replace')).toHaveLength(1);
    expect((await world.controlPlane.status()).replicas.some((r) => r.name === second)).toBe(true);

    thaw();
    await expect
      .poll(async () => (await world.controlPlane.status()).replicas.every((r) => r.state === 'healthy'), {
        timeout: 60_000,
        interval: 1000,
      })
      .toBe(true);
  }, 300_000);
});
