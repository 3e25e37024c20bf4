/**
 * Changes an operator made outside hacp (issue 19) on the local provider, with real etcd and
 * HAProxy: each made through another provider on the same state folder (an operator's script),
 * never through the control plane; `status` names it, `repair` fixes it, and `replicate` and
 * `down` work after and leave nothing in the state folder.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalProvider } from '@hacp/provider-local';
import { afterEach, describe, expect, it } from 'vitest';
import { expectMembersMatchReplicas, localWorld } from './test-support.js';

type World = Awaited<ReturnType<typeof localWorld>>;
let world: World | undefined;
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
});

const LB = { name: 'kubernetes-master', region: 'local' };
const codes = (warnings: readonly { code: string }[]) => warnings.map((warning) => warning.code);
const stepIds = (plan: { steps: readonly { id: string }[] }) => plan.steps.map((step) => step.id);

async function grown(count: number): Promise<World> {
  world = await localWorld();
  await world.controlPlane.up({ zone: 'local-a', multizone: true });
  for (const zone of ['local-b', 'local-c'].slice(0, count - 1)) await world.controlPlane.replicate({ zone });
  return world;
}

/** Another provider on the same state folder: what an operator's script would use. */
const operator = (w: World) => createLocalProvider({ stateDir: w.stateDir });

async function replicaIn(w: World, zone: string): Promise<string> {
  const found = (await w.provider.instances.list({ cluster: 'kubernetes' })).find((i) => i.zone === zone);
  if (found === undefined) throw new Error(`no replica in ${zone}`);
  return found.name;
}

async function expectConverged(w: World, count: number): Promise<void> {
  const status = await w.controlPlane.status();
  const replicas = expectMembersMatchReplicas(status, count);
  expect(status.endpoint.targets.map((t) => t.replica).sort()).toEqual(replicas);
  expect(status.endpoint.targets.every((t) => t.healthy)).toBe(true);
}

/** replicate, then down, and the state folder keeps nothing of the cluster. */
async function replicateAndDown(w: World, zone: string, count: number): Promise<void> {
  await w.controlPlane.replicate({ zone });
  await expectConverged(w, count + 1);
  await w.controlPlane.down();
  expect(await w.provider.instances.list({ cluster: 'kubernetes' })).toEqual([]);
  for (const folder of ['local/instances', 'local/networks', 'local/load-balancers', 'replicas']) {
    const left = await readdir(join(w.stateDir, folder)).catch(() => [] as string[]);
    expect({ folder, left }).toEqual({ folder, left: [] });
  }
}

describe('changes made outside hacp on the local provider (issue 19)', () => {
  it('a replica stopped by hand is started by repair, while one of a failed zone is reported so and left', async () => {
    const w = await grown(3);
    const stopped = await replicaIn(w, 'local-b');
    await operator(w).instances.stop({ name: stopped, zone: 'local-b' }, { requestId: 'operator-stop' });
    await w.provider.failZone('local-c');
    const failed = await replicaIn(w, 'local-c');
    const status = await w.controlPlane.status();
    expect(status.replicas.find((r) => r.name === stopped)?.state).toBe('stopped');
    expect(status.replicas.find((r) => r.name === failed)?.state).toBe('zone-down');
    expect(codes(status.warnings)).toEqual(expect.arrayContaining(['REPLICA_STOPPED', 'ZONE_DOWN']));
    const plan = await w.controlPlane.plan({ operation: 'repair' });
    expect(stepIds(plan)).toEqual([`start-instance:${stopped}`, `wait-healthy:${stopped}`]);
    await w.controlPlane.repair();
    const after = await w.controlPlane.status();
    expect(after.replicas.find((r) => r.name === stopped)?.state).toBe('healthy');
    expect(after.replicas.find((r) => r.name === failed)?.state).toBe('zone-down');
    await w.provider.restoreZone('local-c');
    await expect
      .poll(async () => (await w.controlPlane.status()).replicas.every((r) => r.state === 'healthy'), {
        timeout: 30_000,
      })
      .toBe(true);
    await w.controlPlane.down();
    expect(await w.provider.instances.list({ cluster: 'kubernetes' })).toEqual([]);
  }, 240_000);

  it('a backend taken out of HAProxy is added back by repair', async () => {
    const w = await grown(2);
    const name = await replicaIn(w, 'local-b');
    const lb = await w.provider.loadBalancers.get(LB);
    const targets = (lb?.targets ?? []).filter((target) => target.name !== name);
    await operator(w).loadBalancers.setTargets(LB, targets, { requestId: 'operator-untarget' });
    const status = await w.controlPlane.status();
    expect(status.warnings.find((warning) => warning.code === 'TARGET_MISSING')?.message).toContain(name);
    expect(stepIds(await w.controlPlane.plan({ operation: 'repair' }))).toEqual([`add-target:${name}`]);
    await w.controlPlane.repair();
    await expectConverged(w, 2);
    await replicateAndDown(w, 'local-c', 2);
  }, 240_000);

  it('a replica whose processes and files are gone: repair removes its member and its HAProxy backend, and replicate works again', async () => {
    const w = await grown(3);
    const name = await replicaIn(w, 'local-c');
    await operator(w).instances.delete({ name, zone: 'local-c' }, { requestId: 'operator-delete' });
    const status = await w.controlPlane.status();
    expect(codes(status.warnings)).toEqual(
      expect.arrayContaining(['INSTANCE_MISSING', 'TARGET_WITHOUT_INSTANCE']),
    );
    await w.controlPlane.repair();
    await expectConverged(w, 2);
    await replicateAndDown(w, 'local-c', 2);
  }, 300_000);
});
