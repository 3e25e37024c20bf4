/**
 * Repair made safe (issue 21 part 4), on the local provider with real etcd and HAProxy: in a zone
 * outage `repair` changes nothing and names `hacp zone restore`; a replica whose processes died is
 * started again with its member (the same id), never replaced.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readJournal } from './record.js';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

async function threeZones(): Promise<World> {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  await world.controlPlane.replicate({ zone: 'local-b' });
  await world.controlPlane.replicate({ zone: 'local-c' });
  return world;
}

/** What must not change: each replica with its zone, each member with its id and role. */
async function shape(w: World) {
  const status = await w.controlPlane.status();
  return {
    replicas: status.replicas.map((r) => `${r.name}@${r.zone}`).sort(),
    members: status.etcd.members.map((m) => `${m.name}:${m.id}:${m.learner ? 'learner' : 'voter'}`).sort(),
    targets: status.endpoint.targets.map((t) => t.replica).sort(),
  };
}

describe('repair in a zone outage (issue 21 part 4)', () => {
  it('with zone local-c failed leaves the cluster exactly as it was and names zone restore; after the restore all is healthy', async () => {
    const w = await threeZones();
    const before = await shape(w);
    const [failed] = await w.provider.failZone('local-c');
    expect(failed).toBeDefined();

    const result = await w.controlPlane.repair();
    expect(result.steps).toEqual([]);
    const warning = result.warnings.find((entry) => entry.code === 'ZONE_DOWN');
    expect(warning?.message).toContain(`repair leaves ${failed} as it is`);
    expect(warning?.message).toContain('`hacp zone restore local-c`');
    // The same replicas and members (ids included), no learner, and no journal left.
    expect(await shape(w)).toEqual(before);
    expect(await readJournal(w.provider.state, 'kubernetes')).toBeUndefined();
    const status = await w.controlPlane.status();
    expect(status.replicas.find((r) => r.name === failed)?.state).toBe('zone-down');
    expect(status.operation).toBeUndefined();

    await w.provider.restoreZone('local-c');
    await expect
      .poll(async () => (await w.controlPlane.status()).replicas.every((r) => r.state === 'healthy'), {
        timeout: 30_000,
      })
      .toBe(true);
    expectMembersMatchReplicas(await w.controlPlane.status(), 3);
    expect(await shape(w)).toEqual(before);
  }, 240_000);

  it('starts a replica whose processes were killed, keeping its member id: nothing is replaced', async () => {
    const w = await threeZones();
    const before = await shape(w);
    await w.etcdctl(['put', 'hacp/before', 'kept']);
    const victim = (await w.controlPlane.status()).replicas.find((r) => r.zone === 'local-b');
    if (victim === undefined) throw new Error('no replica in local-b');
    for (const proc of await w.provider.processes(victim)) {
      if (proc.running && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
    }
    await expect
      .poll(async () => (await w.controlPlane.status()).replicas.find((r) => r.name === victim.name)?.state, {
        timeout: 10_000,
      })
      .toBe('terminated');

    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(plan.steps.map((step) => step.id)).toEqual([
      `start-instance:${victim.name}`,
      `wait-healthy:${victim.name}`,
    ]);
    const result = await w.controlPlane.repair();
    expect(result.steps.map((step) => `${step.id}:${step.status}`)).toEqual([
      `start-instance:${victim.name}:done`,
      `wait-healthy:${victim.name}:done`,
    ]);
    expect(result.backup).toBeUndefined();
    expectMembersMatchReplicas(await w.controlPlane.status(), 3);
    expect(await shape(w)).toEqual(before);
    expect(await w.etcdctl(['get', '--print-value-only', 'hacp/before'])).toBe('kept');
  }, 240_000);
});
